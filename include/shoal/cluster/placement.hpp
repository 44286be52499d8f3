// Placement: which member owns a grain. Rendezvous (highest random weight)
// hashing over the members that host the grain's kind, as Proto.Actor's
// "disthash" identity lookup does: every member computes the same owner from
// the same view, with no coordination, and when a member joins or leaves only
// the identities it wins or held move (O(moved), not a reshuffle).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "shoal/cluster/membership.hpp"

namespace shoal::cluster {

/// A grain's address in the cluster: its kind and its identity in that kind.
struct GrainId {
  std::string kind;
  std::string identity;
  friend bool operator==(const GrainId&, const GrainId&) = default;
};

/// A 64-bit hash of bytes, stable across processes, builds and machines
/// (FNV-1a, then a finaliser that spreads every input bit over the word):
/// placement must agree between members built by different compilers.
std::uint64_t stable_hash(std::string_view bytes) noexcept;

/// The member's weight for a grain: high for a few members, low for the
/// rest, independently per grain.
std::uint64_t rendezvous_weight(std::uint64_t member_hash, std::uint64_t grain_hash) noexcept;

/// The owner of `grain` in `view`: of the members that host its kind, the
/// one with the highest weight (ties, which need equal 64-bit weights, go to
/// the smaller id). Null if no member hosts the kind. Points into `view`.
const Member* owner_of(const Topology& view, const GrainId& grain);

}  // namespace shoal::cluster
