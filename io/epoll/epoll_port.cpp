// EventPort over epoll(7): the fallback where io_uring cannot be used (an
// old kernel, or a sandbox that refuses io_uring_setup: Docker's default
// seccomp profile does). Same contract as io/uring/ (event_port.hpp), but
// epoll reports readiness, not completion, so the port makes the syscalls
// itself, inside run():
//
//   accept   listening socket readable → accept4 until EAGAIN, one
//            completion each (`more` while armed)
//   receive  readable → read into a free port buffer until EAGAIN, one
//            completion each; no free buffer → -ENOBUFS, the receive ends
//            (as a provided-buffer ring's does); EOF → 0, the receive ends
//   connect  a non-blocking connect(); writable → SO_ERROR
//   send     tried in the next run(); EAGAIN → tried again once writable
//   cancel   the operation ends now with -ECANCELED (handed out next run)
//
// Level-triggered; epoll_ctl only when a socket's interest changes. Every
// operation costs the thread at least one syscall of its own where
// io_uring batches them in one io_uring_enter: slower (bench/RESULTS.md),
// which is why it is the fallback and not the default.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "io/event_port.hpp"
#include "io/socket.hpp"

namespace shoal::io {

namespace {

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::system_error(err, std::generic_category(), "shoal epoll: " + what);
}

class EpollPort final : public EventPort {
 public:
  explicit EpollPort(const PortConfig& config);
  ~EpollPort() override;
  EpollPort(const EpollPort&) = delete;
  EpollPort& operator=(const EpollPort&) = delete;

  void accept(int listen_fd, std::uint64_t token) override {
    Socket& s = sockets_[listen_fd];
    s.accepting = true;
    s.accept_token = token;
    update(listen_fd);
  }
  void receive(int fd, std::uint64_t token) override {
    Socket& s = sockets_[fd];
    s.receiving = true;
    s.receive_token = token;
    update(fd);
  }
  void connect(int fd, const sockaddr_storage& addr, socklen_t len,
               std::uint64_t token) override {
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) == 0) {
      complete(token, 0);
      return;
    }
    if (errno != EINPROGRESS) {
      complete(token, -errno);
      return;
    }
    Socket& s = sockets_[fd];
    s.connecting = true;
    s.connect_token = token;
    update(fd);
  }
  void send(int fd, std::span<const std::byte> bytes, std::uint64_t token) override {
    Socket& s = sockets_[fd];
    s.sending = true;
    s.send_token = token;
    s.send_bytes = bytes;
    to_send_.push_back(fd);
  }
  void cancel(std::uint64_t token) override;
  void release(std::int32_t buffer) noexcept override {
    if (buffer >= 0 && static_cast<unsigned>(buffer) < buffer_count_) free_.push_back(buffer);
  }
  std::size_t run(std::chrono::nanoseconds timeout,
                  const std::function<void(const Completion&)>& on_each) override;
  void wake() noexcept override { signal_eventfd(wake_fd_); }

 private:
  /// One socket's operations in flight (a receive and a send may both be).
  struct Socket {
    bool accepting = false, receiving = false, connecting = false, sending = false;
    bool send_waits = false;  // the send met EAGAIN: retried once writable
    std::uint64_t accept_token = 0, receive_token = 0, connect_token = 0, send_token = 0;
    std::span<const std::byte> send_bytes;
    std::uint32_t registered = 0;  // the interest epoll has; 0: not in the set
  };

  void complete(std::uint64_t token, std::int32_t result, bool more = false,
                std::int32_t buffer = -1, std::size_t bytes = 0) {
    Completion c;
    c.token = token;
    c.result = result;
    c.more = more;
    c.buffer = buffer;
    if (buffer >= 0 && bytes > 0) {
      c.data = {reinterpret_cast<const std::byte*>(buffer_at(static_cast<unsigned>(buffer))),
                bytes};
    }
    done_.push_back(c);
  }
  /// Tells epoll what `fd` now waits for; forgets a socket with nothing
  /// in flight (its number may be reused once its owner closes it).
  void update(int fd);
  void do_accept(int fd, Socket& s);
  void do_receive(int fd, Socket& s);
  void do_send(int fd, Socket& s);
  void finish_connect(int fd, Socket& s);
  char* buffer_at(unsigned i) const noexcept { return buffers_ + std::size_t{i} * buffer_bytes_; }

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::unordered_map<int, Socket> sockets_;
  std::vector<int> to_send_;        // sockets with a send not yet tried
  std::vector<Completion> done_;    // handed out by the next run()
  std::vector<Completion> handing_;  // what run() hands out now
  std::vector<epoll_event> events_;
  char* buffers_ = nullptr;
  unsigned buffer_count_ = 0;
  std::size_t buffer_bytes_ = 0;
  std::vector<std::int32_t> free_;  // receive buffers not lent out
  bool have_pwait2_ = true;         // nanosecond timeouts (Linux 5.11)
};

