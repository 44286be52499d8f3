// TLS for a node's connections: TLS 1.3 with an external pre-shared key
// derived from the cluster secret (io/auth.hpp), through OpenSSL, in
// memory: no certificates to issue, and the io thread keeps reading and
// writing plain buffers through its port (io_uring or epoll) — OpenSSL
// only turns ciphertext into plaintext and back (its BIO reads the bytes
// given and writes onto the vector given).
//
//   TlsContext ctx(secret);                  // one per node
//   TlsSession s(ctx, TlsSession::Role::client);
//   s.start(to_send);                        // the ClientHello
//   s.receive(bytes_in, plain, to_send);     // handshake, then records
//   s.send(frames, to_send);                 // once established()
//
// Why a PSK and not certificates: the nodes of one cluster already share a
// secret; TLS 1.3's PSK mode (RFC 8446 §2.2, psk_dhe_ke: the key exchange
// still gives forward secrecy) authenticates both sides with it and
// encrypts, with nothing more to configure. Why not kTLS: where the kernel
// has it, OpenSSL can hand the record layer to the socket (SSL_OP_ENABLE_KTLS);
// this machine's kernel offers no "tls" ULP (net/ipv4/tcp_available_ulp
// lists only mptcp), so records are sealed here.
//
// NodeConfig::tls: each Connection owns one (io/connection.hpp). io thread
// only; no synchronisation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::io {

/// What every TLS session of a node shares: the SSL_CTX of each role and
/// the pre-shared key. Immutable once made; any thread.
class TlsContext {
 public:
  /// Throws std::runtime_error if OpenSSL cannot make the contexts, or if
  /// `secret` is shorter than min_secret_bytes.
  explicit TlsContext(std::string_view secret);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  struct Impl;
  Impl& impl() const noexcept { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

/// One connection's TLS state.
class TlsSession {
 public:
  enum class Role : std::uint8_t { client, server };

  TlsSession(const TlsContext& ctx, Role role);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  /// Client: appends the first handshake flight to `to_send`. Server:
  /// nothing. False on error (`error()` says why).
  bool start(std::vector<std::byte>& to_send);
  /// Takes bytes that came from the peer: advances the handshake, appends
  /// any plaintext to `plain` and any bytes due to the peer (handshake
  /// flights, alerts) to `to_send`. False on a failed handshake, a record
  /// that does not authenticate, or the peer's close (`error()` says which);
  /// the connection must then close (after sending `to_send`).
  bool receive(std::span<const std::byte> in, std::vector<std::byte>& plain,
               std::vector<std::byte>& to_send);
  /// Seals `plain` into records appended to `to_send`. Only once
  /// established(). False on error.
  bool send(std::span<const std::byte> plain, std::vector<std::byte>& to_send);
  /// The handshake is done: both sides proved the key.
  bool established() const noexcept { return established_; }
  const std::string& error() const noexcept { return error_; }

 private:
  bool step();
  bool fail(const char* what);

 public:
  struct Ssl;  ///< the SSL and what its BIO reads and writes (tls.cpp)

 private:
  std::unique_ptr<Ssl> ssl_;
  /// One record's plaintext at most (TLS: 2^14 bytes).
  static constexpr std::size_t scratch_bytes = 16384;
  std::unique_ptr<std::byte[]> scratch_;  ///< uninitialised: SSL_read's target
  bool established_ = false;
  std::string error_;
};

}  // namespace shoal::io
