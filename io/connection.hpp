// Connection: one TCP connection's bytes, on the io thread.
//
// Inbound: receive completions lend buffers of arbitrary length; `feed`
// cuts them into frames. A frame that lies whole and 8-byte aligned in the
// lent buffer is read in place; what straddles buffers is copied into an
// aligned reassembly buffer first. The header is checked against the
// limits before anything is buffered, so an oversized frame is refused
// from its first bytes.
//
// Outbound: frames are appended to `out`; one send is in flight at a time
// (from `flight`), so bytes leave in order and a partial send just sends
// the rest. While a send is in flight, new frames gather in `out`: the
// next send carries all of them (coalescing by "queue drained", never by
// a timer).
//
// TLS (NodeConfig::tls): the connection owns a TlsSession between the
// socket and the frames. Received bytes are opened into `plain_in` before
// `feed`; `out` keeps plaintext frames, sealed into records as they move
// into flight; the session's own bytes (its handshake flights, alerts)
// wait in `tls_out` and go first. Frames written before the TLS handshake
// is done (the dialer's shoal handshake) wait in `out` until it is.
//
// io thread only; no synchronisation.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/auth.hpp"
#include "io/tls.hpp"
#include "wire/frame_codec.hpp"

namespace shoal::io {

class Endpoint;

class Connection {
 public:
  enum class State : std::uint8_t {
    connecting,   ///< dialed, connect not complete
    handshaking,  ///< connected; no handshake from the peer yet
    open,         ///< handshake done: user frames flow
    closing,      ///< shut down; waiting for outstanding operations to end
  };

  /// What the peer's handshake said, kept until the association opens
  /// (and carried along when the connection moves to another io thread).
  struct Hello {
    std::uint64_t incarnation = 0;
    std::uint64_t association = 0;  ///< 0: not said
    wire::FrameLimits limits{};     ///< what the peer accepts
    bool has_nonce = false;         ///< it asked to authenticate
    detail::Nonce nonce{};
  };

  Connection(std::uint64_t serial, int fd, bool dialed);
  ~Connection();  // closes the fd
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Cuts `data` into frames, calling `on_frame` with each whole frame
  /// (aligned, valid only during the call). False on a framing error
  /// (`error` says which); the connection must then be closed.
  bool feed(std::span<const std::byte> data, const wire::FrameLimits& limits,
            const std::function<void(std::span<const std::byte>)>& on_frame,
            wire::FrameError& error);
  /// Gives up the socket: the destructor will not close it.
  int release_fd() noexcept {
    owns_fd_ = false;
    return fd;
  }
  /// Bytes held for an incomplete frame.
  std::size_t buffered() const noexcept { return pending_bytes_; }
  /// When the incomplete frame's first bytes came (valid while buffered()).
  std::chrono::steady_clock::time_point partial_since() const noexcept { return partial_since_; }

  /// Moves `out` into flight if nothing is in flight and there is
  /// something to send (with TLS: `tls_out`, then `out` sealed, once the
  /// session is established); returns the bytes to send now (empty:
  /// nothing, or sealing failed: then `tls_failed` is set).
  std::span<const std::byte> next_send();
  /// A send of `n` bytes completed (`sending` is false once the flight is
  /// done). Returns how many bytes of `out` it carried, for the booking:
  /// `n` without TLS; with TLS, the flight's plaintext once its last
  /// record went.
  std::size_t sent(std::size_t n) noexcept;
  /// Frames are waiting that a send could carry now.
  bool has_sendable() const noexcept {
    return !tls_out.empty() || (!out.empty() && (!tls || tls->established()));
  }
  /// What a send in flight still has to send.
  std::span<const std::byte> rest_of_flight() const noexcept;

  const std::uint64_t serial;
  const int fd;
  const bool dialed;
  State state;
  std::shared_ptr<Endpoint> endpoint;  ///< dialed: from the start; accepted: after the handshake
  std::string peer;                    ///< the peer's address, for messages

  std::vector<std::byte> out;          ///< frames not yet in flight
  std::uint64_t out_messages = 0;      ///< user messages in `out`
  std::uint64_t flight_messages = 0;   ///< user messages in the flight
  bool sending = false;                ///< a send is in flight
  bool receiving = false;              ///< a multishot receive is armed
  bool connect_pending = false;        ///< a connect is in flight
  bool rejected_duplicate = false;     ///< the peer kept its own dial instead
  bool peer_said_goodbye = false;      ///< the peer is shutting down (no error to report)
  bool close_when_sent = false;        ///< refused: close once `out` is sent
  /// Accepted, handshake valid, and its peer's endpoint lives on another
  /// io thread: the receive is being cancelled, then the socket moves
  /// there. (Not `endpoint`: the endpoint's state is its home thread's.)
  std::shared_ptr<Endpoint> handover_to;
  std::uint64_t handover_incarnation = 0;  ///< the peer's, from its handshake

  std::chrono::steady_clock::time_point deadline{};   ///< connect + handshake
  std::chrono::steady_clock::time_point last_heard{};
  std::chrono::steady_clock::time_point last_sent{};

  /// What `feed` accepts now: a handshake's worth until the association
  /// opens (NodeConfig::handshake_frame_bytes), then the node's limits.
  wire::FrameLimits receive_limits{};
  /// Authentication: this side's nonce (sent in its handshake).
  detail::Nonce nonce{};
  Hello hello;                 ///< the peer's handshake
  bool awaiting_auth = false;  ///< acceptor: answered; the dialer's proof is due
  /// Accepted, handshake answered, waiting for the dialer's proof: the
  /// endpoint its claimed address names (not bound until the proof checks).
  std::shared_ptr<Endpoint> claimed;
  bool half_open = false;  ///< accepted and counted as half-open (NodeImpl)
  bool counted = false;    ///< counted in NodeImpl::connections_now
  /// Bytes of `out` and the flight booked against the endpoint's byte
  /// bound (Endpoint::book); given back as sends complete or at close.
  std::size_t booked = 0;

  /// TLS (NodeConfig::tls); null: plain TCP.
  std::unique_ptr<TlsSession> tls;
  std::vector<std::byte> tls_out;   ///< the session's own bytes, due before `out`
  std::vector<std::byte> plain_in;  ///< a receive's bytes, opened (reused)
  bool tls_failed = false;          ///< sealing failed: the connection must close
  bool tls_heard = false;           ///< bytes came through the session already

 private:
  bool drain_pending(const wire::FrameLimits& limits,
                     const std::function<void(std::span<const std::byte>)>& on_frame,
                     wire::FrameError& error);

  bool owns_fd_ = true;
  std::vector<std::byte> flight_;
  std::size_t flight_done_ = 0;
  std::size_t flight_plain_ = 0;  ///< bytes of `out` sealed into a TLS flight
  // Reassembly: words, so frames in it are aligned.
  std::vector<std::uint64_t> pending_;
  std::size_t pending_bytes_ = 0;
  std::chrono::steady_clock::time_point partial_since_{};
};

}  // namespace shoal::io
