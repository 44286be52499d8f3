#include "shoal/trace.hpp"

#include "core/trace_flows.hpp"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace shoal {

namespace {

constexpr char magic[8] = {'S', 'H', 'O', 'A', 'L', 'T', 'R', 'C'};
constexpr std::uint32_t version = 4;                   // what encode_trace writes
constexpr std::uint32_t version_no_message_types = 3;  // still read: no long handlers
// Version 2 (still read): worker lanes only.
constexpr std::uint32_t version_no_stats = 1;   // still read: no statistics section either
constexpr std::uint32_t max_threads = 4096;
constexpr std::uint64_t max_names = 1u << 24;
constexpr std::uint32_t max_name_length = 4096;
constexpr std::uint32_t max_lane_name_length = 256;
constexpr std::uint64_t max_events = 1u << 28;
constexpr std::size_t event_size = 48;
constexpr int max_stats_depth = 64;  // SystemStats::to_json() nests 4 deep

// -- encoding ----------------------------------------------------------------------------

template <class T>
void put(std::string& out, T v) {
  static_assert(std::endian::native == std::endian::little, "the format is little-endian");
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

// -- decoding ----------------------------------------------------------------------------

/// Reads the file front to back; every read names its offset on failure.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}

  template <class T>
  T get(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string_view bytes(std::size_t n, const char* what) {
    need(n, what);
    auto s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::size_t pos() const noexcept { return pos_; }
  std::size_t left() const noexcept { return b_.size() - pos_; }
  [[noreturn]] void fail(std::size_t at, const std::string& what) const {
    throw TraceFileError(at, what);
  }

 private:
  void need(std::size_t n, const char* what) const {
    if (left() < n) {
      fail(pos_, std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes, " +
                     std::to_string(left()) + " left");
    }
  }
  std::string_view b_;
  std::size_t pos_ = 0;
};

/// The statistics section: its length, then a JSON object. Every error
/// names the section's offset (where its length is).
std::string read_stats(Reader& r) {
  const std::size_t at = r.pos();
  const auto n = r.get<std::uint64_t>("the statistics length");
  if (n > max_trace_stats_bytes) {
    r.fail(at, "statistics length " + std::to_string(n) + " > 64 MiB");
  }
  if (n > r.left()) {
    r.fail(at, "statistics length " + std::to_string(n) + " exceeds the " +
                   std::to_string(r.left()) + " bytes left");
  }
  std::string s(r.bytes(n, "the statistics"));
  if (s.empty()) return s;
  // The parser keeps its own stack, but dumping (the report does) recurses:
  // the depth limit keeps a hostile file from overflowing the stack there.
  const auto depth_limit = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > max_stats_depth) r.fail(at, "statistics nested deeper than 64");
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(s, depth_limit);
  } catch (const nlohmann::json::parse_error& e) {
    r.fail(at, "statistics are not JSON (at their byte " + std::to_string(e.byte) + ")");
  }
  if (!j.is_object()) r.fail(at, "statistics are not a JSON object");
  return s;
}

}  // namespace

TraceFileError::TraceFileError(std::uint64_t offset, const std::string& what)
    : std::runtime_error("trace file, offset " + std::to_string(offset) + ": " + what),
      offset_(offset) {}

std::uint64_t Trace::first_tick() const noexcept {
  std::uint64_t t = std::numeric_limits<std::uint64_t>::max();
  for (const auto& w : lanes) {
    for (const auto& e : w) t = std::min(t, e.ts);
  }
  return t == std::numeric_limits<std::uint64_t>::max() ? 0 : t;
}

std::string Trace::actor_name(std::uint64_t id) const {
  if (auto it = names.find(id); it != names.end()) return it->second;
  return "#" + std::to_string(id);
}

std::string Trace::message_type(std::uint64_t i) const {
  return i < message_types.size() ? message_types[i] : std::string("?");
}

std::string Trace::lane_name(std::size_t lane) const {
  const std::size_t w = worker_lanes();
  if (lane < w) return "worker " + std::to_string(lane);
  return guest_names[lane - w];
}

