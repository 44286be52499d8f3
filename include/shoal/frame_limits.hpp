// What a node accepts from a peer (NodeConfig::limits): frame size,
// segments, nesting, tables. Said in the handshake; wire/frame_codec.hpp
// enforces them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shoal::wire {

/// Longest type name, actor name or node address the wire accepts.
inline constexpr std::size_t max_name_bytes = 256;

/// What a receiver accepts. Both ends use the defaults unless configured.
struct FrameLimits {
  std::size_t max_frame_bytes = 8u << 20;  ///< header + segments
  std::uint32_t max_segments = 64;
  int max_nesting = 16;                        ///< Cap'n Proto nesting limit
  std::uint32_t max_envelopes = 1u << 16;      ///< per batch
  std::uint32_t max_table_entries = 1u << 16;  ///< per batch table
  /// Cap'n Proto's traversal limit as a multiple of the frame's size: a
  /// frame whose pointers overlap cannot make a reader do more than this.
  std::uint32_t traversal_factor = 4;
};

}  // namespace shoal::wire
