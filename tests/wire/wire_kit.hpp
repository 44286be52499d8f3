// What the wire tests share: message types with their codecs, a registry
// holding them, stand-in processes for targets and senders, and a sink
// that records what a decoded batch delivered or rejected.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/wire/test_messages.capnp.h"
#include "wire/batch_codec.hpp"

namespace shoal::wire::test {

struct Ping {
  std::uint64_t count = 0;
};
struct Note {
  std::string text;
  std::vector<std::string> tags;
};
/// Encodes as `depth` nested Chain structs.
struct Chain {
  std::uint32_t depth = 0;
};
/// Its encoder throws when `fail` is set.
struct Fragile {
  bool fail = false;
};
/// Never registered.
struct Unregistered {
  int x = 0;
};

inline void register_test_types(TypeRegistry& types) {
  types.add<Ping, msg::Ping>(
      "test.Ping", [](const Ping& m, msg::Ping::Builder b) { b.setCount(m.count); },
      [](msg::Ping::Reader r) { return Ping{r.getCount()}; });
  types.add<Note, msg::Note>(
      "test.Note",
      [](const Note& m, msg::Note::Builder b) {
        b.setText(m.text);
        auto tags = b.initTags(static_cast<unsigned>(m.tags.size()));
        for (unsigned i = 0; i < m.tags.size(); ++i) tags.set(i, m.tags[i]);
      },
      [](msg::Note::Reader r) {
        Note n{r.getText(), {}};
        for (auto t : r.getTags()) n.tags.emplace_back(t);
        return n;
      });
  types.add<Chain, msg::Chain>(
      "test.Chain",
      [](const Chain& m, msg::Chain::Builder b) {
        for (std::uint32_t d = m.depth; d > 0; --d) {
          b.setDepth(d);
          if (d > 1) b = b.initNext();
        }
      },
      [](msg::Chain::Reader r) {
        Chain c;
        for (; r.getDepth() != 0; r = r.getNext()) ++c.depth;
        return c;
      });
  types.add<Fragile, msg::Ping>(
      "test.Fragile",
      [](const Fragile& m, msg::Ping::Builder b) {
        b.setCount(7);
        if (m.fail) throw std::runtime_error("fragile: refused to encode");
      },
      [](msg::Ping::Reader) { return Fragile{}; });
}

/// A process that only counts as an address (a target or a sender).
class StubProcess final : public Process {
 public:
  explicit StubProcess(std::uint64_t id) : Process(id, Kind::future) {}
  void post(Envelope* e) noexcept override { destroy_envelope(e); }
};

inline Pid stub_pid(std::uint64_t id) { return Pid(new StubProcess(id)); }

/// Records what a BatchDecoder hands it.
class RecordingSink final : public BatchSink {
 public:
  struct Delivery {
    std::uint64_t target;
    std::uint64_t sequence;
    std::unique_ptr<Envelope, void (*)(Envelope*)> envelope{nullptr, &destroy_envelope};
  };
  struct Reject {
    std::uint64_t sequence;
    Rejection why;
    std::string type_name;
    std::string detail;
    std::uint64_t request_id;
    bool had_sender;
  };

  /// Targets that exist: by id, and by name (id 0 on the wire).
  std::map<std::uint64_t, Pid> by_id;
  std::map<std::string, Pid> by_name;
  std::vector<Delivery> delivered;
  std::vector<Reject> rejected;
  std::vector<InboundRef> senders_seen;

  void add_target(std::uint64_t id, std::string name = {}) {
    Pid p = stub_pid(id);
    if (!name.empty()) by_name[name] = p;
    by_id[id] = p;
  }

  Pid resolve_target(const InboundRef& t) override {
    if (!t.name.empty()) {
      auto it = by_name.find(std::string(t.name));
      return it == by_name.end() ? Pid() : it->second;
    }
    auto it = by_id.find(t.id);
    return it == by_id.end() ? Pid() : it->second;
  }
  Pid resolve_sender(const InboundRef& s) override {
    senders_seen.push_back(s);
    return stub_pid(1'000'000 + s.id);
  }
  void deliver(const Pid& target, Envelope* e, std::uint64_t sequence) override {
    delivered.push_back({target.id(), sequence, {e, &destroy_envelope}});
  }
  void reject(std::uint64_t sequence, Rejection why, std::string_view type_name,
              std::string_view detail, const RejectedRequest* request) override {
    rejected.push_back({sequence, why, std::string(type_name), std::string(detail),
                        request != nullptr ? request->request_id : 0, request != nullptr});
  }
};

/// Copies frame bytes into 8-byte aligned storage, as a receive buffer is.
inline std::vector<capnp::word> aligned(const std::vector<std::byte>& bytes) {
  std::vector<capnp::word> words((bytes.size() + 7) / 8);
  if (!bytes.empty()) std::memcpy(static_cast<void*>(words.data()), bytes.data(), bytes.size());
  return words;
}

inline std::span<const std::byte> as_bytes(const std::vector<capnp::word>& words,
                                           std::size_t size) {
  return {reinterpret_cast<const std::byte*>(words.data()), size};
}

}  // namespace shoal::wire::test
