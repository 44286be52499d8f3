// Where grains were found: (kind, identity) → the Pid of its activation, the
// member that holds it and the epoch it was placed in. Bounded (least
// recently used out first, counted), so a caller that touches millions of
// identities holds at most `capacity` entries (Proto.Actor .NET #1301: a
// cache that only grew). Forgotten per grain (its activation stopped) and
// per member (it left). Thread-safe: one mutex; the cluster asks
// it once per call that is not already resolved.
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "shoal/cluster/placement.hpp"
#include "shoal/pid.hpp"

namespace shoal::cluster::detail {

class PidCache {
 public:
  struct Entry {
    Pid pid;
    std::string member;  // Member::id() of the holder
    std::uint64_t epoch = 0;
  };

  /// At least one entry.
  explicit PidCache(std::size_t capacity);

  /// The entry, marked as the most recently used.
  std::optional<Entry> find(const GrainId& grain);
  /// What put() pushed out.
  struct Evicted {
    std::string key;  // kind, NUL, identity
    Entry entry;
  };
  /// Adds or replaces; evicts the least recently used beyond capacity and
  /// returns it.
  std::optional<Evicted> put(const GrainId& grain, Entry entry);
  /// Forgets the grain; if `only` is given, only while it maps to that Pid
  /// (a late report about an older activation leaves a newer one alone).
  bool remove(const GrainId& grain, const Pid* only = nullptr);
  /// Forgets every grain held by the member; how many. O(size).
  std::size_t remove_member(std::string_view member_id);

  std::size_t size() const;
  std::size_t capacity() const noexcept { return capacity_; }
  /// Entries pushed out by the bound so far.
  std::uint64_t evictions() const;

 private:
  struct Node {
    std::string key;
    Entry entry;
  };
  static std::string key_of(const GrainId& g);

  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::list<Node> lru_;  // front: most recently used
  std::unordered_map<std::string, std::list<Node>::iterator> index_;
  std::uint64_t evictions_ = 0;
};

}  // namespace shoal::cluster::detail
