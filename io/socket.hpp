// Sockets: addresses and the plain syscalls around a TCP connection
// (socket, bind, listen, options). The asynchronous part — accept,
// connect, send, receive — goes through the EventPort.
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::io {

/// A resolved TCP address and how it was written.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string text;  ///< "host:port" as given (or as bound, for a listener)
};

/// Resolves "host:port" ("127.0.0.1:7000", "localhost:7000", "[::1]:7000").
/// Throws std::invalid_argument naming the address when it cannot. May
/// block on a name lookup (DNS): never call it on an io thread for a name.
SocketAddress resolve(std::string_view host_port);
/// Every address "host:port" resolves to, in getaddrinfo's order (a host
/// with IPv6 and IPv4 addresses gives both), duplicates left out. Throws
/// and blocks as resolve().
std::vector<SocketAddress> resolve_all(std::string_view host_port);

/// The same for a numeric host ("127.0.0.1:7000", "[::1]:7000", ":7000"):
/// never blocks. Empty for a host name, which needs resolve().
std::optional<SocketAddress> resolve_numeric(std::string_view host_port);

/// A non-blocking, close-on-exec TCP socket listening on `at` (port 0:
/// any free port); `bound` receives the address it got. Throws
/// std::system_error naming the address.
int listen_on(const SocketAddress& at, int backlog, SocketAddress& bound);

/// Adds one to an eventfd's counter (an event port's wake-up). EINTR
/// retries; a full counter (2^64 - 2 pending) cannot happen. Never blocks.
void signal_eventfd(int fd) noexcept;

/// A non-blocking, close-on-exec TCP socket for `family`, TCP_NODELAY set.
/// Throws std::system_error.
int tcp_socket(int family);

/// Sets TCP_NODELAY (frames are already coalesced; Nagle would only add
/// latency). Returns false (errno set) on failure.
bool set_nodelay(int fd) noexcept;

/// "host:port" of a socket address.
std::string to_text(const sockaddr_storage& addr);

}  // namespace shoal::io
