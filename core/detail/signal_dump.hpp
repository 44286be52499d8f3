// Runs a callback on a background thread each time a chosen signal arrives,
// so a running program can be asked for a trace dump without stopping it.
//
// A signal handler may do almost nothing safely: it writes one byte to a
// pipe (write() is async-signal-safe) and the thread waiting on the other
// end does the work. Signals are process-wide, so the handler finds its
// pipe in a table indexed by signal number (the one global in the core, by
// necessity); one SignalDump per signal at a time.
#pragma once

#include <signal.h>

#include <functional>
#include <thread>

namespace shoal::detail {

class SignalDump {
 public:
  /// Installs the handler for `signo` and starts the thread. Throws
  /// std::system_error if the pipe, the thread or the handler cannot be
  /// made, std::invalid_argument if `signo` is taken by another SignalDump.
  SignalDump(int signo, std::function<void()> on_signal);
  /// Restores the previous handler and joins the thread.
  ~SignalDump();
  SignalDump(const SignalDump&) = delete;
  SignalDump& operator=(const SignalDump&) = delete;

  int signal_number() const noexcept { return signo_; }

 private:
  void loop();

  const int signo_;
  std::function<void()> on_signal_;
  int pipe_[2] = {-1, -1};
  struct ::sigaction previous_ {};
  std::thread thread_;
};

}  // namespace shoal::detail