std::string encode_trace(const Trace& t) {
  if (t.stats_json.size() > max_trace_stats_bytes) {
    throw std::length_error("trace statistics of " + std::to_string(t.stats_json.size()) +
                            " bytes > 64 MiB");
  }
  std::string out;
  out.append(magic, sizeof magic);
  put<std::uint32_t>(out, version);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(t.lanes.size()));
  put<double>(out, t.ns_per_tick);
  const std::size_t w = t.worker_lanes();
  put<std::uint32_t>(out, static_cast<std::uint32_t>(w));
  for (std::size_t k = 0; w + k < t.lanes.size(); ++k) {
    const std::string& name = t.guest_names[k];
    const std::size_t n = std::min<std::size_t>(name.size(), max_lane_name_length);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(n));
    out.append(name.data(), n);
  }
  put<std::uint64_t>(out, t.names.size());
  for (const auto& [id, name] : t.names) {
    const std::size_t n = std::min<std::size_t>(name.size(), max_name_length);
    put<std::uint64_t>(out, id);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(n));
    out.append(name.data(), n);
  }
  put<std::uint64_t>(out, t.message_types.size());
  for (const std::string& name : t.message_types) {
    const std::size_t n = std::min<std::size_t>(name.size(), max_name_length);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(n));
    out.append(name.data(), n);
  }
  for (const auto& w : t.lanes) {
    put<std::uint64_t>(out, w.size());
    for (const TraceEvent& e : w) {
      put<std::uint64_t>(out, e.ts);
      put<std::uint64_t>(out, std::uint64_t{e.dur} |
                                  std::uint64_t{static_cast<std::uint8_t>(e.kind)} << 32 |
                                  std::uint64_t{e.x & 0xffffff} << 40);
      put<std::uint64_t>(out, e.a);
      put<std::uint64_t>(out, e.b);
      put<std::uint64_t>(out, e.c);
      put<std::uint64_t>(out, e.d);
    }
  }
  put<std::uint64_t>(out, t.stats_json.size());
  out += t.stats_json;
  return out;
}

Trace decode_trace(std::string_view bytes) {
  Reader r(bytes);
  Trace t;
  if (r.bytes(sizeof magic, "the magic") != std::string_view(magic, sizeof magic)) {
    r.fail(0, "not a shoal trace (no SHOALTRC magic)");
  }
  const auto v = r.get<std::uint32_t>("the version");
  if (v < version_no_stats || v > version) {
    r.fail(8, "unsupported version " + std::to_string(v) + " (this reads 1 to 4)");
  }
  const auto threads = r.get<std::uint32_t>("the lane count");
  if (threads > max_threads) r.fail(12, "lane count " + std::to_string(threads) + " > 4096");
  t.ns_per_tick = r.get<double>("ns per tick");
  if (!(t.ns_per_tick > 0 && t.ns_per_tick < 1e6)) {
    r.fail(16, "ns per tick out of range");
  }
  if (v >= version_no_message_types) {
    const auto workers = r.get<std::uint32_t>("the worker lane count");
    if (workers > threads) {
      r.fail(24, "worker lane count " + std::to_string(workers) + " > lane count " +
                     std::to_string(threads));
    }
    for (std::uint32_t k = workers; k < threads; ++k) {
      const std::size_t len_at = r.pos();
      const auto len = r.get<std::uint32_t>("a lane's name length");
      if (len > max_lane_name_length) {
        r.fail(len_at, "lane name length " + std::to_string(len) + " > 256");
      }
      t.guest_names.emplace_back(r.bytes(len, "a lane's name"));
    }
  }
  const std::size_t names_at = r.pos();
  const auto names = r.get<std::uint64_t>("the name count");
  if (names > max_names) r.fail(names_at, "name count " + std::to_string(names) + " too large");
  for (std::uint64_t i = 0; i < names; ++i) {
    const auto id = r.get<std::uint64_t>("a name's actor id");
    const std::size_t len_at = r.pos();
    const auto len = r.get<std::uint32_t>("a name's length");
    if (len > max_name_length) r.fail(len_at, "name length " + std::to_string(len) + " > 4096");
    t.names.emplace(id, std::string(r.bytes(len, "a name")));
  }
  if (v >= version) {
    const std::size_t types_at = r.pos();
    const auto types = r.get<std::uint64_t>("the message type count");
    if (types > max_names) {
      r.fail(types_at, "message type count " + std::to_string(types) + " too large");
    }
    for (std::uint64_t i = 0; i < types; ++i) {
      const std::size_t len_at = r.pos();
      const auto len = r.get<std::uint32_t>("a message type's length");
      if (len > max_name_length) {
        r.fail(len_at, "message type length " + std::to_string(len) + " > 4096");
      }
      t.message_types.emplace_back(r.bytes(len, "a message type"));
    }
  }
  t.lanes.resize(threads);
  for (auto& w : t.lanes) {
    const std::size_t count_at = r.pos();
    const auto n = r.get<std::uint64_t>("an event count");
    if (n > max_events || n * event_size > r.left()) {
      r.fail(count_at, "event count " + std::to_string(n) + " exceeds the " +
                           std::to_string(r.left()) + " bytes left");
    }
    w.reserve(n);
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::size_t at = r.pos();
      TraceEvent e;
      e.ts = r.get<std::uint64_t>("an event");
      const auto w1 = r.get<std::uint64_t>("an event");
      e.dur = static_cast<std::uint32_t>(w1);
      const auto kind = static_cast<std::uint8_t>(w1 >> 32);
      if (kind == 0 || kind > trace_kind_max ||
          (v < version && kind == static_cast<std::uint8_t>(TraceKind::long_handler))) {
        r.fail(at, "unknown event kind " + std::to_string(kind));
      }
      e.kind = static_cast<TraceKind>(kind);
      e.x = static_cast<std::uint32_t>(w1 >> 40);
      e.a = r.get<std::uint64_t>("an event");
      e.b = r.get<std::uint64_t>("an event");
      e.c = r.get<std::uint64_t>("an event");
      e.d = r.get<std::uint64_t>("an event");
      w.push_back(e);
    }
  }
  if (v != version_no_stats) t.stats_json = read_stats(r);
  if (r.left() != 0) r.fail(r.pos(), std::to_string(r.left()) + " stray bytes after the end");
  return t;
}

