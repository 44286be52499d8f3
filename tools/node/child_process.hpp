// A child process for the two-process benchmarks and tests: the server
// side runs in its own process (shoal-node, or caf-remote-node for CAF),
// started with pipes on its stdin and stdout. Closing its stdin asks it
// to exit; kill_hard() does not ask.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace shoal::node {

class ChildProcess {
 public:
  /// Starts `argv[0]` with `argv`. Throws std::runtime_error if it cannot.
  explicit ChildProcess(const std::vector<std::string>& argv);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  /// The next line of its stdout (without the newline); throws
  /// std::runtime_error if it ends or says nothing for 30 s.
  std::string read_line();
  /// Closes its stdin and waits for it to exit.
  void stop();
  /// SIGKILL (no goodbye), then waits for it.
  void kill_hard();
  /// CPU time it has used so far (all its threads, user and system), in
  /// seconds; throws std::runtime_error if it cannot be read.
  double cpu_seconds() const;

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::string buffered_;
};

/// A program built beside this one: `$env` if set, else `relative` to the
/// directory of this executable.
std::string sibling_program(const char* env, std::string_view relative);

}  // namespace shoal::node
