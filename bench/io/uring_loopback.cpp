// uring-loopback: the raw io_uring limit on loopback TCP that shoal's
// remote numbers are compared with (bench/RESULTS.md). No actors, no
// frames: bytes only, between two processes (fork), with the ring set up
// as shoal's port sets it up (SINGLE_ISSUER | DEFER_TASKRUN).
//
//   uring-loopback throughput [SECONDS]   64-byte messages in 64 KiB sends
//   uring-loopback rtt [ROUND_TRIPS]       64-byte ping-pong, both busy-polling
//   uring-loopback rtt-sleeping [ROUND_TRIPS]
//                                          the same, each side sleeping in its
//                                          ring between messages (one thread per
//                                          process that parks where its socket is)
//   uring-loopback rtt-handoff [ROUND_TRIPS] [IDLE]
//                                          the same, but as shoal's dedicated io
//                                          thread does it: per process, an io
//                                          thread owns the ring and hands each
//                                          message to an "actor" thread and back
//                                          (spin-waiting, yielding every eighth
//                                          look as shoal's workers do), beside
//                                          IDLE more threads that only spin and
//                                          yield (shoal's idle workers; default 1)
//
// Prints one line per figure: "throughput 12.3 M msg/s" or
// "rtt p50 7.9 us p99 10.1 us p99.9 15.0 us".
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t message = 64;

[[noreturn]] void die(const char* what, int err) {
  std::fprintf(stderr, "uring-loopback: %s: %s\n", what, std::strerror(err));
  std::exit(1);
}

void ring_init(io_uring& ring) {
  io_uring_params p{};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int rc = io_uring_queue_init_params(64, &ring, &p);
  if (rc < 0) die("io_uring_queue_init", -rc);
}

/// rtt-sleeping: the thread sleeps in the ring instead of busy-polling.
bool sleep_in_ring = false;

/// Submits the one queued entry and busy-polls (or sleeps) for its
/// completion's result.
int complete_one(io_uring& ring) {
  io_uring_cqe* cqe = nullptr;
  if (sleep_in_ring) {
    int rc = io_uring_submit_and_wait(&ring, 1);
    if (rc < 0) die("io_uring_submit_and_wait", -rc);
    while (io_uring_peek_cqe(&ring, &cqe) != 0) io_uring_submit_and_wait(&ring, 1);
  } else {
    do {
      io_uring_submit_and_get_events(&ring);
    } while (io_uring_peek_cqe(&ring, &cqe) != 0);
  }
  int n = cqe->res;
  io_uring_cqe_seen(&ring, cqe);
  return n;
}

/// Sends `len` bytes from `buf` through the ring, busy-polling.
void ring_send_all(io_uring& ring, int fd, const char* buf, std::size_t len) {
  while (len > 0) {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    io_uring_prep_send(s, fd, buf, len, MSG_NOSIGNAL);
    int n = complete_one(ring);
    if (n <= 0) die("send", n < 0 ? -n : EPIPE);
    buf += n;
    len -= static_cast<std::size_t>(n);
  }
}

