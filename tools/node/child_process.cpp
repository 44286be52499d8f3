#include "tools/node/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

extern char** environ;

namespace shoal::node {

ChildProcess::ChildProcess(const std::vector<std::string>& argv) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe: " + std::string(std::strerror(errno)));
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    throw std::runtime_error("pipe: " + std::string(std::strerror(errno)));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int rc = posix_spawn(&pid_, argv[0].c_str(), &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  stdin_ = in[1];
  stdout_ = out[0];
  if (rc != 0) {
    pid_ = -1;
    stop();
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  }
}

ChildProcess::~ChildProcess() { stop(); }

std::string ChildProcess::read_line() {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    auto nl = buffered_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    if (std::chrono::steady_clock::now() > until) {
      throw std::runtime_error("the server process said nothing for 30 s");
    }
    pollfd p{stdout_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[512];
    ssize_t n = ::read(stdout_, buf, sizeof buf);
    if (n <= 0) throw std::runtime_error("the server process ended before it was ready");
    buffered_.append(buf, static_cast<std::size_t>(n));
  }
}

double ChildProcess::cpu_seconds() const {
  clockid_t clock;
  timespec ts{};
  if (int rc = ::clock_getcpuclockid(pid_, &clock); rc != 0) {
    throw std::runtime_error(std::string("clock_getcpuclockid: ") + std::strerror(rc));
  }
  if (::clock_gettime(clock, &ts) != 0) {
    throw std::runtime_error(std::string("clock_gettime (child's CPU): ") + std::strerror(errno));
  }
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

void ChildProcess::stop() {
  if (stdin_ >= 0) ::close(stdin_);
  stdin_ = -1;
  if (pid_ > 0) {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  if (stdout_ >= 0) ::close(stdout_);
  stdout_ = -1;
}

void ChildProcess::kill_hard() {
  if (pid_ > 0) ::kill(pid_, SIGKILL);
  stop();
}

std::string sibling_program(const char* env, std::string_view relative) {
  if (const char* p = std::getenv(env); p != nullptr && *p != '\0') return p;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  return (self.parent_path() / relative).lexically_normal().string();
}

}  // namespace shoal::node
