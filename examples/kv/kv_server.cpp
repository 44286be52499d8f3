// kv_server: a TCP key-value server whose own I/O thread (main) runs an epoll
// loop, while the data lives in Store actors (kv_store.hpp). The way a
// server embeds shoal:
//
//   clients ──TCP──> epoll loop (main thread) ──request──> Store shards (workers)
//                        ^                                     │ respond
//                        └── CompletionQueue (its fd in epoll) <┘
//
// The loop waits on the listening socket, the connections, a signalfd and
// the CompletionQueue's fd. Each request line goes to the shard that owns
// its key as a request whose sender is the queue (queue.pid()), so the
// shard's respond() lands in the queue; when epoll says the queue's fd is
// readable the loop drains it, on this thread, and writes each answer to its
// connection. No mutex, no per-request thread hand-off: a shard's answer
// costs one atomic exchange, and a burst of answers one eventfd write.
// COUNT shows the other way in: request futures whose then(queue, f)
// continuations the drain runs.
//
// Protocol, one line each way (answers in request order per connection, also
// when a client pipelines):
//   GET k -> VALUE v | NOT_FOUND     SET k v -> OK     DEL k -> DELETED | NOT_FOUND
//   COUNT -> COUNT n                 SHUTDOWN -> BYE (and the server stops)
//   anything else -> ERROR ...
//
//   build/examples/kv_server [--port P] [--shards N] [--workers N]
//
// Prints "kv_server: listening on 127.0.0.1:<port>" as its first line (port
// 0, the default, lets the kernel pick), then serves until SIGINT, SIGTERM or
// SHUTDOWN, and exits 0.
#include <shoal/shoal.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kv_store.hpp"

using namespace std::chrono_literals;

namespace kv {
namespace {

[[noreturn]] void die(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

/// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

/// A listening TCP socket on 127.0.0.1:`port` (0: any free port).
Fd listen_on(std::uint16_t port) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (s.get() < 0) die("socket");
  const int one = 1;
  ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind");
  if (::listen(s.get(), 128) != 0) die("listen");
  return s;
}

std::uint16_t port_of(const Fd& s) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) die("getsockname");
  return ntohs(a.sin_port);
}

/// One client. Its requests are numbered; answers may come back from the
/// shards in any order and wait in `answers` until those before them are in.
struct Connection {
  Fd fd;
  std::string in;                                  // read, not yet a whole line
  std::string out;                                 // to write
  std::uint64_t next_seq = 0;                      // the next request's number
  std::uint64_t first_unanswered = 0;              // the number of answers.front()
  std::deque<std::optional<std::string>> answers;  // one per request not yet written
  bool writing = false;                            // EPOLLOUT asked for: `out` did not all fit
};

