#include "wire/batch_codec.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

namespace shoal::wire {

namespace {

// Words a batch adds per envelope besides its payload: the envelope struct
// (3 data words + 1 pointer) and a share of the tables. An estimate for
// bytes() and the frame limit; the real size is known at finish().
constexpr std::size_t envelope_words = 5;
constexpr std::size_t batch_words = 16;

std::string describe(const kj::Exception& e) { return e.getDescription().cStr(); }

}  // namespace

// -- writing --

std::size_t BatchWriter::RefHash::operator()(const OutboundRef& r) const noexcept {
  std::size_t h = std::hash<std::uint64_t>{}(r.id);
  h ^= std::hash<std::string_view>{}(r.name) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h ^= std::hash<std::string_view>{}(r.address) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

BatchWriter::Add BatchWriter::add(const OutboundMessage& m) {
  if (!pending_.empty()) {
    // Offsets are u32 and must increase: a jump or a step back starts a
    // new batch (the receiver drops a step back as a duplicate).
    if (m.sequence <= last_sequence_ ||
        m.sequence - first_sequence_ > std::numeric_limits<std::uint32_t>::max() ||
        pending_.size() >= std::min(limits_.max_envelopes, limits_.max_table_entries)) {
      return Add::full;
    }
  }
  if (!message_) message_.emplace(pool_);
  std::size_t before = message_->used_words();
  capnp::Orphan<capnp::AnyPointer> payload;
  bool encoded = false;
  try {
    payload = m.codec->encode(*m.envelope, message_->getOrphanage());
    encoded = true;
  } catch (const kj::Exception& e) {
    error_ = describe(e);
  } catch (const std::exception& e) {
    error_ = e.what();
  } catch (...) {
    error_ = "unknown exception";
  }
  std::size_t after = message_->used_words();
  if (!encoded) {
    if (pending_.empty()) {
      reset();  // nothing to keep: drop the arena with whatever the codec left
    } else {
      wasted_ = wasted_ || after != before;
    }
    return Add::encode_failed;
  }
  std::size_t estimate = after + envelope_words * (pending_.size() + 1) + batch_words;
  if (estimate * sizeof(capnp::word) > limits_.max_frame_bytes) {
    if (pending_.empty()) {
      error_ = "message of " + std::to_string((after - before) * sizeof(capnp::word)) +
               " bytes exceeds the frame limit of " + std::to_string(limits_.max_frame_bytes);
      payload = {};
      reset();
      return Add::too_large;
    }
    wasted_ = true;  // the orphan is dropped on return; its words stay in the segment
    return Add::full;
  }
  if (pending_.empty()) first_sequence_ = m.sequence;
  last_sequence_ = m.sequence;
  pending_.push_back(Pending{m.codec, m.target, m.sender, m.request_id,
                             static_cast<std::uint32_t>(m.sequence - first_sequence_),
                             std::move(payload)});
  used_words_ = estimate;
  return Add::added;
}

template <class Key, class Hash>
std::uint32_t BatchWriter::index_of(std::unordered_map<Key, std::uint32_t, Hash>& table,
                                    const Key& key) {
  auto [it, fresh] = table.try_emplace(key, static_cast<std::uint32_t>(table.size()));
  return it->second;
}

std::size_t BatchWriter::finish(std::vector<std::byte>& out) {
  if (pending_.empty()) {
    reset();
    return 0;
  }
  // Indices first (first appearance order), then the lists at their sizes.
  // Neighbours mostly share type, target and sender: those reuse the
  // previous message's index instead of a hash lookup.
  std::vector<Indices>& indices = indices_;
  indices.clear();
  const Pending* prev = nullptr;
  for (const Pending& p : pending_) {
    Indices ix;
    ix.type = prev != nullptr && prev->codec == p.codec ? indices.back().type
                                                         : index_of(types_, p.codec);
    ix.target = prev != nullptr && prev->target == p.target ? indices.back().target
                                                             : index_of(targets_, p.target);
    if (!p.sender) {
      ix.sender = 0;
    } else if (prev != nullptr && prev->sender == p.sender) {
      ix.sender = indices.back().sender;
    } else {
      ix.sender = index_of(senders_, *p.sender) + 1;
    }
    indices.push_back(ix);
    prev = &p;
  }
  auto batch = message_->initRoot<schema::Frame>().initBatch();
  batch.setFirstSequence(first_sequence_);
  auto names = batch.initTypeNames(static_cast<unsigned>(types_.size()));
  for (auto& [codec, i] : types_) {
    std::string_view n = codec->name();
    auto t = names.init(i, static_cast<unsigned>(n.size()));
    std::memcpy(t.begin(), n.data(), n.size());
  }
  auto targets = batch.initTargets(static_cast<unsigned>(targets_.size()));
  for (auto& [ref, i] : targets_) set_ref(targets[i], ref);
  auto senders = batch.initSenders(static_cast<unsigned>(senders_.size()));
  for (auto& [ref, i] : senders_) set_ref(senders[i], ref);
  auto envelopes = batch.initEnvelopes(static_cast<unsigned>(pending_.size()));
  for (std::size_t k = 0; k < pending_.size(); ++k) {
    auto e = envelopes[static_cast<unsigned>(k)];
    e.setType(indices[k].type);
    e.setTarget(indices[k].target);
    e.setSender(indices[k].sender);
    e.setRequestId(pending_[k].request_id);
    e.setSequenceOffset(pending_[k].offset);
    e.initPayload().adopt(std::move(pending_[k].payload));
  }
  std::size_t written;
  if (wasted_) {
    // Dropped payloads left zeroed words behind; a copy leaves them out
    // (rare: only after a codec threw or a message did not fit).
    detail::PooledMessage compact(pool_);
    compact.setRoot(message_->getRoot<schema::Frame>().asReader());
    written = detail::append_frame(compact, out);
  } else {
    written = detail::append_frame(*message_, out);
  }
  reset();
  return written;
}

void BatchWriter::reset() noexcept {
  pending_.clear();
  message_.reset();
  types_.clear();
  targets_.clear();
  senders_.clear();
  used_words_ = 0;
  wasted_ = false;
}

// -- reading --

std::string_view to_string(Rejection r) noexcept {
  switch (r) {
    case Rejection::unknown_type: return "unknown_type";
    case Rejection::unknown_target: return "unknown_target";
    case Rejection::malformed_envelope: return "malformed_envelope";
    case Rejection::malformed_payload: return "malformed_payload";
  }
  return "?";
}

FrameError BatchDecoder::decode(schema::Batch::Reader batch, BatchSink& sink, std::string& error) {
  FrameError result;
  try {
    result = decode_envelopes(batch, sink, error);
  } catch (const kj::Exception& e) {
    error = "malformed batch: " + describe(e);
    result = FrameError::malformed;
  }
  // Let go of the Pids now, not at the next frame.
  targets_.clear();
  senders_.clear();
  return result;
}

FrameError BatchDecoder::decode_envelopes(schema::Batch::Reader batch, BatchSink& sink,
                                          std::string& error) {
  auto type_names = batch.getTypeNames();
  auto targets = batch.getTargets();
  auto senders = batch.getSenders();
  auto envelopes = batch.getEnvelopes();
  std::uint32_t table_max = limits_.max_table_entries;
  if (type_names.size() > table_max || targets.size() > table_max || senders.size() > table_max ||
      envelopes.size() > limits_.max_envelopes) {
    error = "batch over its limits: " + std::to_string(type_names.size()) + " types, " +
            std::to_string(targets.size()) + " targets, " + std::to_string(senders.size()) +
            " senders, " + std::to_string(envelopes.size()) + " envelopes";
    return FrameError::limit_exceeded;
  }
  codecs_.clear();
  names_.clear();
  for (auto n : type_names) {
    if (n.size() > max_name_bytes) {
      error = "type name of " + std::to_string(n.size()) + " bytes";
      return FrameError::bad_name;
    }
    names_.emplace_back(n.cStr(), n.size());
    codecs_.push_back(types_.find(names_.back()));
  }
  targets_.assign(targets.size(), Entry{});
  senders_.assign(senders.size(), Entry{});

  // Resolves a table entry once per batch; false: a name too long.
  auto resolve = [&](auto table, std::vector<Entry>& entries, std::uint32_t i, bool target) {
    Entry& entry = entries[i];
    if (entry.resolved) return true;
    InboundRef ref;
    if (!read_ref(table[i], ref)) return false;
    entry.pid = target ? sink.resolve_target(ref) : sink.resolve_sender(ref);
    entry.resolved = true;
    return true;
  };

  // The sender of a rejected message, if it named one: it may be waiting.
  RejectedRequest rejected;
  auto request_of = [&](std::uint32_t target, std::uint32_t sender,
                        std::uint64_t request_id) -> const RejectedRequest* {
    if (sender == 0 || !read_ref(senders[sender - 1], rejected.sender) ||
        !read_ref(targets[target], rejected.target)) {
      return nullptr;
    }
    rejected.request_id = request_id;
    return &rejected;
  };

  std::uint64_t first = batch.getFirstSequence();
  for (auto env : envelopes) {
    std::uint64_t sequence = first + env.getSequenceOffset();
    std::uint32_t type = env.getType(), target = env.getTarget(), sender = env.getSender();
    if (type >= codecs_.size()) {
      sink.reject(sequence, Rejection::malformed_envelope, {},
                  "type index " + std::to_string(type) + " of " + std::to_string(codecs_.size()),
                  nullptr);
      continue;
    }
    std::string_view name = names_[type];
    if (target >= targets_.size() || sender > senders_.size()) {
      sink.reject(sequence, Rejection::malformed_envelope, name,
                  "target index " + std::to_string(target) + " of " +
                      std::to_string(targets_.size()) + ", sender " + std::to_string(sender) +
                      " of " + std::to_string(senders_.size()),
                  nullptr);
      continue;
    }
    const TypeCodec* codec = codecs_[type];
    if (codec == nullptr) {
      sink.reject(sequence, Rejection::unknown_type, name, "not in this node's type registry",
                  request_of(target, sender, env.getRequestId()));
      continue;
    }
    if (!resolve(targets, targets_, target, true) ||
        (sender != 0 && !resolve(senders, senders_, sender - 1, false))) {
      error = "actor name or address over " + std::to_string(max_name_bytes) + " bytes";
      return FrameError::bad_name;
    }
    const Pid& to = targets_[target].pid;
    if (to.empty()) {
      sink.reject(sequence, Rejection::unknown_target, name, "no such actor",
                  request_of(target, sender, env.getRequestId()));
      continue;
    }
    Envelope* e = nullptr;
    try {
      e = codec->decode(env.getPayload(), sender != 0 ? senders_[sender - 1].pid : Pid(),
                        env.getRequestId());
    } catch (const kj::Exception& ex) {
      sink.reject(sequence, Rejection::malformed_payload, name, describe(ex),
                  request_of(target, sender, env.getRequestId()));
      continue;
    } catch (const std::exception& ex) {
      sink.reject(sequence, Rejection::malformed_payload, name, ex.what(),
                  request_of(target, sender, env.getRequestId()));
      continue;
    }
    sink.deliver(to, e, sequence);
  }
  return FrameError::none;
}

}  // namespace shoal::wire
