#include "core/detail/signal_dump.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace shoal::detail {

namespace {

constexpr int max_signal = 65;
// The write end of each signal's pipe, -1 if none. Read by the handler.
std::atomic<int> pipe_of[max_signal];
[[maybe_unused]] const bool pipes_cleared = [] {
  for (auto& p : pipe_of) p.store(-1, std::memory_order_relaxed);  // relaxed: before main
  return true;
}();

constexpr char signal_byte = 's';
constexpr char quit_byte = 'q';

void on_signal(int signo) {
  const int saved = errno;
  // relaxed: the fd was stored before the handler was installed (sigaction
  // orders it); a stale -1 only drops the request.
  const int fd = pipe_of[signo].load(std::memory_order_relaxed);
  if (fd >= 0) {
    [[maybe_unused]] ssize_t n = ::write(fd, &signal_byte, 1);  // full pipe: a dump is pending
  }
  errno = saved;
}

}  // namespace

SignalDump::SignalDump(int signo, std::function<void()> on_signal_fn)
    : signo_(signo), on_signal_(std::move(on_signal_fn)) {
  if (signo <= 0 || signo >= max_signal) throw std::invalid_argument("shoal: bad signal number");
  if (::pipe2(pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw std::system_error(errno, std::generic_category(), "shoal: pipe for the trace signal");
  }
  // The reader blocks; only the handler's end must never block.
  ::fcntl(pipe_[0], F_SETFL, 0);
  int expected = -1;
  // seq_cst: claims the signal before the handler can run.
  if (!pipe_of[signo].compare_exchange_strong(expected, pipe_[1])) {
    ::close(pipe_[0]);
    ::close(pipe_[1]);
    throw std::invalid_argument("shoal: that signal already dumps another system's trace");
  }
  thread_ = std::thread([this] { loop(); });
  struct sigaction sa {};
  sa.sa_handler = &on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (::sigaction(signo, &sa, &previous_) != 0) {
    const int err = errno;
    pipe_of[signo].store(-1);
    [[maybe_unused]] ssize_t n = ::write(pipe_[1], &quit_byte, 1);
    thread_.join();
    ::close(pipe_[0]);
    ::close(pipe_[1]);
    throw std::system_error(err, std::generic_category(), "shoal: sigaction for the trace signal");
  }
}

SignalDump::~SignalDump() {
  ::sigaction(signo_, &previous_, nullptr);
  pipe_of[signo_].store(-1);
  char q = quit_byte;
  while (::write(pipe_[1], &q, 1) < 0 && errno == EINTR) {
  }
  thread_.join();
  ::close(pipe_[0]);
  ::close(pipe_[1]);
}

void SignalDump::loop() {
  for (;;) {
    char b;
    const ssize_t n = ::read(pipe_[0], &b, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || b == quit_byte) return;
    try {
      on_signal_();
    } catch (...) {
      // A failed dump (say, an unwritable path) must not end the program;
      // the callback reports its own errors.
    }
  }
}

}  // namespace shoal::detail
