#include "io/socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace shoal::io {

namespace {

/// getaddrinfo over "host:port": every address (just the first if
/// `first_only`); empty when `numeric_only` and the host is a name.
std::vector<SocketAddress> lookup(std::string_view host_port, bool numeric_only, bool first_only) {
  auto bad = [&](const std::string& why) {
    return std::invalid_argument("shoal: address '" + std::string(host_port) + "': " + why);
  };
  auto colon = host_port.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == host_port.size()) {
    throw bad("expected host:port");
  }
  std::string host(host_port.substr(0, colon));
  std::string port(host_port.substr(colon + 1));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (numeric_only ? AI_NUMERICHOST : 0);
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
  if (rc == EAI_NONAME && numeric_only && !host.empty()) return {};
  if (rc != 0) throw bad(::gai_strerror(rc));
  std::vector<SocketAddress> out;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (a->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SocketAddress s;
    std::memcpy(&s.storage, a->ai_addr, a->ai_addrlen);
    s.length = a->ai_addrlen;
    s.text = std::string(host_port);
    bool seen = false;
    for (const SocketAddress& o : out) {
      seen |= o.length == s.length && std::memcmp(&o.storage, &s.storage, s.length) == 0;
    }
    if (!seen) out.push_back(std::move(s));
    if (first_only) break;
  }
  ::freeaddrinfo(found);
  if (out.empty()) throw bad("no usable address");
  return out;
}

}  // namespace

SocketAddress resolve(std::string_view host_port) {
  return std::move(lookup(host_port, false, true).front());
}

std::vector<SocketAddress> resolve_all(std::string_view host_port) {
  return lookup(host_port, false, false);
}

std::optional<SocketAddress> resolve_numeric(std::string_view host_port) {
  std::vector<SocketAddress> a = lookup(host_port, true, true);
  if (a.empty()) return std::nullopt;
  return std::move(a.front());
}

void signal_eventfd(int fd) noexcept {
  std::uint64_t one = 1;
  while (::write(fd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

int tcp_socket(int family) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "shoal: socket");
  if (!set_nodelay(fd)) {
    int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(), "shoal: TCP_NODELAY");
  }
  return fd;
}

bool set_nodelay(int fd) noexcept {
  int one = 1;
  return ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
}

int listen_on(const SocketAddress& at, int backlog, SocketAddress& bound) {
  int fd = tcp_socket(at.storage.ss_family);
  auto fail = [&](const char* what) {
    int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(),
                            std::string("shoal: ") + what + " " + at.text);
  };
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) fail("SO_REUSEADDR on");
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&at.storage), at.length) != 0) fail("bind");
  if (::listen(fd, backlog) != 0) fail("listen on");
  bound = SocketAddress{};
  bound.length = sizeof bound.storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound.storage), &bound.length) != 0) {
    fail("getsockname for");
  }
  bound.text = to_text(bound.storage);
  return fd;
}

std::string to_text(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = {};
  unsigned port = 0;
  if (addr.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
    ::inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
    port = ntohs(a.sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    ::inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
    port = ntohs(a.sin6_port);
    std::string out = "[";  // appended: g++ 12 warns falsely (-Wrestrict) on "[" + string
    out += host;
    out += "]:";
    out += std::to_string(port);
    return out;
  }
  return "?";
}

}  // namespace shoal::io
