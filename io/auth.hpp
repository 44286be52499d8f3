// Authentication of the nodes of one cluster: a shared secret, proved in
// the handshake by challenge and response (wire/frame.capnp, Handshake).
//
// Each side sends a fresh 32-byte nonce; each proves it knows the secret
// with HMAC-SHA256(secret, label || transcript), where the label says the
// role ("shoal/1 acceptor", "shoal/1 dialer": one side's proof is never
// the other's) and the transcript binds the connection's whole handshake:
//
//   transcript = nonce_dialer (32) || nonce_acceptor (32)
//             || u64 len || address_dialer   || u64 incarnation_dialer
//             || u64 len || address_acceptor || u64 incarnation_acceptor
//   (integers little-endian)
//
// So a proof cannot be replayed on another connection (fresh nonces) nor
// carried to another claimed address or incarnation: an address a peer
// claims is the address it proved. The secret never crosses the wire.
// HMAC and the random bytes come from OpenSSL's libcrypto; proofs are
// compared in constant time (CRYPTO_memcmp).
//
// A secret is configuration, never code: read_secret_file() (a file only
// its owner may read) or secret_from_environment(); at least 16 bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "shoal/secret.hpp"

namespace shoal::io {

namespace detail {

inline constexpr std::size_t nonce_bytes = 32;
inline constexpr std::size_t proof_bytes = 32;
using Nonce = std::array<std::byte, nonce_bytes>;
using Proof = std::array<std::byte, proof_bytes>;

/// 32 bytes from the operating system's CSPRNG (through OpenSSL).
Nonce fresh_nonce();
/// A random 64-bit id, never 0 (incarnations, association ids).
std::uint64_t random_id();

/// One side of a handshake, as the transcript names it.
struct HandshakeSide {
  std::span<const std::byte> nonce{};
  std::string_view address;
  std::uint64_t incarnation = 0;
};

enum class Role : std::uint8_t { acceptor, dialer };

/// The proof `role` sends for this handshake.
Proof handshake_proof(std::string_view secret, Role role, const HandshakeSide& dialer,
                      const HandshakeSide& acceptor);
/// Constant-time comparison of a received proof with the expected one.
bool proof_matches(std::span<const std::byte> received, const Proof& expected) noexcept;

}  // namespace detail
}  // namespace shoal::io
