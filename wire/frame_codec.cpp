#include "wire/frame_codec.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace shoal::wire {

static_assert(std::endian::native == std::endian::little,
              "the frame header is read and written as host-order u32");

std::string_view to_string(FrameError e) noexcept {
  switch (e) {
    case FrameError::none: return "none";
    case FrameError::too_many_segments: return "too_many_segments";
    case FrameError::too_large: return "too_large";
    case FrameError::malformed: return "malformed";
    case FrameError::limit_exceeded: return "limit_exceeded";
    case FrameError::bad_name: return "bad_name";
    case FrameError::unknown_kind: return "unknown_kind";
  }
  return "?";
}

// -- reading --

HeaderStatus parse_frame_header(std::span<const std::byte> bytes, const FrameLimits& limits,
                                FrameHeader& out, FrameError& error) noexcept {
  auto u32_at = [&](std::size_t offset) {
    std::uint32_t v;
    std::memcpy(&v, bytes.data() + offset, sizeof v);
    return v;
  };
  if (bytes.size() < 4) return HeaderStatus::incomplete;
  // S - 1 on the wire: widen before adding so 0xffffffff cannot wrap to 0.
  std::uint64_t segments = std::uint64_t{u32_at(0)} + 1;
  if (segments > limits.max_segments) {
    error = FrameError::too_many_segments;
    return HeaderStatus::invalid;
  }
  if (bytes.size() < 4 + 4 * segments) return HeaderStatus::incomplete;
  std::uint64_t words = 0;
  for (std::uint64_t i = 0; i < segments; ++i) words += u32_at(4 + 4 * i);
  std::uint64_t header = 8 * ((segments + 2) / 2);
  std::uint64_t total = header + 8 * words;  // ≤ 8 * (65 + 64 * 2^32): no overflow
  if (total > limits.max_frame_bytes) {
    error = FrameError::too_large;
    return HeaderStatus::invalid;
  }
  out.segments = static_cast<std::uint32_t>(segments);
  out.header_bytes = header;
  out.frame_bytes = total;
  return HeaderStatus::ok;
}

FrameReader::FrameReader(std::span<const std::byte> frame, const FrameLimits& limits) noexcept {
  capnp::ReaderOptions options;
  std::size_t words = frame.size() / sizeof(capnp::word);
  options.traversalLimitInWords =
      std::max<std::uint64_t>(std::uint64_t{words} * limits.traversal_factor, 1024);
  options.nestingLimit = limits.max_nesting;
  try {
    reader_.emplace(
        kj::ArrayPtr<const capnp::word>(reinterpret_cast<const capnp::word*>(frame.data()), words),
        options);
    root_ = reader_->getRoot<schema::Frame>();
  } catch (const kj::Exception& e) {
    error_ = FrameError::malformed;
    message_ = e.getDescription().cStr();
  } catch (const std::exception& e) {  // std::bad_alloc from the segment table
    error_ = FrameError::malformed;
    message_ = e.what();
  }
}

bool read_ref(schema::ActorRef::Reader r, InboundRef& out) {
  out.id = r.getId();
  auto name = r.getName();
  auto address = r.getAddress();
  if (name.size() > max_name_bytes || address.size() > max_name_bytes) return false;
  out.name = std::string_view(name.cStr(), name.size());
  out.address = std::string_view(address.cStr(), address.size());
  return true;
}

// -- writing --

namespace {

void set_text(capnp::Text::Builder b, std::string_view s) {
  if (!s.empty()) std::memcpy(b.begin(), s.data(), s.size());
}

}  // namespace

void set_ref(schema::ActorRef::Builder b, const OutboundRef& ref) {
  b.setId(ref.id);
  // initX(n) then a copy: setX(Text::Reader) wants a NUL-terminated string.
  if (!ref.name.empty()) set_text(b.initName(static_cast<unsigned>(ref.name.size())), ref.name);
  if (!ref.address.empty()) {
    set_text(b.initAddress(static_cast<unsigned>(ref.address.size())), ref.address);
  }
}