class Server {
 public:
  Server(shoal::ActorSystem& system, unsigned shards, Fd listener, Fd signals)
      : system_(system),
        queue_(system),
        listener_(std::move(listener)),
        signals_(std::move(signals)),
        epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (epoll_.get() < 0) die("epoll_create1");
    for (unsigned i = 0; i < shards; ++i) shards_.push_back(system_.spawn<Store>());
    watch(listener_.get(), listener_tag, EPOLLIN);
    watch(signals_.get(), signals_tag, EPOLLIN);
    // The queue's fd is readable while answers wait (level-triggered).
    watch(queue_.fd(), queue_tag, EPOLLIN);
  }
  ~Server() {
    // Out of the epoll set before the queue closes (completion_queue.hpp).
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, queue_.fd(), nullptr);
  }

  /// Serves until a signal, or a SHUTDOWN and the answers asked before it.
  void run() {
    epoll_event events[64];
    for (;;) {
      const int n = ::epoll_wait(epoll_.get(), events, 64, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) die("epoll_wait");
      for (int i = 0; i < n; ++i) {
        const std::uint64_t tag = events[i].data.u64;
        if (tag == listener_tag) {
          accept_all();
        } else if (tag == signals_tag) {
          signalfd_siginfo info;
          if (::read(signals_.get(), &info, sizeof info) == sizeof info) {
            std::printf("kv_server: %s, stopping\n",
                        info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
          }
          return;  // at once: answers still on their way are dropped
        } else if (tag == queue_tag) {
          // The answers the shards sent to queue_.pid(), and the COUNT
          // continuations: all run here, on this thread.
          queue_.drain([this](shoal::Envelope& e) {
            if (Reply* r = e.get<Reply>()) answer(r->conn, r->seq, std::move(r->line));
          });
        } else {
          on_connection(tag, events[i].events);
        }
      }
      // One write per connection per round, whatever it collected.
      for (std::uint64_t id : dirty_) flush(id);
      dirty_.clear();
      if (stopping_ && all_answered()) return;
    }
  }

  std::uint64_t requests() const noexcept { return requests_; }
  std::uint64_t connections() const noexcept { return next_conn_ - first_conn_id; }

 private:
  // epoll's data.u64 says what became ready: one of these, or a connection id.
  static constexpr std::uint64_t listener_tag = 0, signals_tag = 1, queue_tag = 2;
  static constexpr std::uint64_t first_conn_id = 16;
  // A line longer than this closes its connection (a client that never
  // sends '\n' cannot make the server hold unbounded input).
  static constexpr std::size_t max_line = std::size_t{64} << 10;

  void watch(int fd, std::uint64_t tag, std::uint32_t what, int op = EPOLL_CTL_ADD) {
    epoll_event ev{};
    ev.events = what;
    ev.data.u64 = tag;
    if (::epoll_ctl(epoll_.get(), op, fd, &ev) != 0) die("epoll_ctl");
  }

  void accept_all() {
    for (;;) {
      Fd c(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (c.get() < 0) return;  // EAGAIN: no more for now (or a transient error)
      const int one = 1;
      ::setsockopt(c.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      const std::uint64_t id = next_conn_++;
      watch(c.get(), id, EPOLLIN);
      conns_[id].fd = std::move(c);
    }
  }

  void on_connection(std::uint64_t id, std::uint32_t what) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;  // closed earlier in this round
    Connection& c = it->second;
    if ((what & EPOLLOUT) != 0) dirty_.push_back(id);
    if ((what & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0) return;
    char buf[16 * 1024];
    for (;;) {
      const ssize_t n = ::read(c.fd.get(), buf, sizeof buf);
      if (n > 0) {
        c.in.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EAGAIN) break;
      close(id);  // end of stream or an error; answers still to come are dropped
      return;
    }
    std::size_t start = 0;
    for (std::size_t nl; (nl = c.in.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (stopping_) break;  // after a SHUTDOWN, no new requests
      std::string_view line(c.in.data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      handle(id, c, line);
    }
    c.in.erase(0, start);
    if (c.in.size() > max_line) close(id);
  }

  /// One request line: numbered, then sent to its shard (or answered here).
  void handle(std::uint64_t id, Connection& c, std::string_view line) {
    const std::uint64_t seq = c.next_seq++;
    c.answers.emplace_back();  // its place in the order of answers
    ++requests_;
    const std::size_t sp = line.find(' ');
    const std::string_view cmd = line.substr(0, sp);
    const std::string_view args = sp == std::string_view::npos ? "" : line.substr(sp + 1);
    if ((cmd == "GET" || cmd == "DEL") && !args.empty() && args.find(' ') == args.npos) {
      ask(Request{id, seq, cmd == "GET" ? Op::get : Op::del, std::string(args), {}});
    } else if (cmd == "SET" && args.find(' ') != args.npos && args.front() != ' ') {
      const std::size_t k = args.find(' ');
      ask(Request{id, seq, Op::set, std::string(args.substr(0, k)),
                  std::string(args.substr(k + 1))});
    } else if (cmd == "COUNT" && args.empty()) {
      count_keys(id, seq);
    } else if (cmd == "SHUTDOWN") {
      answer(id, seq, "BYE");  // in order: after the answers asked for before it
      stopping_ = true;
    } else {
      answer(id, seq, "ERROR expected GET k, SET k v, DEL k, COUNT or SHUTDOWN");
    }
  }

  /// Sends `r` to the shard that owns its key, naming the queue as the
  /// sender: the shard's respond() comes back through queue_.
  void ask(Request r) {
    const shoal::Pid& shard = shards_[std::hash<std::string>{}(r.key) % shards_.size()];
    system_.request(shard, std::move(r), queue_.pid());
  }

  /// COUNT: asks every shard with a request future; each continuation runs
  /// in queue_.drain(), on this thread, so `tally` needs no lock. Capturing
  /// `this` is safe: the continuations run only in drain(), and the queue
  /// (a member) drops the ones left unrun when the server goes.
  void count_keys(std::uint64_t id, std::uint64_t seq) {
    struct Tally {
      std::size_t waiting = 0, keys = 0;
      bool failed = false;
    };
    auto tally = std::make_shared<Tally>();
    tally->waiting = shards_.size();
    for (const shoal::Pid& shard : shards_) {
      system_.request_future(shard, CountKeys{}, 5s)
          .then(queue_, [this, id, seq, tally](shoal::Result<KeyCount> r) {
            if (r) {
              tally->keys += r.value().keys;
            } else {
              tally->failed = true;
            }
            if (--tally->waiting > 0) return;
            answer(id, seq,
                   tally->failed ? "ERROR a shard did not answer"
                                 : "COUNT " + std::to_string(tally->keys));
          });
    }
  }

  /// Puts the answer to request `seq` in its place; writes out every answer
  /// that is now next in order.
  void answer(std::uint64_t id, std::uint64_t seq, std::string line) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;  // the client has gone
    Connection& c = it->second;
    c.answers[seq - c.first_unanswered] = std::move(line);
    bool any = false;
    while (!c.answers.empty() && c.answers.front()) {
      c.out += *c.answers.front();
      c.out += '\n';
      c.answers.pop_front();
      ++c.first_unanswered;
      any = true;
    }
    if (any) dirty_.push_back(id);
  }

  void flush(std::uint64_t id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    Connection& c = it->second;
    while (!c.out.empty()) {
      const ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.out.erase(0, static_cast<std::size_t>(n));
      } else if (n < 0 && errno == EAGAIN) {
        break;
      } else {
        close(id);
        return;
      }
    }
    // Ask for EPOLLOUT only while something waits for room in the socket.
    const bool want = !c.out.empty();
    if (want != c.writing) {
      watch(c.fd.get(), id, want ? EPOLLIN | EPOLLOUT : EPOLLIN, EPOLL_CTL_MOD);
      c.writing = want;
    }
  }

  void close(std::uint64_t id) { conns_.erase(id); }  // ~Fd closes it (and leaves epoll)

  /// True once every request has been answered and every answer written.
  bool all_answered() const {
    for (const auto& [id, c] : conns_) {
      if (!c.answers.empty() || !c.out.empty()) return false;
    }
    return true;
  }

  shoal::ActorSystem& system_;
  shoal::CompletionQueue queue_;  // owned by this thread; before the system goes
  Fd listener_, signals_, epoll_;
  std::vector<shoal::Pid> shards_;
  std::unordered_map<std::uint64_t, Connection> conns_;
  std::vector<std::uint64_t> dirty_;  // connections with something to write this round
  std::uint64_t next_conn_ = first_conn_id;
  std::uint64_t requests_ = 0;
  bool stopping_ = false;  // SHUTDOWN came: finish what was asked, take nothing new
};

unsigned arg(int argc, char** argv, const char* name, unsigned fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return static_cast<unsigned>(std::atoi(argv[i + 1]));
  }
  return fallback;
}

}  // namespace
}  // namespace kv

