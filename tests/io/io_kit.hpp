// What the io tests share: the wire test types plus Tagged, actors that
// echo and collect, a counter to wait on with a generous deadline, and a
// raw TCP client for feeding a node bytes no shoal node would send.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "io/event_port.hpp"
#include "io/socket.hpp"
#include "shoal/actor_system.hpp"
#include "shoal/node.hpp"
#include "tests/wire/wire_kit.hpp"

namespace shoal::io::test {

using namespace std::chrono_literals;
using wire::test::Note;
using wire::test::Ping;

struct Tagged {
  std::uint32_t from = 0;
  std::uint64_t seq = 0;
};

inline void register_io_types(wire::TypeRegistry& types) {
  wire::test::register_test_types(types);
  types.add<Tagged, wire::test::msg::Tagged>(
      "test.Tagged",
      [](const Tagged& t, wire::test::msg::Tagged::Builder b) {
        b.setFrom(t.from);
        b.setSeq(t.seq);
      },
      [](wire::test::msg::Tagged::Reader r) { return Tagged{r.getFrom(), r.getSeq()}; });
}

/// Skips the test when this machine has no usable io_uring.
#define SHOAL_IO_REQUIRE_URING()                                                     \
  do {                                                                               \
    if (std::string why = ::shoal::io::uring_unavailable_reason(); !why.empty()) { \
      GTEST_SKIP() << "io_uring unavailable: " << why;                               \
    }                                                                                \
  } while (0)

/// A count and a condition to wait on, shared with actors.
struct Counter {
  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t n = 0;
  std::vector<std::string> errors;
  void add(std::uint64_t k = 1) {
    std::lock_guard lock(mu);
    n += k;
    cv.notify_all();
  }
  void error(std::string e) {
    std::lock_guard lock(mu);
    errors.push_back(std::move(e));
    cv.notify_all();
  }
  bool wait_for(std::uint64_t want, std::chrono::seconds deadline = 30s) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, deadline, [&] { return n >= want; });
  }
  std::uint64_t get() {
    std::lock_guard lock(mu);
    return n;
  }
};

/// Answers Ping{n} with Ping{n + 1}; counts what it got.
struct Echo : Handles<Echo, Ping> {
  explicit Echo(std::shared_ptr<Counter> seen) : seen(std::move(seen)) {}
  void on(Context& ctx, Ping& p) {
    seen->add();
    if (ctx.sender()) ctx.respond(Ping{p.count + 1});
  }
  std::shared_ptr<Counter> seen;
};

/// Checks per-sender order of Tagged messages and counts them.
struct Collector : Handles<Collector, Tagged> {
  explicit Collector(std::shared_ptr<Counter> seen) : seen(std::move(seen)) {}
  void on(Context&, Tagged& t) {
    std::uint64_t& last = next[t.from];
    if (t.seq != last) {
      seen->error("sender " + std::to_string(t.from) + ": got " + std::to_string(t.seq) +
                  ", expected " + std::to_string(last));
    }
    last = t.seq + 1;
    seen->add();
  }
  std::map<std::uint32_t, std::uint64_t> next;
  std::shared_ptr<Counter> seen;
};

/// Two actor systems (2 workers each) and the nodes a test makes for them,
/// `a` and `b`, torn down nodes first; `P` is the suite's parameter. A
/// node made with `config()` gives its errors to `log` (see `logged`).
template <class P>
class TwoSystems : public ::testing::TestWithParam<P> {
 protected:
  void SetUp() override {
    register_io_types(types);
    a_sys.emplace(SystemConfig{.scheduler = {.workers = 2}});
    b_sys.emplace(SystemConfig{.scheduler = {.workers = 2}});
  }
  void TearDown() override {
    a.reset();
    b.reset();
    a_sys.reset();
    b_sys.reset();
  }
  /// A node configuration whose errors go to `log`.
  NodeConfig logging_config() {
    NodeConfig c;
    c.on_error = [this](std::string_view e) {
      std::lock_guard lock(log_mu);
      log.emplace_back(e);
    };
    return c;
  }
  bool logged(std::string_view part) {
    std::lock_guard lock(log_mu);
    for (auto& l : log) {
      if (l.find(part) != std::string::npos) return true;
    }
    return false;
  }