EpollPort::EpollPort(const PortConfig& config)
    : events_(64), buffer_count_(config.receive_buffers), buffer_bytes_(config.buffer_bytes) {
  if (buffer_count_ == 0 || (buffer_count_ & (buffer_count_ - 1)) != 0 || buffer_count_ > 32768) {
    throw std::invalid_argument("shoal epoll: receive_buffers must be a power of two ≤ 32768");
  }
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) fail("epoll_create1", errno);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    int err = errno;
    ::close(epoll_fd_);
    fail("cannot create the wake eventfd", err);
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  // Page-aligned buffers, as the uring port's: frames in them can be read
  // in place.
  void* mem = ::mmap(nullptr, buffer_count_ * buffer_bytes_, PROT_READ | PROT_WRITE,
                     MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0 || mem == MAP_FAILED) {
    int err = errno;
    if (mem != MAP_FAILED) ::munmap(mem, buffer_count_ * buffer_bytes_);
    ::close(wake_fd_);
    ::close(epoll_fd_);
    fail("cannot set up the wake eventfd and the receive buffers", err);
  }
  buffers_ = static_cast<char*>(mem);
  free_.reserve(buffer_count_);
  for (unsigned i = buffer_count_; i > 0; --i) free_.push_back(static_cast<std::int32_t>(i - 1));
}