int main(int argc, char** argv) {
  const unsigned port = kv::arg(argc, argv, "--port", 0);
  const unsigned shards = kv::arg(argc, argv, "--shards", 4);
  const unsigned workers = kv::arg(argc, argv, "--workers", 2);
  if (port > 65535 || shards == 0 || workers == 0) {
    std::fprintf(stderr, "usage: kv_server [--port P] [--shards N>0] [--workers N>0]\n");
    return 2;
  }
  try {
    // SIGINT and SIGTERM are blocked before any thread starts, so every
    // thread (the system's workers too) inherits the mask: the signals wait
    // for the signalfd that this thread's loop reads.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &stop, nullptr) != 0) kv::die("pthread_sigmask");
    kv::Fd signals(::signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC));
    if (signals.get() < 0) kv::die("signalfd");
    kv::Fd listener = kv::listen_on(static_cast<std::uint16_t>(port));
    const std::uint16_t bound = kv::port_of(listener);

    shoal::ActorSystem system({.scheduler = {.workers = workers}});
    std::uint64_t served = 0, connections = 0;
    {
      kv::Server server(system, shards, std::move(listener), std::move(signals));
      std::printf("kv_server: listening on 127.0.0.1:%u\n", static_cast<unsigned>(bound));
      std::fflush(stdout);  // the first line is what a script waits for
      server.run();
      served = server.requests();
      connections = server.connections();
    }  // the server, and its CompletionQueue, go before the system
    system.shutdown();
    std::printf("kv_server: served %llu requests on %llu connections\n",
                static_cast<unsigned long long>(served),
                static_cast<unsigned long long>(connections));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kv_server: %s\n", e.what());
    return 1;
  }
}
