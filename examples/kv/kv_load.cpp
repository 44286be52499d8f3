// kv_load: a load client for kv_server. It opens C connections, and on each
// (one thread per connection) sends N requests one at a time — a mix of GET
// and SET over keys of its own (named after its process and connection, so
// a run never sees another's, even on the same server) — and times each from
// the write of its line
// to the read of its answer. It checks every answer: a GET must return what
// this connection last SET for that key (or NOT_FOUND before any SET).
// Then it prints the rate and the latency percentiles over all requests:
//
//   kv_load: 4 connections x 2000 requests: 8000 done, 0 errors in 0.41 s (19512 requests/s)
//   latency p50   19.8 us
//   latency p90   ...   (p99, p99.9, max)
//
//   build/examples/kv_load --port P [--connections 4] [--requests 2000]
//                          [--keys 100] [--set-percent 20]
//
// Plain sockets and threads: it does not use shoal. Exits 0 if every request
// was answered correctly.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  unsigned port = 0;
  unsigned connections = 4;
  unsigned requests = 2000;  // per connection
  unsigned keys = 100;       // per connection
  unsigned set_percent = 20;
};

/// What one connection did.
struct Outcome {
  std::vector<std::uint64_t> latencies_ns;  // one per answered request
  std::uint64_t errors = 0;
  std::string first_error;
  void error(std::string what) {
    if (errors++ == 0) first_error = std::move(what);
  }
};

/// A blocking connection that sends a line and reads one back.
class LineClient {
 public:
  explicit LineClient(unsigned port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) return;
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // A server that stops answering is an error after 30 s, not a hang.
    timeval tv{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~LineClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  LineClient(const LineClient&) = delete;
  LineClient& operator=(const LineClient&) = delete;

  bool ok() const noexcept { return fd_ >= 0; }

  /// Sends `line` ('\n' included) and reads the answer into `answer`
  /// (without its '\n'). False if the connection failed.
  bool ask(const std::string& line, std::string& answer) {
    for (std::size_t sent = 0; sent < line.size();) {
      const ssize_t n = ::send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    for (;;) {
      const std::size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        answer.assign(buf_, 0, nl);
        buf_.erase(0, nl + 1);
        return true;
      }
      char chunk[4096];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  std::string buf_;  // read, not yet answered
};

void run_connection(const Options& o, unsigned index, Outcome& out) {
  LineClient client(o.port);
  if (!client.ok()) {
    out.errors += o.requests;
    out.first_error = "connect: " + std::system_category().message(errno);
    return;
  }
  out.latencies_ns.reserve(o.requests);
  std::mt19937 rng(index + 1);
  std::unordered_map<unsigned, std::string> stored;  // what this connection last SET
  const std::string prefix = "p" + std::to_string(::getpid()) + "-c" + std::to_string(index) + "-k";
  std::string line, answer;
  for (unsigned i = 0; i < o.requests; ++i) {
    const unsigned k = rng() % o.keys;
    const bool set = rng() % 100 < o.set_percent;
    const std::string value = "v" + std::to_string(i);
    line = (set ? "SET " : "GET ") + prefix + std::to_string(k) + (set ? " " + value : "") + "\n";

    const Clock::time_point t0 = Clock::now();
    if (!client.ask(line, answer)) {
      out.errors += o.requests - i;
      if (out.first_error.empty()) out.first_error = "the connection failed";
      return;
    }
    out.latencies_ns.push_back(
        static_cast<std::uint64_t>(std::chrono::nanoseconds(Clock::now() - t0).count()));

    auto it = stored.find(k);
    const std::string expected =
        set ? "OK" : (it == stored.end() ? "NOT_FOUND" : "VALUE " + it->second);
    if (answer != expected) out.error("expected \"" + expected + "\", got \"" + answer + '"');
    if (set) stored[k] = value;
  }
}

/// The latency below which a fraction `q` of the (sorted) samples lie.
double percentile_us(const std::vector<std::uint64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1]) / 1e3;
}

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const unsigned v = static_cast<unsigned>(std::strtoul(argv[i + 1], nullptr, 10));
    const std::string name = argv[i];
    if (name == "--port") {
      o.port = v;
    } else if (name == "--connections") {
      o.connections = v;
    } else if (name == "--requests") {
      o.requests = v;
    } else if (name == "--keys") {
      o.keys = v;
    } else if (name == "--set-percent") {
      o.set_percent = v;
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && o.port > 0 && o.port < 65536 && o.connections > 0 && o.keys > 0 &&
         o.set_percent <= 100;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: kv_load --port P [--connections C] [--requests N] [--keys K] "
                 "[--set-percent S]\n");
    return 2;
  }

  std::vector<Outcome> outcomes(o.connections);
  std::vector<std::thread> threads;
  const Clock::time_point start = Clock::now();
  for (unsigned c = 0; c < o.connections; ++c) {
    threads.emplace_back(run_connection, std::cref(o), c, std::ref(outcomes[c]));
  }
  for (std::thread& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<std::uint64_t> all;
  std::uint64_t errors = 0;
  for (const Outcome& out : outcomes) {
    all.insert(all.end(), out.latencies_ns.begin(), out.latencies_ns.end());
    errors += out.errors;
    if (!out.first_error.empty()) std::fprintf(stderr, "kv_load: %s\n", out.first_error.c_str());
  }
  std::sort(all.begin(), all.end());

  std::printf(
      "kv_load: %u connections x %u requests: %zu done, %llu errors in %.2f s (%.0f requests/s)\n",
      o.connections, o.requests, all.size(), static_cast<unsigned long long>(errors), seconds,
      static_cast<double>(all.size()) / seconds);
  const std::pair<const char*, double> marks[] = {
      {"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p99.9", 0.999}, {"max", 1.0}};
  for (const auto& [name, q] : marks) {
    std::printf("latency %-5s %8.1f us\n", name, percentile_us(all, q));
  }
  const std::uint64_t expected = std::uint64_t{o.connections} * o.requests;
  return errors == 0 && all.size() == expected ? 0 : 1;
}
