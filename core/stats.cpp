#include "shoal/stats.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/detail/stats_snapshot.hpp"

namespace shoal {

// -- taking snapshots ------------------------------------------------------------------

HistogramSnapshot BatchSizes::snapshot() const {
  std::vector<std::uint64_t> counts(Histogram::bucket_count);
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < Histogram::bucket_count; ++i) {
    // relaxed: a statistic; see record().
    counts[i] = counts_[i].load(std::memory_order_relaxed);
    if (i < exact_below) sum += i * counts[i];
  }
  return HistogramSnapshot::from_buckets(std::move(counts), sum + large_sum_.get());
}

std::uint64_t BatchSizes::runs() const noexcept {
  std::uint64_t n = 0;
  // relaxed: a statistic; see record().
  for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
  return n;
}

WorkerStats detail::snapshot_of(const WorkerCounters& c, unsigned index, std::uint64_t now,
                                double ns_per_tick) {
  WorkerStats s;
  s.index = index;
  s.batch_sizes = c.batch_sizes.snapshot();
  s.messages = s.batch_sizes.sum();
  s.runs = s.batch_sizes.count();
  s.system_messages = c.system_messages.get();
  s.steals_tried = c.steals_tried.get();
  s.steals_won = c.steals_won.get();
  s.parks = c.parks.get();
  s.wakeups = c.wakeups.get();
  s.held_reruns = c.held_reruns.get();
  s.stalls_given_up = c.stalls_given_up.get();
  // The current idle period counts too (a worker asleep since it started
  // has finished none). The two reads are not one snapshot: around the end
  // of a period the sum may miss that period for a moment.
  const std::uint64_t since = c.idle_since.get();
  const std::uint64_t idle = c.idle_ticks.get() + (since != 0 && now > since ? now - since : 0);
  const std::uint64_t up = now > c.start_tick ? now - c.start_tick : 0;
  s.idle_ns = static_cast<double>(std::min(idle, up)) * ns_per_tick;
  s.busy_ns = static_cast<double>(up - std::min(idle, up)) * ns_per_tick;
  return s;
}

ActorStatsSnapshot detail::snapshot_of(const ActorStats& a, std::uint64_t id, std::string name,
                                       std::uint64_t now, double ns_per_tick) {
  ActorStatsSnapshot s;
  s.id = id;
  s.name = std::move(name);
  s.messages = a.dequeued();
  const std::uint64_t in = a.enqueued();
  s.depth = in > s.messages ? in - s.messages : 0;
  s.depth_high_water = a.depth_high_water();
  if (const std::uint64_t oldest = a.oldest_stamp(); oldest != 0 && now > oldest) {
    s.oldest_message_age_ns = static_cast<double>(now - oldest) * ns_per_tick;
  }
  s.queue_wait_ns = a.queue_wait.snapshot().summary(ns_per_tick);
  s.handler_ns = a.handler.snapshot().summary(ns_per_tick);
  return s;
}

// -- summaries ---------------------------------------------------------------------------

std::uint64_t SystemStats::messages() const noexcept {
  std::uint64_t n = 0;
  for (const auto& w : workers) n += w.messages;
  for (const auto& g : guests) n += g.messages;
  return n;
}

HistogramSnapshot SystemStats::batch_sizes() const {
  HistogramSnapshot all;
  for (const auto& w : workers) all.merge(w.batch_sizes);
  for (const auto& g : guests) all.merge(g.batch_sizes);
  return all;
}

// -- rendering ---------------------------------------------------------------------------