namespace {

capnp::Data::Reader as_data(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const capnp::byte*>(bytes.data()), bytes.size()};
}

}  // namespace

void ControlWriter::handshake(const HandshakeInfo& info, std::vector<std::byte>& out) {
  detail::PooledMessage m(pool_);
  auto h = m.initRoot<schema::Frame>().initHandshake();
  h.setVersion(schema::PROTOCOL_VERSION);
  set_text(h.initAddress(static_cast<unsigned>(info.address.size())), info.address);
  h.setIncarnation(info.incarnation);
  h.setAssociation(info.association);
  if (info.limits != nullptr) {
    h.setMaxFrameBytes(info.limits->max_frame_bytes);
    h.setMaxSegments(info.limits->max_segments);
    h.setMaxEnvelopes(info.limits->max_envelopes);
    h.setMaxTableEntries(info.limits->max_table_entries);
  }
  if (!info.nonce.empty()) h.setNonce(as_data(info.nonce));
  if (!info.proof.empty()) h.setProof(as_data(info.proof));
  detail::append_frame(m, out);
}

void ControlWriter::auth(std::span<const std::byte> proof, std::vector<std::byte>& out) {
  detail::PooledMessage m(pool_);
  m.initRoot<schema::Frame>().initAuth().setProof(as_data(proof));
  detail::append_frame(m, out);
}

FrameLimits peer_limits(schema::Handshake::Reader h) noexcept {
  FrameLimits l;
  if (h.getMaxFrameBytes() != 0) l.max_frame_bytes = h.getMaxFrameBytes();
  if (h.getMaxSegments() != 0) l.max_segments = h.getMaxSegments();
  if (h.getMaxEnvelopes() != 0) l.max_envelopes = h.getMaxEnvelopes();
  if (h.getMaxTableEntries() != 0) l.max_table_entries = h.getMaxTableEntries();
  return l;
}

void ControlWriter::heartbeat(std::uint64_t nonce, bool reply, std::vector<std::byte>& out) {
  detail::PooledMessage m(pool_);
  auto h = m.initRoot<schema::Frame>().initHeartbeat();
  h.setNonce(nonce);
  h.setReply(reply);
  detail::append_frame(m, out);
}

void ControlWriter::watch(const OutboundRef& watcher, const OutboundRef& watchee, bool watch,
                          std::vector<std::byte>& out) {
  detail::PooledMessage m(pool_);
  auto f = m.initRoot<schema::Frame>();
  auto w = watch ? f.initWatch() : f.initUnwatch();
  set_ref(w.initWatcher(), watcher);
  set_ref(w.initWatchee(), watchee);
  detail::append_frame(m, out);
}

void ControlWriter::terminated(const OutboundRef& who, const OutboundRef& watcher,
                               schema::TerminatedReason reason, std::vector<std::byte>& out) {
  detail::PooledMessage m(pool_);
  auto t = m.initRoot<schema::Frame>().initTerminated();
  set_ref(t.initWho(), who);
  set_ref(t.initWatcher(), watcher);
  t.setReason(reason);
  detail::append_frame(m, out);
}

void ControlWriter::disconnect(std::string_view reason, std::vector<std::byte>& out) {
  detail::PooledMessage m(pool_);
  auto d = m.initRoot<schema::Frame>().initDisconnect();
  reason = reason.substr(0, max_name_bytes);
  set_text(d.initReason(static_cast<unsigned>(reason.size())), reason);
  detail::append_frame(m, out);
}

void ControlWriter::undeliverable(const OutboundRef& sender, std::uint64_t request_id,
                                  schema::UndeliverableReason reason, const OutboundRef& target,
                                  std::string_view type_name, std::vector<std::byte>& out) {
  detail::PooledMessage m(pool_);
  auto u = m.initRoot<schema::Frame>().initUndeliverable();
  set_ref(u.initSender(), sender);
  u.setRequestId(request_id);
  u.setReason(reason);
  set_ref(u.initTarget(), target);
  type_name = type_name.substr(0, max_name_bytes);
  set_text(u.initTypeName(static_cast<unsigned>(type_name.size())), type_name);
  detail::append_frame(m, out);
}

