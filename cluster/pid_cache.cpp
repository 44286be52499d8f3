#include "cluster/pid_cache.hpp"

#include <stdexcept>

namespace shoal::cluster::detail {

PidCache::PidCache(std::size_t capacity) : capacity_(capacity) {
  if (capacity_ == 0) throw std::invalid_argument("shoal: a PID cache needs room for one entry");
}

std::string PidCache::key_of(const GrainId& g) {
  // A NUL apart: no kind name holds one.
  std::string k;
  k.reserve(g.kind.size() + 1 + g.identity.size());
  k.append(g.kind).push_back('\0');
  k.append(g.identity);
  return k;
}

std::optional<PidCache::Entry> PidCache::find(const GrainId& grain) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key_of(grain));
  if (it == index_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->entry;
}

std::optional<PidCache::Evicted> PidCache::put(const GrainId& grain, Entry entry) {
  std::string key = key_of(grain);
  std::lock_guard lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->entry = std::move(entry);
    lru_.splice(lru_.begin(), lru_, it->second);
    return std::nullopt;
  }
  lru_.push_front(Node{key, std::move(entry)});
  index_.emplace(std::move(key), lru_.begin());
  if (lru_.size() <= capacity_) return std::nullopt;
  Evicted out{std::move(lru_.back().key), std::move(lru_.back().entry)};
  index_.erase(out.key);
  lru_.pop_back();
  ++evictions_;
  return out;
}

bool PidCache::remove(const GrainId& grain, const Pid* only) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key_of(grain));
  if (it == index_.end()) return false;
  if (only != nullptr && !(it->second->entry.pid == *only)) return false;
  lru_.erase(it->second);
  index_.erase(it);
  return true;
}

std::size_t PidCache::remove_member(std::string_view member_id) {
  std::lock_guard lock(mu_);
  std::size_t removed = 0;
  for (auto it = lru_.begin(); it != lru_.end();) {
    if (it->entry.member == member_id) {
      index_.erase(it->key);
      it = lru_.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  return removed;
}

std::size_t PidCache::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

std::uint64_t PidCache::evictions() const {
  std::lock_guard lock(mu_);
  return evictions_;
}

}  // namespace shoal::cluster::detail