namespace {

std::string format(const char* fmt, auto... args) {
  char buf[256];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

/// 1234 → "1.23 µs"-style: three significant figures with a unit.
std::string duration(double ns) {
  if (ns < 1e3) return format("%.0f ns", ns);
  if (ns < 1e6) return format("%.3g us", ns / 1e3);
  if (ns < 1e9) return format("%.3g ms", ns / 1e6);
  return format("%.3g s", ns / 1e9);
}

nlohmann::json summary_json(const HistogramSummary& h) {
  return {{"count", h.count}, {"min", h.min},   {"mean", h.mean}, {"p50", h.p50},
          {"p90", h.p90},     {"p99", h.p99},   {"p999", h.p999}, {"max", h.max}};
}

}  // namespace

std::string SystemStats::to_text() const {
  std::string out = format("uptime %s, %" PRIu64 " messages, %" PRIu64 " dead letters\n",
                           duration(uptime_ns).c_str(), messages(), dead_letters);
  out += format("%-6s %12s %10s %8s %8s %10s %8s %8s %6s %7s %10s %6s\n", "worker", "messages",
                "runs", "batch50", "batch99", "steals", "parks", "wakeups", "busy%", "system",
                "held", "stalls");
  for (const auto& w : workers) {
    const double total = w.busy_ns + w.idle_ns;
    out +=
        format("%-6u %12" PRIu64 " %10" PRIu64 " %8" PRIu64 " %8" PRIu64 " %4" PRIu64 "/%-5" PRIu64
               " %8" PRIu64 " %8" PRIu64 " %5.1f%% %7" PRIu64 " %10" PRIu64 " %6" PRIu64 "\n",
               w.index, w.messages, w.runs, w.batch_sizes.value_at_percentile(50),
               w.batch_sizes.value_at_percentile(99), w.steals_won, w.steals_tried, w.parks,
               w.wakeups, total > 0 ? 100.0 * w.busy_ns / total : 0.0, w.system_messages,
               w.held_reruns, w.stalls_given_up);
  }
  for (const auto& g : guests) {
    out += format("%-6s %12" PRIu64 " %10" PRIu64 " %8" PRIu64 " %8" PRIu64
                  " %10s %8s %8s %6s %7" PRIu64 " %10s %6s\n",
                  g.name.c_str(), g.messages, g.runs, g.batch_sizes.value_at_percentile(50),
                  g.batch_sizes.value_at_percentile(99), "-", "-", "-", "-", g.system_messages, "-",
                  "-");
  }
  if (actors.empty()) return out;
  out += format("%-24s %10s %7s %7s %10s %10s %10s %10s %10s %10s\n", "actor", "messages", "depth",
                "max", "oldest", "wait p50", "wait p99", "wait max", "run p50", "run p99");
  for (const auto& a : actors) {
    std::string who = a.name.empty() ? format("#%" PRIu64, a.id) : a.name;
    out += format("%-24s %10" PRIu64 " %7" PRIu64 " %7" PRIu64 " %10s %10s %10s %10s %10s %10s\n",
                  who.c_str(), a.messages, a.depth, a.depth_high_water,
                  duration(a.oldest_message_age_ns).c_str(), duration(a.queue_wait_ns.p50).c_str(),
                  duration(a.queue_wait_ns.p99).c_str(), duration(a.queue_wait_ns.max).c_str(),
                  duration(a.handler_ns.p50).c_str(), duration(a.handler_ns.p99).c_str());
  }
  return out;
}

std::string SystemStats::to_json() const {
  nlohmann::json j;
  j["uptime_ns"] = uptime_ns;
  j["messages"] = messages();
  j["dead_letters"] = dead_letters;
  j["workers"] = nlohmann::json::array();
  for (const auto& w : workers) {
    const HistogramSummary b = w.batch_sizes.summary();
    j["workers"].push_back({{"index", w.index},
                            {"messages", w.messages},
                            {"system_messages", w.system_messages},
                            {"runs", w.runs},
                            {"steals_tried", w.steals_tried},
                            {"steals_won", w.steals_won},
                            {"parks", w.parks},
                            {"wakeups", w.wakeups},
                            {"held_reruns", w.held_reruns},
                            {"stalls_given_up", w.stalls_given_up},
                            {"busy_ns", w.busy_ns},
                            {"idle_ns", w.idle_ns},
                            {"batch_size", summary_json(b)}});
  }
  j["guests"] = nlohmann::json::array();
  for (const auto& g : guests) {
    j["guests"].push_back({{"name", g.name},
                           {"messages", g.messages},
                           {"system_messages", g.system_messages},
                           {"runs", g.runs},
                           {"batch_size", summary_json(g.batch_sizes.summary())}});
  }
  j["actors"] = nlohmann::json::array();
  for (const auto& a : actors) {
    j["actors"].push_back({{"id", a.id},
                           {"name", a.name},
                           {"messages", a.messages},
                           {"depth", a.depth},
                           {"depth_high_water", a.depth_high_water},
                           {"oldest_message_age_ns", a.oldest_message_age_ns},
                           {"queue_wait_ns", summary_json(a.queue_wait_ns)},
                           {"handler_ns", summary_json(a.handler_ns)}});
  }
  // An actor name that is not valid UTF-8 becomes U+FFFD, not an exception.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace shoal
