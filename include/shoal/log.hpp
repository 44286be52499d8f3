// The library's log: where shoal says what went wrong when there is no
// caller to return it to — an observer or subscriber that threw, an actor
// failure nobody observes (SystemConfig::on_failure empty), a worker that
// could not be pinned, a trace dump that failed, a node's connection errors
// (NodeConfig::on_error empty), and out of memory just before an abort.
//
// One sink per process, as a logging framework's handler is: by default
// each record goes to stderr as one line, "shoal <source>: <message>".
// set_log_sink() redirects it (to spdlog, syslog, a test's vector);
// set_log_level() drops records below a level before they reach the sink.
// Every call site is a slow path: a message delivered and handled without
// a throw never logs.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace shoal {

enum class LogLevel : std::uint8_t { debug = 0, info = 1, warning = 2, error = 3, off = 4 };

/// "debug", "info", "warning", "error" or "off".
std::string_view to_string(LogLevel level) noexcept;

/// One thing shoal says. The views live only for the sink's call.
struct LogRecord {
  LogLevel level;
  std::string_view source;   ///< who says it: "actor system", "scheduler", "node 127.0.0.1:7000"
  std::string_view message;  ///< one line, no trailing newline
};

/// Receives every record at or above the level (set_log_level). Called on
/// the thread that logs — a worker, an io thread, the caller's — possibly
/// from several threads at once; it must be thread-safe, should be quick,
/// and what it throws is swallowed.
using LogSink = std::function<void(const LogRecord&)>;

/// Sends the log to `sink` from now on; empty restores the default
/// (stderr). Thread-safe; a record being written on another thread as this
/// returns may still reach the previous sink.
void set_log_sink(LogSink sink);
/// Records below `level` are dropped (LogLevel::off: all). Default: info.
/// Thread-safe.
void set_log_level(LogLevel level) noexcept;
LogLevel log_level() noexcept;

/// Writes a record through the sink if `level` is at or above the log
/// level. Thread-safe; never throws; allocates nothing on its own (the
/// default sink writes one line with one call).
void log(LogLevel level, std::string_view source, std::string_view message) noexcept;

}  // namespace shoal
