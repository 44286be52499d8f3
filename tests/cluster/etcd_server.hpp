// A throwaway etcd for a test: its own data directory under /tmp, two free
// loopback ports, started as a child process and stopped (SIGKILL, then the
// directory removed) when the object goes. The real server (Debian's
// etcd-server), never a stand-in.
#pragma once
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "cluster/etcd_client.hpp"

namespace shoal::cluster::test {

/// A port the kernel just gave and took back; etcd binds it a moment later
/// (start() retries with new ports if that lost a race).
inline int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    throw std::runtime_error("no free loopback port");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class EtcdServer {
 public:
  /// Picks the ports and the directory; `run` starts it at once.
  explicit EtcdServer(bool run = true) {
    char tmpl[] = "/tmp/shoal-etcd-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    client_port_ = free_loopback_port();
    peer_port_ = free_loopback_port();
    if (run) {
      ports_may_change_ = true;
      start();
    }
    ports_may_change_ = false;
  }
  ~EtcdServer() {
    kill(SIGKILL);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(client_port_); }

  /// Starts it (again: same ports, same data) and waits until it answers.
  void start() {
    for (int attempt = 0;; ++attempt) {
      spawn();
      if (wait_ready()) {
        started_once_ = true;
        return;
      }
      kill(SIGKILL);
      // A port taken meanwhile: new ones, but only before anyone was told
      // the endpoint (a first start from the constructor).
      if (attempt == 3 || started_once_ || !ports_may_change_) {
        throw std::runtime_error("etcd did not start; its log:\n" + log_tail());
      }
      client_port_ = free_loopback_port();
      peer_port_ = free_loopback_port();
    }
  }
  /// Stops it (SIGTERM: etcd shuts down cleanly) and waits for it.
  void stop() { kill(SIGTERM); }
  const std::string& dir() const noexcept { return dir_; }

 private:
  /// etcd's path, found before the fork (the child only execs).
  static std::string etcd_path() {
    for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
      std::string p = std::string(dir) + "/etcd";
      if (::access(p.c_str(), X_OK) == 0) return p;
    }
    throw std::runtime_error("etcd not found: apt-get install etcd-server (tools/setup-deps)");
  }

  void spawn() {
    const std::string c = "http://127.0.0.1:" + std::to_string(client_port_);
    const std::string p = "http://127.0.0.1:" + std::to_string(peer_port_);
    const std::string data = dir_ + "/data";
    const std::string log = dir_ + "/etcd.log";
    const std::string cluster = "t=" + p;
    const std::string exe = etcd_path();
    std::error_code ec;
    const auto size = std::filesystem::file_size(log, ec);
    log_start_ = ec ? 0 : size;  // a restart appends to the same log
    // Opened before the fork: the child of a threaded process may only make
    // async-signal-safe calls until it execs.
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) throw std::runtime_error("cannot open " + log);
    pid_ = ::fork();
    if (pid_ < 0) {
      ::close(out);
      throw std::runtime_error("fork failed");
    }
    if (pid_ != 0) {
      ::close(out);
      return;
    }
    // Only async-signal-safe calls from here: the parent has threads.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a test killed by its timeout takes etcd along
    if (::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) ::_exit(126);
    ::close_range(3, ~0U, 0);  // the test's sockets and pipes stay with it
    ::execl(exe.c_str(), "etcd", "--name", "t", "--data-dir", data.c_str(), "--listen-client-urls",
            c.c_str(), "--advertise-client-urls", c.c_str(), "--listen-peer-urls", p.c_str(),
            "--initial-advertise-peer-urls", p.c_str(), "--initial-cluster", cluster.c_str(),
            static_cast<char*>(nullptr));
    static const char msg[] = "exec etcd failed: apt-get install etcd-server (tools/setup-deps)\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }

  /// Until etcd's log says it serves clients (and a read answers), the
  /// child exits, or 60 s pass. Waits on the log file's changes (inotify),
  /// not on a clock.
  bool wait_ready() {
    const std::string log = dir_ + "/etcd.log";
    const int ifd = ::inotify_init1(IN_CLOEXEC);
    if (ifd < 0 || ::inotify_add_watch(ifd, log.c_str(), IN_MODIFY) < 0) {
      if (ifd >= 0) ::close(ifd);
      throw std::runtime_error("inotify on " + log + " failed");
    }
    struct Close {
      int fd;
      ~Close() { ::close(fd); }
    } close_ifd{ifd};
    detail::EtcdClient client({endpoint()}, std::chrono::milliseconds(1000));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (log_since_spawn().find("ready to serve client requests") != std::string::npos) {
        try {
          // A read of nothing: answers once etcd serves requests.
          client.call("/v3/kv/range", nlohmann::json{{"key", detail::base64_encode("/ready")}});
          return true;
        } catch (const detail::EtcdError&) {
          // Said but not yet so (a second listener): the next log line.
        }
      }
      // The next change to the log (or a second, to look at the child).
      pollfd p{ifd, POLLIN, 0};
      if (::poll(&p, 1, 1000) > 0) {
        char events[4096];
        [[maybe_unused]] auto n = ::read(ifd, events, sizeof events);
      }
    }
    return false;
  }

  /// What etcd logged since the last spawn.
  std::string log_since_spawn() const {
    std::ifstream in(dir_ + "/etcd.log");
    in.seekg(static_cast<std::streamoff>(log_start_));
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  void kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string log_tail() const {
    std::ifstream in(dir_ + "/etcd.log");
    std::stringstream s;
    s << in.rdbuf();
    std::string all = s.str();
    return all.size() > 4000 ? all.substr(all.size() - 4000) : all;
  }

  std::string dir_;
  int client_port_ = 0;
  int peer_port_ = 0;
  std::uintmax_t log_start_ = 0;
  bool started_once_ = false;
  bool ports_may_change_ = false;
  pid_t pid_ = -1;
};

}  // namespace shoal::cluster::test