/// Receives exactly `len` bytes, busy-polling; false at EOF.
bool ring_recv_all(io_uring& ring, int fd, char* buf, std::size_t len) {
  while (len > 0) {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    io_uring_prep_recv(s, fd, buf, len, 0);
    int n = complete_one(ring);
    if (n == 0) return false;
    if (n < 0) die("recv", -n);
    buf += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

/// A connected pair of sockets across a fork: returns the fd for this
/// side; `child` tells which side this is.
int connected_pair(bool& child) {
  int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind", errno);
  if (::listen(ls, 1) != 0) die("listen", errno);
  ::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &alen);
  pid_t pid = ::fork();
  if (pid < 0) die("fork", errno);
  int one = 1;
  if (pid == 0) {
    child = true;
    ::close(ls);
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect", errno);
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }
  child = false;
  int fd = ::accept(ls, nullptr, nullptr);
  ::close(ls);
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

int throughput(double seconds) {
  bool child = false;
  int fd = connected_pair(child);
  io_uring ring;
  ring_init(ring);
  std::vector<char> buf(64 << 10, 'x');
  if (child) {  // the sender
    auto until = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < until) ring_send_all(ring, fd, buf.data(), buf.size());
    ::shutdown(fd, SHUT_WR);
    char c;
    (void)::read(fd, &c, 1);  // until the receiver closes
    std::exit(0);
  }
  std::size_t total = 0;
  auto t0 = Clock::now();
  for (;;) {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    io_uring_prep_recv(s, fd, buf.data(), buf.size(), 0);
    int n = complete_one(ring);
    if (n <= 0) break;
    total += static_cast<std::size_t>(n);
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  ::close(fd);
  ::wait(nullptr);
  std::printf("throughput %.1f M msg/s (%zu-byte messages, %.2f GB/s)\n",
              double(total / message) / s / 1e6, message, double(total) / s / 1e9);
  return 0;
}

int rtt(std::size_t round_trips) {
  bool child = false;
  int fd = connected_pair(child);
  io_uring ring;
  ring_init(ring);
  char buf[message] = {};
  if (child) {  // the echo
    while (ring_recv_all(ring, fd, buf, message)) ring_send_all(ring, fd, buf, message);
    std::exit(0);
  }
  std::vector<double> us;
  us.reserve(round_trips);
  for (std::size_t i = 0; i < round_trips + 1000; ++i) {
    auto t0 = Clock::now();
    ring_send_all(ring, fd, buf, message);
    if (!ring_recv_all(ring, fd, buf, message)) die("echo closed", EPIPE);
    if (i >= 1000) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  ::close(fd);
  ::wait(nullptr);
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[static_cast<std::size_t>(q * double(us.size() - 1))]; };
  std::printf("rtt p50 %.1f us p99 %.1f us p99.9 %.1f us (%zu round trips, %s)\n", at(0.5),
              at(0.99), at(0.999), us.size(),
              sleep_in_ring ? "sleeping in the ring" : "busy-polling");
  return 0;
}

/// Spin-waits until `flag` differs from `seen`, yielding every eighth
/// look (as shoal's workers spin); returns the new value.
std::uint64_t await_change(const std::atomic<std::uint64_t>& flag, std::uint64_t seen,
                           const std::atomic<bool>& stop) {
  for (unsigned looks = 1;; ++looks) {
    // acquire: pairs with the release store of whoever changed it.
    std::uint64_t v = flag.load(std::memory_order_acquire);
    if (v != seen || stop.load(std::memory_order_relaxed)) return v;  // relaxed: a stop hint
    if (looks % 8 == 0) sched_yield();
  }
}

/// One side of rtt-handoff: an io thread that owns the ring, and the
/// handoffs to and from the actor thread (one message in flight).
struct HandoffSide {
  std::atomic<std::uint64_t> to_io{0};     // actor → io: messages to send
  std::atomic<std::uint64_t> to_actor{0};  // io → actor: messages received
  std::atomic<bool> stop{false};

  void io_thread(int fd) {
    io_uring ring;
    ring_init(ring);
    char in[message] = {}, out[message] = {};
    std::size_t got = 0;
    auto arm_recv = [&] {
      io_uring_sqe* s = io_uring_get_sqe(&ring);
      io_uring_prep_recv(s, fd, in + got, message - got, 0);
      io_uring_sqe_set_data64(s, 1);
    };
    arm_recv();
    std::uint64_t sent = 0, received = 0;
    for (unsigned idle = 1; !stop.load(std::memory_order_relaxed); ++idle) {  // relaxed: a hint
      // acquire: pairs with the actor's release increment.
      if (to_io.load(std::memory_order_acquire) != sent) {
        ++sent;
        io_uring_sqe* s = io_uring_get_sqe(&ring);
        io_uring_prep_send(s, fd, out, message, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(s, 2);
        idle = 0;
      }
      io_uring_submit_and_get_events(&ring);
      io_uring_cqe* cqe;
      while (io_uring_peek_cqe(&ring, &cqe) == 0) {
        std::uint64_t tag = io_uring_cqe_get_data64(cqe);
        int n = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
        idle = 0;
        if (tag == 2) {
          if (n != static_cast<int>(message)) die("send", n < 0 ? -n : EPIPE);
          continue;
        }
        if (n <= 0) {  // the peer closed: the run is over
          stop.store(true, std::memory_order_relaxed);  // relaxed: a hint
          break;
        }
        got += static_cast<std::size_t>(n);
        if (got == message) {
          got = 0;
          // release: the actor reads after it sees the count.
          to_actor.store(++received, std::memory_order_release);
        }
        arm_recv();
      }
      if (idle % 8 == 0) sched_yield();
    }
    io_uring_queue_exit(&ring);
  }
};

/// Threads that only spin and yield, as shoal's idle workers do.
struct Idlers {
  Idlers(unsigned n, const std::atomic<bool>& stop) {
    for (unsigned i = 0; i < n; ++i) {
      threads.emplace_back([&stop] {
        std::atomic<std::uint64_t> never{0};
        while (!stop.load(std::memory_order_relaxed)) await_change(never, 0, stop);  // relaxed: a hint
      });
    }
  }
  ~Idlers() {
    for (auto& t : threads) t.join();
  }
  std::vector<std::thread> threads;
};

int rtt_handoff(std::size_t round_trips, unsigned idle_threads) {
  bool child = false;
  int fd = connected_pair(child);
  HandoffSide side;
  std::thread io([&] { side.io_thread(fd); });
  if (child) {  // the echo: answer every message it is handed
    {
      Idlers idlers(idle_threads, side.stop);
      for (std::uint64_t seen = 0;;) {
        seen = await_change(side.to_actor, seen, side.stop);
        if (side.stop.load(std::memory_order_relaxed)) break;  // relaxed: a hint
        side.to_io.fetch_add(1, std::memory_order_release);  // release: pairs with the io thread's acquire
      }
    }
    io.join();
    std::exit(0);
  }
  std::vector<double> us;
  us.reserve(round_trips);
  {
    Idlers idlers(idle_threads, side.stop);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < round_trips + 1000; ++i) {
      auto t0 = Clock::now();
      side.to_io.fetch_add(1, std::memory_order_release);  // release: pairs with the io thread's acquire
      seen = await_change(side.to_actor, seen, side.stop);
      if (i >= 1000) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    side.stop.store(true, std::memory_order_relaxed);  // relaxed: a hint
  }
  io.join();
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
  ::wait(nullptr);
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[static_cast<std::size_t>(q * double(us.size() - 1))]; };
  std::printf("rtt-handoff p50 %.1f us p99 %.1f us p99.9 %.1f us (%zu round trips, io thread + "
              "actor thread + %u idle per process)\n",
              at(0.5), at(0.99), at(0.999), us.size(), idle_threads);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string what = argc > 1 ? argv[1] : "";
  if (what == "throughput") return throughput(argc > 2 ? std::atof(argv[2]) : 3.0);
  if (what == "rtt" || what == "rtt-sleeping") {
    sleep_in_ring = what == "rtt-sleeping";
    return rtt(argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 20000);
  }
  if (what == "rtt-handoff") {
    return rtt_handoff(argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 20000,
                       argc > 3 ? static_cast<unsigned>(std::strtoul(argv[3], nullptr, 10)) : 1);
  }
  std::fprintf(stderr,
               "usage: uring-loopback throughput [SECONDS] | rtt [ROUND_TRIPS] | rtt-sleeping "
               "[ROUND_TRIPS] | "
               "rtt-handoff [ROUND_TRIPS] [IDLE]\n");
  return 2;
}