void save_trace(const Trace& t, const std::string& path) {
  const std::string bytes = encode_trace(t);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write trace file " + path);
}

Trace load_trace(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open trace file " + path);
  std::ostringstream s;
  s << f.rdbuf();
  return decode_trace(s.str());
}

// -- Chrome trace-event JSON ------------------------------------------------------------

namespace {

class ChromeWriter {
 public:
  explicit ChromeWriter(const Trace& t) : t_(t), t0_(t.first_tick()) {}

  std::string run() {
    out_ = "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
    meta("process_name", 0, "\"shoal\"");
    for (unsigned w = 0; w < t_.lanes.size(); ++w) {
      meta("thread_name", w, quote(t_.lane_name(w)));
      meta("thread_sort_index", w, std::to_string(w), "sort_index");
    }
    for (unsigned w = 0; w < t_.lanes.size(); ++w) {
      for (const TraceEvent& e : t_.lanes[w]) event(w, e);
    }
    std::uint64_t next_id = 1;
    for (const MatchedFlow& f : match_flows(t_)) {
      const std::string id = std::to_string(next_id++);
      item("{\"ph\":\"s\",\"cat\":\"message\",\"name\":\"message\",\"id\":" + id +
           ",\"pid\":1,\"tid\":" + std::to_string(f.from_worker) + ",\"ts\":" + us(f.from_ts) +
           "}");
      item("{\"ph\":\"f\",\"bp\":\"e\",\"cat\":\"message\",\"name\":\"message\",\"id\":" + id +
           ",\"pid\":1,\"tid\":" + std::to_string(f.to_worker) + ",\"ts\":" + us(f.to_ts) + "}");
    }
    out_ += "\n]}\n";
    return std::move(out_);
  }