void ControlWriter::stop(const OutboundRef& target, std::vector<std::byte>& out) {
  detail::PooledMessage m(pool_);
  set_ref(m.initRoot<schema::Frame>().initStop().initTarget(), target);
  detail::append_frame(m, out);
}

// -- internals --

namespace detail {

namespace {
// One first segment of 64 KiB holds a typical batch: most frames are one
// segment, and the pool keeps a few of them warm.
constexpr std::size_t first_segment_words = 8192;
constexpr std::size_t pool_keep = 4;
constexpr std::size_t pool_keep_max_words = std::size_t{1} << 20;  // 8 MiB
}  // namespace

kj::ArrayPtr<capnp::word> SegmentPool::take(std::size_t min_words) {
  auto fits = [&](const Segment& s) { return s.size >= min_words; };
  auto it = std::find_if(free_.begin(), free_.end(), fits);
  if (it == free_.end()) {
    std::size_t size = std::max(min_words, first_segment_words);
    auto words = std::make_unique<capnp::word[]>(size);
    std::memset(static_cast<void*>(words.get()), 0, size * sizeof(capnp::word));
    lent_.push_back({std::move(words), size});
  } else {
    lent_.push_back(std::move(*it));
    free_.erase(it);
  }
  return {lent_.back().words.get(), lent_.back().size};
}

void SegmentPool::give_back(kj::ArrayPtr<capnp::word> segment, std::size_t used_words) noexcept {
  auto it = std::find_if(lent_.begin(), lent_.end(),
                         [&](const Segment& s) { return s.words.get() == segment.begin(); });
  if (it == lent_.end()) return;
  if (free_.size() >= pool_keep || it->size > pool_keep_max_words) {
    lent_.erase(it);  // frees it
    return;
  }
  std::memset(static_cast<void*>(it->words.get()), 0,
              std::min(used_words, it->size) * sizeof(capnp::word));
  free_.push_back(std::move(*it));
  lent_.erase(it);
}

PooledMessage::~PooledMessage() noexcept(false) {
  if (segments_.empty()) return;
  auto used = getSegmentsForOutput();
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    pool_.give_back(segments_[i], i < used.size() ? used[i].size() : segments_[i].size());
  }
}

kj::ArrayPtr<capnp::word> PooledMessage::allocateSegment(unsigned minimum_words) {
  // Later segments double, as Cap'n Proto's own MallocMessageBuilder does,
  // so a large message takes few segments (the reader limits their count).
  std::size_t want = std::max<std::size_t>(minimum_words, first_segment_words << segments_.size());
  auto s = pool_.take(want);
  segments_.push_back(s);
  return s;
}

std::size_t PooledMessage::used_words() {
  if (segments_.empty()) return 0;
  std::size_t n = 0;
  for (auto s : getSegmentsForOutput()) n += s.size();
  return n;
}

std::size_t append_frame(capnp::MessageBuilder& message, std::vector<std::byte>& out) {
  auto segments = message.getSegmentsForOutput();
  std::size_t count = segments.size();
  std::size_t header = 8 * ((count + 2) / 2);
  std::size_t body = 0;
  for (auto s : segments) body += s.size() * sizeof(capnp::word);
  std::size_t start = out.size();
  out.resize(start + header + body);
  std::byte* p = out.data() + start;
  std::memset(p, 0, header);
  auto put_u32 = [&](std::size_t offset, std::size_t v) {
    auto u = static_cast<std::uint32_t>(v);
    std::memcpy(p + offset, &u, sizeof u);
  };
  put_u32(0, count - 1);
  for (std::size_t i = 0; i < count; ++i) put_u32(4 + 4 * i, segments[i].size());
  p += header;
  for (auto s : segments) {
    std::memcpy(p, s.begin(), s.size() * sizeof(capnp::word));
    p += s.size() * sizeof(capnp::word);
  }
  return header + body;
}

}  // namespace detail

}  // namespace shoal::wire
