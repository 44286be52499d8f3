// Frame codec: turns the byte stream of one connection into frames and back.
//
// A frame is one Cap'n Proto message (wire/frame.capnp, root `Frame`) in
// Cap'n Proto's standard stream framing, so `capnp decode` reads it:
//
//   offset  size        field
//   0       4           S - 1, where S = number of segments (little-endian u32)
//   4       4 * S       size of each segment in 8-byte words (u32 each)
//   ...     0 or 4      padding to a multiple of 8 bytes
//   H       8 * words   the segments, one after another
//
//   H = 8 * ((S + 2) / 2); the frame is H + 8 * (sum of segment sizes) bytes,
//   always a multiple of 8, so frames laid end to end in an 8-byte aligned
//   buffer all stay aligned and can be read in place.
//
// Limits (FrameLimits) make a hostile peer pay for what it asks: the header
// alone bounds the frame's size and segment count before a byte of it is
// buffered, and Cap'n Proto's traversal and nesting limits bound the work
// spent reading it. Batches (batch_codec.hpp) add table and count limits.
//
// The writer builds frames in reusable, zeroed segments (one first segment
// holds a typical batch, so a frame is one segment) and appends them to a
// byte buffer: the caller's send buffer.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shoal/frame_limits.hpp"
#include "wire/frame.capnp.h"

namespace shoal::wire {

enum class FrameError : std::uint8_t {
  none,
  too_many_segments,  ///< segment count over max_segments
  too_large,          ///< frame over max_frame_bytes
  malformed,          ///< Cap'n Proto rejected the structure (bad pointer, limit hit)
  limit_exceeded,     ///< a batch table or envelope list over its limit
  bad_name,           ///< a type name, actor name or address too long
  unknown_kind,       ///< a frame kind this version does not know
};
std::string_view to_string(FrameError e) noexcept;

/// The measured start of a frame.
struct FrameHeader {
  std::uint32_t segments = 0;
  std::size_t header_bytes = 0;  ///< segment table with padding
  std::size_t frame_bytes = 0;   ///< whole frame
};

enum class HeaderStatus : std::uint8_t { incomplete, ok, invalid };

/// Measures the frame at the start of `bytes`. `incomplete`: the segment
/// table is not all there yet. `invalid`: `error` says why (too many
/// segments, too large); the stream cannot be resynchronised. Pure; no
/// allocation.
HeaderStatus parse_frame_header(std::span<const std::byte> bytes, const FrameLimits& limits,
                                FrameHeader& out, FrameError& error) noexcept;

/// One complete frame opened in place. The bytes must be 8-byte aligned,
/// hold exactly the frame parse_frame_header measured, and outlive the
/// reader. Readers from `frame()` throw kj::Exception if the frame's
/// pointers are bad where they are followed (batch_codec.hpp catches).
class FrameReader {
 public:
  FrameReader(std::span<const std::byte> frame, const FrameLimits& limits) noexcept;
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  FrameError error() const noexcept { return error_; }
  /// What went wrong, for the log; empty when error() is none.
  const std::string& message() const noexcept { return message_; }
  /// The root; only when error() is none.
  schema::Frame::Reader frame() const noexcept { return root_; }

 private:
  std::optional<capnp::FlatArrayMessageReader> reader_;
  schema::Frame::Reader root_;
  FrameError error_ = FrameError::none;
  std::string message_;
};

/// An actor as the writer names it. The views must stay valid until the
/// frame is written.
struct OutboundRef {
  std::uint64_t id = 0;
  std::string_view name;     ///< empty: by id
  std::string_view address;  ///< empty: the writing node
  friend bool operator==(const OutboundRef&, const OutboundRef&) = default;
};

namespace detail {

/// Zeroed segments kept between frames (Cap'n Proto wants zeroed memory;
/// zeroing what one frame used is cheaper than a fresh allocation).
/// Owned by one writer; not thread-safe.
class SegmentPool {
 public:
  kj::ArrayPtr<capnp::word> take(std::size_t min_words);
  void give_back(kj::ArrayPtr<capnp::word> segment, std::size_t used_words) noexcept;

 private:
  struct Segment {
    std::unique_ptr<capnp::word[]> words;
    std::size_t size;
  };
  std::vector<Segment> free_;
  std::vector<Segment> lent_;
};

/// A Cap'n Proto message built in pooled segments; returns them (zeroed)
/// when destroyed.
class PooledMessage final : public capnp::MessageBuilder {
 public:
  explicit PooledMessage(SegmentPool& pool) noexcept : pool_(pool) {}
  ~PooledMessage() noexcept(false) override;
  kj::ArrayPtr<capnp::word> allocateSegment(unsigned minimum_words) override;

  /// Words used so far over all segments.
  std::size_t used_words();

 private:
  SegmentPool& pool_;
  std::vector<kj::ArrayPtr<capnp::word>> segments_;
};

/// Appends `message` in stream framing. Returns the bytes appended.
std::size_t append_frame(capnp::MessageBuilder& message, std::vector<std::byte>& out);

}  // namespace detail

/// What one side's handshake says (frame.capnp, Handshake).
struct HandshakeInfo {
  std::string_view address;
  std::uint64_t incarnation = 0;
  std::uint64_t association = 0;        ///< 0: not said
  const FrameLimits* limits = nullptr;  ///< what the sender accepts; null: not said
  std::span<const std::byte> nonce{};   ///< authentication; empty: none
  std::span<const std::byte> proof{};   ///< the acceptor's proof; empty: none
};

/// A peer's frame limits from its handshake: each field it said, else the
/// default (FrameLimits{}). Nesting and traversal stay the receiver's own.
FrameLimits peer_limits(schema::Handshake::Reader h) noexcept;

/// Writes control frames. One per connection; not thread-safe.
class ControlWriter {
 public:
  void handshake(std::string_view address, std::uint64_t incarnation, std::vector<std::byte>& out) {
    handshake(HandshakeInfo{address, incarnation}, out);
  }
  void handshake(const HandshakeInfo& info, std::vector<std::byte>& out);
  /// The dialer's proof (authentication).
  void auth(std::span<const std::byte> proof, std::vector<std::byte>& out);
  void heartbeat(std::uint64_t nonce, bool reply, std::vector<std::byte>& out);
  /// A watch (`watch` true) or unwatch frame.
  void watch(const OutboundRef& watcher, const OutboundRef& watchee, bool watch,
             std::vector<std::byte>& out);
  void terminated(const OutboundRef& who, const OutboundRef& watcher,
                  schema::TerminatedReason reason, std::vector<std::byte>& out);
  void disconnect(std::string_view reason, std::vector<std::byte>& out);
  void undeliverable(const OutboundRef& sender, std::uint64_t request_id,
                     schema::UndeliverableReason reason, const OutboundRef& target,
                     std::string_view type_name, std::vector<std::byte>& out);
  void stop(const OutboundRef& target, std::vector<std::byte>& out);

 private:
  detail::SegmentPool pool_;
};

/// Fills a wire ActorRef.
void set_ref(schema::ActorRef::Builder b, const OutboundRef& ref);

/// An ActorRef read off the wire; views into the frame.
struct InboundRef {
  std::uint64_t id = 0;
  std::string_view name;
  std::string_view address;
};

/// Reads an ActorRef, checking its names' lengths (max_name_bytes).
/// Returns false for a name or address too long; throws kj::Exception for
/// a malformed one.
bool read_ref(schema::ActorRef::Reader r, InboundRef& out);

}  // namespace shoal::wire
