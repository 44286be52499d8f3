#include "shoal/log.hpp"

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <utility>

namespace shoal {

namespace {

// The sink is swapped rarely and read on slow paths only: a mutex around a
// shared_ptr copy is enough (a record in flight keeps its sink alive).
struct Log {
  std::mutex mu;
  std::shared_ptr<const LogSink> sink;  // null: the default (stderr)
  std::atomic<LogLevel> level{LogLevel::info};
};

Log& the_log() {
  static Log* log = new Log;  // never destroyed: threads may log during exit
  return *log;
}

/// "shoal <source>: <message>\n" in one write, without allocating.
void write_to_stderr(const LogRecord& r) noexcept {
  char line[1024];
  const int n =
      std::snprintf(line, sizeof line, "shoal %.*s: %.*s\n", static_cast<int>(r.source.size()),
                    r.source.data(), static_cast<int>(r.message.size()), r.message.data());
  if (n <= 0) return;
  std::size_t len = static_cast<std::size_t>(n);
  if (len >= sizeof line) {  // cut: keep the newline
    len = sizeof line - 1;
    line[len - 1] = '\n';
  }
  std::fwrite(line, 1, len, stderr);
}

}  // namespace

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warning:
      return "warning";
    case LogLevel::error:
      return "error";
    case LogLevel::off:
      return "off";
  }
  return "off";
}

void set_log_sink(LogSink sink) {
  auto next = sink ? std::make_shared<const LogSink>(std::move(sink)) : nullptr;
  Log& log = the_log();
  std::lock_guard lock(log.mu);
  log.sink.swap(next);  // the old sink is destroyed after the lock is released
}

void set_log_level(LogLevel level) noexcept {
  // relaxed: pairs with the load in log_level(); a filter, nothing else goes with it
  the_log().level.store(level, std::memory_order_relaxed);
}

LogLevel log_level() noexcept {
  // relaxed: pairs with the store in set_log_level(); a record racing it may go either way
  return the_log().level.load(std::memory_order_relaxed);
}

void log(LogLevel level, std::string_view source, std::string_view message) noexcept {
  if (level == LogLevel::off || level < log_level()) return;
  Log& log = the_log();
  std::shared_ptr<const LogSink> sink;
  {
    std::lock_guard lock(log.mu);
    sink = log.sink;
  }
  const LogRecord r{level, source, message};
  if (!sink) {
    write_to_stderr(r);
    return;
  }
  try {
    (*sink)(r);
  } catch (...) {
    // A sink that throws must not take a worker down; nothing else to tell.
  }
}

}  // namespace shoal