  /// 50 requests from a to an echo on b, then one from b to an echo on a,
  /// on the same connection; each answered.
  void expect_requests_both_ways() {
    ASSERT_TRUE(b_sys->spawn_named(Props::of<Echo>(std::make_shared<Counter>()), "echo"));
    Pid echo = a->pid(b->address(), "echo");
    for (std::uint64_t i = 0; i < 50; ++i) {
      auto r = a_sys->request_future<Ping>(echo, Ping{i}, 30s).result();
      ASSERT_TRUE(r.ok()) << r.what();
      EXPECT_EQ(r.value().count, i + 1);
    }
    ASSERT_TRUE(a_sys->spawn_named(Props::of<Echo>(std::make_shared<Counter>()), "echo"));
    auto r = b_sys->request_future<Ping>(b->pid(a->address(), "echo"), Ping{7}, 30s).result();
    ASSERT_TRUE(r.ok()) << r.what();
  }

  wire::TypeRegistry types;
  std::optional<ActorSystem> a_sys, b_sys;
  std::optional<Node> a, b;
  std::mutex log_mu;
  std::vector<std::string> log;
};

/// Names a suite's instances by their io threads per node.
inline std::string io_threads_name(const ::testing::TestParamInfo<unsigned>& info) {
  return info.param == 1 ? "OneIoThread" : "TwoIoThreads";
}

/// Calls `on(frame)` for each whole frame at the start of `bytes`, in
/// order, until one does not parse.
template <class On>
void for_each_frame(const std::vector<std::byte>& bytes, On&& on) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    std::vector<std::byte> rest(bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.end());
    wire::FrameHeader h;
    wire::FrameError err = wire::FrameError::none;
    if (wire::parse_frame_header(rest, {}, h, err) != wire::HeaderStatus::ok ||
        h.frame_bytes > rest.size()) {
      return;
    }
    auto storage = wire::test::aligned(rest);
    wire::FrameReader r(wire::test::as_bytes(storage, h.frame_bytes), {});
    if (r.error() != wire::FrameError::none) return;
    on(r.frame());
    at += h.frame_bytes;
  }
}

/// The reason of the first Disconnect frame in `bytes`; empty if none.
inline std::string disconnect_reason(const std::vector<std::byte>& bytes) {
  std::string reason;
  bool found = false;
  for_each_frame(bytes, [&](wire::schema::Frame::Reader f) {
    if (!found && f.isDisconnect()) {
      reason = f.getDisconnect().getReason().cStr();
      found = true;
    }
  });
  return reason;
}

/// A raw TCP client, blocking with timeouts.
class RawClient {
 public:
  explicit RawClient(const std::string& address) {
    SocketAddress a = resolve(address);
    fd_ = ::socket(a.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<const sockaddr*>(&a.storage), a.length) != 0) {
      ADD_FAILURE() << "cannot connect to " << address;
    }
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  void write(const std::vector<std::byte>& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;  // the node may have closed on us: that is what some tests want
      done += static_cast<std::size_t>(n);
    }
  }
  /// Reads until EOF or `deadline`; returns what arrived and whether EOF came.
  std::pair<std::vector<std::byte>, bool> read_to_eof(std::chrono::seconds deadline = 30s) {
    std::vector<std::byte> got;
    auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      std::byte buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return {got, true};
      got.insert(got.end(), buf, buf + n);
    }
    return {got, false};
  }
  /// Reads until one whole frame has come (a shoal dialer waits for the
  /// handshake's answer before it sends more); returns what came, empty
  /// if EOF or `deadline` came first.
  std::vector<std::byte> read_frame(std::chrono::seconds deadline = 30s) {
    std::vector<std::byte> got;
    auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      wire::FrameHeader h;
      wire::FrameError err = wire::FrameError::none;
      if (wire::parse_frame_header(got, {}, h, err) == wire::HeaderStatus::ok &&
          h.frame_bytes <= got.size()) {
        return got;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      std::byte buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return {};
      got.insert(got.end(), buf, buf + n);
    }
    return {};
  }
  /// What the next receive brings; empty on EOF, error or `deadline`.
  std::vector<std::byte> read_some(std::chrono::seconds deadline = 30s) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      std::byte buf[16384];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return {};
      return {buf, buf + n};
    }
    return {};
  }
  void close_write() { ::shutdown(fd_, SHUT_WR); }

 private:
  int fd_ = -1;
};

}  // namespace shoal::io::test