EpollPort::~EpollPort() {
  ::munmap(buffers_, buffer_count_ * buffer_bytes_);
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

void EpollPort::update(int fd) {
  auto it = sockets_.find(fd);
  if (it == sockets_.end()) return;
  Socket& s = it->second;
  std::uint32_t want = ((s.accepting || s.receiving) ? EPOLLIN : 0u) |
                       ((s.connecting || s.send_waits) ? EPOLLOUT : 0u);
  if (want != s.registered) {
    epoll_event ev{};
    ev.events = want;
    ev.data.fd = fd;
    int op = s.registered == 0 ? EPOLL_CTL_ADD : want == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (::epoll_ctl(epoll_fd_, op, fd, &ev) != 0) {
      // Only for a socket closed under an operation (the owner's bug) or
      // out of kernel memory: end what waits on it rather than hang.
      int err = errno;
      if (s.accepting) complete(s.accept_token, -err);
      if (s.receiving) complete(s.receive_token, -err);
      if (s.connecting) complete(s.connect_token, -err);
      if (s.sending && s.send_waits) complete(s.send_token, -err);
      s.accepting = s.receiving = s.connecting = false;
      if (s.send_waits) s.sending = s.send_waits = false;
      want = 0;
      if (s.registered != 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    }
    s.registered = want;
  }
  if (!s.accepting && !s.receiving && !s.connecting && !s.sending) sockets_.erase(it);
}

void EpollPort::cancel(std::uint64_t token) {
  for (auto& [fd, s] : sockets_) {
    bool hit = false;
    if (s.accepting && s.accept_token == token) {
      s.accepting = false;
      hit = true;
    } else if (s.receiving && s.receive_token == token) {
      s.receiving = false;
      hit = true;
    } else if (s.connecting && s.connect_token == token) {
      s.connecting = false;
      hit = true;
    } else if (s.sending && s.send_token == token) {
      s.sending = s.send_waits = false;  // an untried send stays in to_send_: skipped there
      hit = true;
    }
    if (hit) {
      complete(token, -ECANCELED);
      update(fd);  // may erase: leave the loop now
      return;
    }
  }
}

void EpollPort::do_accept(int fd, Socket& s) {
  for (;;) {
    int nfd = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (nfd >= 0) {
      complete(s.accept_token, nfd, true);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    complete(s.accept_token, -errno);  // out of descriptors, ...: the accept ends
    s.accepting = false;
    return;
  }
}

void EpollPort::do_receive(int fd, Socket& s) {
  // A bounded number of reads per readiness: other sockets get their turn.
  for (int reads = 0; reads < 16; ++reads) {
    if (free_.empty()) {
      complete(s.receive_token, -ENOBUFS);
      s.receiving = false;
      return;
    }
    std::int32_t id = free_.back();
    ssize_t n = ::recv(fd, buffer_at(static_cast<unsigned>(id)), buffer_bytes_, MSG_DONTWAIT);
    if (n > 0) {
      free_.pop_back();
      complete(s.receive_token, static_cast<std::int32_t>(n), true, id,
               static_cast<std::size_t>(n));
      if (static_cast<std::size_t>(n) < buffer_bytes_) return;  // drained, most likely
      continue;
    }
    if (n == 0) {
      complete(s.receive_token, 0);  // EOF: the receive ends
      s.receiving = false;
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    complete(s.receive_token, -errno);
    s.receiving = false;
    return;
  }
}

void EpollPort::do_send(int fd, Socket& s) {
  for (;;) {
    ssize_t n = ::send(fd, s.send_bytes.data(), s.send_bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      complete(s.send_token, static_cast<std::int32_t>(n));
      s.sending = s.send_waits = false;
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      s.send_waits = true;
      return;
    }
    complete(s.send_token, -errno);
    s.sending = s.send_waits = false;
    return;
  }
}

void EpollPort::finish_connect(int fd, Socket& s) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  complete(s.connect_token, -err);
  s.connecting = false;
}

std::size_t EpollPort::run(std::chrono::nanoseconds timeout,
                           const std::function<void(const Completion&)>& on_each) {
  // Sends started since the last run: most go out at once.
  std::vector<int> sends;
  sends.swap(to_send_);
  for (int fd : sends) {
    auto it = sockets_.find(fd);
    if (it == sockets_.end() || !it->second.sending || it->second.send_waits) continue;
    do_send(fd, it->second);
    update(fd);
  }
  // Wait only when there is nothing to hand out already.
  timespec ts{};
  if (done_.empty() && timeout > std::chrono::nanoseconds::zero()) {
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
  }
  int n = -1;
  if (have_pwait2_) {
    n = ::epoll_pwait2(epoll_fd_, events_.data(), static_cast<int>(events_.size()), &ts, nullptr);
    if (n < 0 && errno == ENOSYS) have_pwait2_ = false;  // before Linux 5.11
  }
  if (!have_pwait2_) {
    // Milliseconds, rounded up: never a busy loop on a short timer.
    long long ms = (static_cast<long long>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec + 999'999) /
                   1'000'000;
    n = ::epoll_wait(epoll_fd_, events_.data(), static_cast<int>(events_.size()),
                     static_cast<int>(std::min<long long>(ms, 1'000'000)));
  }
  if (n < 0 && errno != EINTR) fail("epoll_wait", errno);
  for (int i = 0; i < n; ++i) {
    int fd = events_[static_cast<std::size_t>(i)].data.fd;
    std::uint32_t ev = events_[static_cast<std::size_t>(i)].events;
    if (fd == wake_fd_) {
      std::uint64_t v;
      while (::read(wake_fd_, &v, sizeof v) < 0 && errno == EINTR) {
      }
      continue;
    }
    auto it = sockets_.find(fd);
    if (it == sockets_.end()) continue;
    Socket& s = it->second;
    if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
      if (s.accepting) do_accept(fd, s);
      if (s.receiving) do_receive(fd, s);
    }
    if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
      if (s.connecting) finish_connect(fd, s);
      if (s.sending && s.send_waits) do_send(fd, s);
    }
    update(fd);
  }
  // Hand out what is done; what the owner starts from its handlers
  // (sends, cancels) completes in the next run.
  handing_.clear();
  handing_.swap(done_);
  for (const Completion& c : handing_) on_each(c);
  return handing_.size();
}

}  // namespace

std::unique_ptr<EventPort> make_epoll_port(const PortConfig& config) {
  return std::make_unique<EpollPort>(config);
}

}  // namespace shoal::io