 private:
  void event(unsigned w, const TraceEvent& e) {
    const std::string tid = std::to_string(w);
    switch (e.kind) {
      case TraceKind::run: {
        item("{\"ph\":\"X\",\"cat\":\"run\",\"name\":" + quote(t_.actor_name(e.a)) +
             ",\"pid\":1,\"tid\":" + tid + ",\"ts\":" + us(e.ts) + ",\"dur\":" + dur(e.dur) +
             ",\"args\":{\"actor\":" + std::to_string(e.a) +
             ",\"messages\":" + std::to_string(e.b & 0xffffffff) +
             ",\"system_messages\":" + std::to_string(e.b >> 32) + "}}");
        break;
      }
      case TraceKind::flow_in:
      case TraceKind::flow_out:
        break;  // drawn as arrows, from match_flows
      case TraceKind::scheduled:
        item("{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"schedule\",\"name\":" +
             quote("scheduled " + t_.actor_name(e.a)) + ",\"pid\":1,\"tid\":" + tid +
             ",\"ts\":" + us(e.ts) + ",\"args\":{\"actor\":" + std::to_string(e.a) +
             ",\"by\":" + std::to_string(e.b) + ",\"where\":" + std::to_string(e.x) + "}}");
        break;
      case TraceKind::steal:
        item("{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"steal\",\"name\":" +
             quote(std::string(e.x != 0 ? "stole from worker " : "found nothing at worker ") +
                   std::to_string(e.a)) +
             ",\"pid\":1,\"tid\":" + tid + ",\"ts\":" + us(e.ts) + ",\"args\":{\"victim\":" +
             std::to_string(e.a) + ",\"won\":" + (e.x != 0 ? "true" : "false") + "}}");
        break;
      case TraceKind::park:
        item("{\"ph\":\"X\",\"cat\":\"park\",\"name\":\"parked\",\"pid\":1,\"tid\":" + tid +
             ",\"ts\":" + us(e.ts) + ",\"dur\":" + dur(e.dur) +
             ",\"args\":{\"woken_for_work\":" + (e.x != 0 ? "true" : "false") + "}}");
        break;
      case TraceKind::remote_in:
      case TraceKind::remote_out: {
        const bool in = e.kind == TraceKind::remote_in;
        item(std::string("{\"ph\":\"X\",\"cat\":\"remote\",\"name\":") +
             (in ? "\"received\"" : "\"sent\"") + ",\"pid\":1,\"tid\":" + tid +
             ",\"ts\":" + us(e.ts) + ",\"dur\":" + dur(e.dur) +
             ",\"args\":{\"peer_incarnation\":" + std::to_string(e.a) +
             ",\"messages\":" + std::to_string(e.b) + ",\"bytes\":" + std::to_string(e.c) + "}}");
        break;
      }
      case TraceKind::long_handler:
        item("{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"long_handler\",\"name\":" +
             quote("long handler: " + t_.actor_name(e.a) + " on " + t_.message_type(e.b)) +
             ",\"pid\":1,\"tid\":" + tid + ",\"ts\":" + us(e.ts) + ",\"args\":{\"actor\":" +
             std::to_string(e.a) + ",\"message_type\":" + quote(t_.message_type(e.b)) +
             ",\"at_least_us\":" + num(static_cast<double>(e.c) / 1e3) + "}}");
        break;
      case TraceKind::actor_type:
        break;  // never in a Trace: ActorSystem::trace() turns it into a name
    }
  }

  void meta(const char* what, unsigned tid, const std::string& value, const char* key = "name") {
    item(std::string("{\"ph\":\"M\",\"name\":\"") + what + "\",\"pid\":1,\"tid\":" +
         std::to_string(tid) + ",\"args\":{\"" + key + "\":" + value + "}}");
  }
  void item(const std::string& s) {
    if (!first_) out_ += ",\n";
    first_ = false;
    out_ += s;
  }
  std::string us(std::uint64_t tick) const {
    return num(static_cast<double>(tick - t0_) * t_.ns_per_tick / 1e3);
  }
  std::string dur(std::uint32_t ticks) const {
    return num(static_cast<double>(ticks) * t_.ns_per_tick / 1e3);
  }
  static std::string num(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", v);
    return b;
  }
  // Invalid UTF-8 in a name (a corrupt file) becomes U+FFFD, not an error.
  static std::string quote(const std::string& s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  const Trace& t_;
  const std::uint64_t t0_;
  std::string out_;
  bool first_ = true;
};

}  // namespace

std::string to_chrome_json(const Trace& t) { return ChromeWriter(t).run(); }

}  // namespace shoal
