// EventPort: the seam between shoal's transport and the platform's
// asynchronous I/O. The transport speaks in operations (accept, receive,
// connect, send) that complete later with a token it chose; the port
// decides how. `io/uring/` implements it with io_uring (nothing outside
// `io/uring/` includes <liburing.h>); `io/epoll/` with epoll, the fallback
// where io_uring cannot be used.
//
// Threading: one port per io thread. Everything here is owner-only except
// `wake`, which any thread may call to end a `run` that is waiting.
//
// Receive buffers belong to the port (io_uring: a provided-buffer ring): a
// receive completion lends one; the owner gives it back with `release`
// once it has read it, and should do so promptly (the port has a fixed
// number; when all are lent, receives pause with ENOBUFS until one
// returns, and `receive` must be called again).
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace shoal::io {

/// One finished operation, or one result of a multishot operation.
struct Completion {
  std::uint64_t token = 0;  ///< what the operation was started with
  std::int32_t result = 0;  ///< ≥ 0: bytes, or the accepted fd; < 0: -errno
  /// More completions will follow for this token (a multishot accept or
  /// receive is still armed). When false, the operation has ended.
  bool more = false;
  /// Receive: the bytes, lent until release(buffer).
  std::span<const std::byte> data;
  std::int32_t buffer = -1;  ///< receive: the buffer to release; -1: none
};

struct PortConfig {
  unsigned entries = 256;            ///< submission queue size
  unsigned receive_buffers = 64;     ///< power of two
  std::size_t buffer_bytes = 64 << 10;
};

class EventPort {
 public:
  virtual ~EventPort() = default;

  /// Accepts connections on `listen_fd` until cancelled or failed: one
  /// completion per connection (result = the new fd), `more` while armed.
  virtual void accept(int listen_fd, std::uint64_t token) = 0;
  /// Receives on `fd` into port buffers until EOF (result 0), an error, or
  /// ENOBUFS (then call again after releasing buffers).
  virtual void receive(int fd, std::uint64_t token) = 0;
  /// Connects `fd` (non-blocking socket) to `addr`; result 0 or -errno.
  /// `addr` is copied.
  virtual void connect(int fd, const sockaddr_storage& addr, socklen_t len,
                       std::uint64_t token) = 0;
  /// Sends from `bytes`, which must stay valid and unchanged until the
  /// completion; result = bytes sent (may be fewer: send the rest again).
  virtual void send(int fd, std::span<const std::byte> bytes, std::uint64_t token) = 0;
  /// Asks the operation started with `token` to end early (it completes
  /// with -ECANCELED, or normally if it was finishing anyway).
  virtual void cancel(std::uint64_t token) = 0;
  /// Gives a receive buffer back.
  virtual void release(std::int32_t buffer) noexcept = 0;

  /// Submits what was started, then hands every completion to `on_each`,
  /// waiting up to `timeout` for the first one (zero: do not wait) or until
  /// wake(). Returns how many completions it handed over.
  virtual std::size_t run(std::chrono::nanoseconds timeout,
                          const std::function<void(const Completion&)>& on_each) = 0;
  /// Ends a run() that waits, now or the next time one waits. Thread-safe,
  /// async-signal-unsafe, never blocks.
  virtual void wake() noexcept = 0;
};

/// The io_uring port (io/uring/uring_port.cpp). Throws std::runtime_error
/// saying which feature is missing when the kernel lacks one it needs.
std::unique_ptr<EventPort> make_uring_port(const PortConfig& config = {});

/// Why io_uring cannot be used here, or "" if it can (probed once).
std::string uring_unavailable_reason();

/// The epoll port (io/epoll/epoll_port.cpp): the same contract over
/// readiness notifications, for where io_uring is unavailable. Slower: a
/// syscall per operation.
std::unique_ptr<EventPort> make_epoll_port(const PortConfig& config = {});

}  // namespace shoal::io
