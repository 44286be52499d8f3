#include "shoal/cluster/placement.hpp"

namespace shoal::cluster {

namespace {

/// A finaliser with full avalanche (each input bit flips each output bit
/// with probability about one half): the constants of MurmurHash3's fmix64.
std::uint64_t mix(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

std::uint64_t grain_hash(const GrainId& g) noexcept {
  // The kind and the identity apart: ("ab", "c") is not ("a", "bc").
  return mix(stable_hash(g.kind) * 31 + stable_hash(g.identity));
}

}  // namespace

std::uint64_t stable_hash(std::string_view bytes) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, 64 bits
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return mix(h);
}

std::uint64_t rendezvous_weight(std::uint64_t member_hash, std::uint64_t grain_hash) noexcept {
  // Mixed again after combining: a plain xor would rank members in the same
  // order for grains whose hashes share their high bits.
  return mix(member_hash ^ mix(grain_hash + 0x9e3779b97f4a7c15ULL));
}

const Member* owner_of(const Topology& view, const GrainId& grain) {
  const std::uint64_t g = grain_hash(grain);
  const Member* best = nullptr;
  std::uint64_t best_weight = 0;
  std::string best_id;
  for (const Member& m : view.members) {
    if (!m.hosts(grain.kind)) continue;
    std::string id = m.id();
    const std::uint64_t w = rendezvous_weight(stable_hash(id), g);
    if (best == nullptr || w > best_weight || (w == best_weight && id < best_id)) {
      best = &m;
      best_weight = w;
      best_id = std::move(id);
    }
  }
  return best;
}

}  // namespace shoal::cluster
