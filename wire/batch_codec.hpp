// Batch codec: many envelopes in one frame, and back.
//
// Writing: an io thread pops envelopes for one peer and `add`s them until
// the batch is big enough or the queue is drained, then `finish`es one
// frame into its send buffer. Each payload is encoded as an orphan first
// (so a codec that throws costs only its own message), and the tables of
// type names, targets and senders are built once all envelopes are known.
//
// Reading: `BatchDecoder::decode` walks a batch frame, resolves each table
// entry once (type → codec, target → local Pid, sender → remote Pid), and
// hands every envelope to a BatchSink, or tells it why not. A bad envelope
// (unknown type, bad index, payload that does not decode) is that message's
// problem; a bad table or list is the frame's, and the connection's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shoal/envelope.hpp"
#include "shoal/type_registry.hpp"
#include "wire/frame_codec.hpp"

namespace shoal::wire {

/// One message to write. The views and the envelope stay valid (and owned
/// by the caller) until finish().
struct OutboundMessage {
  const Envelope* envelope = nullptr;  ///< the payload to encode
  const TypeCodec* codec = nullptr;    ///< the registry's codec of its type
  OutboundRef target;
  std::optional<OutboundRef> sender;   ///< present: the receiver may answer
  std::uint64_t request_id = 0;
  std::uint64_t sequence = 0;          ///< strictly increasing within a batch
};

/// Builds batch frames. One per connection; not thread-safe.
class BatchWriter {
 public:
  enum class Add : std::uint8_t {
    added,
    encode_failed,  ///< the codec threw; `error()` says what; the message is not in the batch
    full,           ///< does not fit this batch: finish() it, then add again
    too_large,      ///< the message alone exceeds the frame limit; it is not in the batch
  };

  explicit BatchWriter(const FrameLimits& limits = {}) : limits_(limits) {}
  /// The limits the next batches keep to (the receiving peer's, from its
  /// handshake). Between batches only (size() == 0).
  void set_limits(const FrameLimits& limits) noexcept { limits_ = limits; }

  /// Encodes one message into the current batch (starting one if needed).
  Add add(const OutboundMessage& m);
  std::size_t size() const noexcept { return pending_.size(); }
  /// Bytes the frame would take now (an estimate from the words used).
  std::size_t bytes() const noexcept { return used_words_ * 8; }
  /// Why the last add() failed.
  const std::string& error() const noexcept { return error_; }

  /// Appends the batch as one frame to `out` and starts afresh. Returns the
  /// bytes appended (0 for an empty batch).
  std::size_t finish(std::vector<std::byte>& out);

 private:
  struct Pending {
    const TypeCodec* codec;
    OutboundRef target;
    std::optional<OutboundRef> sender;
    std::uint64_t request_id;
    std::uint32_t offset;
    capnp::Orphan<capnp::AnyPointer> payload;
  };
  struct Indices {
    std::uint32_t type, target, sender;  // sender: 1 + index, 0 = none
  };
  struct RefHash {
    std::size_t operator()(const OutboundRef& r) const noexcept;
  };
  template <class Key, class Hash>
  static std::uint32_t index_of(std::unordered_map<Key, std::uint32_t, Hash>& table,
                                const Key& key);
  void reset() noexcept;

  FrameLimits limits_;
  detail::SegmentPool pool_;
  std::optional<detail::PooledMessage> message_;
  std::vector<Pending> pending_;
  std::vector<Indices> indices_;  // finish()'s scratch, kept for its capacity
  std::uint64_t first_sequence_ = 0;
  std::uint64_t last_sequence_ = 0;
  std::size_t used_words_ = 0;
  bool wasted_ = false;  // an orphan was dropped: finish() compacts
  std::string error_;
  std::unordered_map<const TypeCodec*, std::uint32_t, std::hash<const TypeCodec*>> types_;
  std::unordered_map<OutboundRef, std::uint32_t, RefHash> targets_, senders_;
};

/// Why one envelope of a batch was not delivered.
enum class Rejection : std::uint8_t {
  unknown_type,        ///< its type name is not in this node's registry
  unknown_target,      ///< no such actor here (the sink said so)
  malformed_envelope,  ///< an index out of its table
  malformed_payload,   ///< the payload did not decode (Cap'n Proto or the codec threw)
};
std::string_view to_string(Rejection r) noexcept;

/// Who sent a rejected message that carried its sender, and for whom it
/// was; views into the frame.
struct RejectedRequest {
  InboundRef sender;
  InboundRef target;
  std::uint64_t request_id = 0;
};

/// Where a decoded batch goes. Called on the decoding thread.
class BatchSink {
 public:
  /// The local actor a target names; an empty Pid if there is none.
  virtual Pid resolve_target(const InboundRef& target) = 0;
  /// The Pid a reply to `sender` goes to (a remote proxy).
  virtual Pid resolve_sender(const InboundRef& sender) = 0;
  /// One decoded message (owned by the sink from here on) for `target`.
  virtual void deliver(const Pid& target, Envelope* e, std::uint64_t sequence) = 0;
  /// One message that will not be delivered, and why. `type_name` is the
  /// wire name (empty if unreadable); `detail` says more for the log.
  /// `request` is set when the message named its sender (who may be
  /// waiting for an answer) and the refs could be read.
  virtual void reject(std::uint64_t sequence, Rejection why, std::string_view type_name,
                      std::string_view detail, const RejectedRequest* request) = 0;

 protected:
  ~BatchSink() = default;
};

/// Decodes batch frames. One per connection; not thread-safe.
class BatchDecoder {
 public:
  BatchDecoder(const TypeRegistry& types, const FrameLimits& limits = {})
      : types_(types), limits_(limits) {}

  /// Delivers or rejects every envelope of `batch`, in order. Returns
  /// FrameError::none, or what is wrong with the frame itself (tables over
  /// their limits, a name too long, a bad list pointer), with `error`
  /// saying more; envelopes before the fault may have been delivered.
  FrameError decode(schema::Batch::Reader batch, BatchSink& sink, std::string& error);

 private:
  struct Entry {
    bool resolved = false;
    Pid pid;
  };
  FrameError decode_envelopes(schema::Batch::Reader batch, BatchSink& sink, std::string& error);

  const TypeRegistry& types_;
  FrameLimits limits_;
  std::vector<const TypeCodec*> codecs_;
  std::vector<std::string_view> names_;
  std::vector<Entry> targets_, senders_;
};

}  // namespace shoal::wire
