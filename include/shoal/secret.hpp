// A cluster's shared secret, as a node is given it (NodeConfig::secret):
// read from a file only its owner may read, or from the environment.
// io/auth.hpp proves it in the handshake.
#pragma once

#include <cstddef>
#include <string>

namespace shoal::io {

/// The shortest secret a Node accepts.
inline constexpr std::size_t min_secret_bytes = 16;

/// The secret in the file at `path` (one trailing newline dropped). Throws
/// std::runtime_error if it cannot be read, is shorter than
/// min_secret_bytes, or can be read or written by group or others.
std::string read_secret_file(const std::string& path);
/// The secret in environment variable `name`; throws std::runtime_error if
/// it is unset or shorter than min_secret_bytes.
std::string secret_from_environment(const char* name = "SHOAL_CLUSTER_SECRET");

}  // namespace shoal::io
