// shoal-bench: runs the macro workloads (bench/workloads/) beside their CAF
// 0.17 twins (bench/peers/) and prints a markdown table of the medians.
//
// For each selected workload and each repetition it runs shoal, then CAF, so
// drift on the machine (thermal state, other tenants, page cache) hits both
// systems alike rather than whichever ran last. Each run builds and tears
// down its own runtime in a child process of its own (fork): a run must not
// inherit the allocator state another left behind (CAF's 1.4 GB of freed
// actors left jemalloc's retained memory in 4 KiB pages and made shoal's
// spawn+stop that followed it 2x slower). --no-fork runs them in-process. The reported figure is
// the median over repetitions, robust to the odd slow run that a 2-core box
// produces. The ratio is oriented so that > 1 always means shoal did better,
// whatever the unit.
//
// Output: progress on stderr; on stdout the date, command, workers and build
// followed by the table, ready to paste into bench/RESULTS.md; with --json,
// every repetition's raw figures for later analysis. A run that throws is
// reported and recorded, the remaining runs still happen.
//
// Exit status: 0 success, 1 some run failed (or the JSON could not be
// written), 2 bad command line.

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/workload.hpp"
#include "tools/bench_report.hpp"

// jemalloc reads this at start-up (MALLOC_CONF in the environment still wins).
// Transparent huge pages for the heap: the spawn workloads touch hundreds of
// megabytes of fresh memory, and with 4 KiB pages a third of their time was
// page faults and page zeroing in the kernel. Both systems run in this one
// process, so CAF gets the same allocator and the same pages. A program
// embedding shoal makes this choice for itself; see bench/README.md.
extern "C" {
// NOLINTNEXTLINE(readability-identifier-naming): jemalloc's name
const char* malloc_conf = "thp:always";
}

namespace {

using shoal::bench::Baseline;
using shoal::bench::Result;
using shoal::bench::RunConfig;
using shoal::bench::RunInfo;
using shoal::bench::Series;
using shoal::bench::Timing;
using shoal::bench::Workload;
using shoal::bench::format_value;
using shoal::bench::three_digits;

// -- command line --

constexpr std::string_view usage_text =
    R"(usage: shoal-bench [WORKLOAD...] [--workers N] [--reps N] [--throughput N]
                   [--spin US] [--event-port uring|epoll] [--workers-only]
                   [--pin] [--stats]
                   [--actor-stats] [--trace FILE]
                   [--duration SECONDS] [--message-size BYTES]
                   [--json FILE] [--baseline FILE] [--noise PCT]
                   [--no-caf] [--no-fork]
       shoal-bench --list [WORKLOAD...]
       shoal-bench --programs [WORKLOAD...]
       shoal-bench --help

Runs each selected workload --reps times with shoal and, alternately, with its
CAF twin, each run in a fresh child process, then prints a markdown table of
the medians.

  WORKLOAD     a workload name, or a prefix followed by '/' in the name:
               "pairs" selects pairs/1, pairs/64, ...  Default: all.
  --workers N  scheduler threads for both systems (default: hardware threads)
  --reps N     repetitions per workload and system (default: 5)
  --duration SECONDS  size each workload so that one shoal run takes about
               this long (a calibration run at the default size first; CAF
               does the same work); skynet, spawn-stop and idle keep their
               size, which defines them
  --throughput N  shoal's messages per mailbox run (default: the system's, 64)
  --message-size BYTES  payload carried (and forwarded) by every message of
               ping-pong, pairs and ring, in both systems: 0 (default), 64,
               256, 1024 or 4096
  --spin US    how long shoal's idle workers (and a node's io thread) spin
               before they sleep, in microseconds (default: 50 each)
  --event-port uring|epoll  what shoal's nodes in the remote workloads use
               (default: io_uring where the kernel allows it, else epoll)
  --workers-only  in the remote workloads, shoal's io threads never run an
               actor (NodeConfig::run_actors off): every message wakes a
               worker if they all sleep (default: the io thread runs it)
  --pin        pin shoal's workers to cores (CAF 0.17 has no such option)
  --stats      print shoal's counters (per worker; per actor with
               --actor-stats) at the end of each workload's last repetition
  --actor-stats  instrument every shoal actor: queue wait, handler time,
               mailbox depth (costs two clock reads per message)
  --trace FILE record every shoal run with the flight recorder and write the
               last repetition's trace to FILE (with several workloads, one
               file each: FILE's name with the workload inserted); see
               shoal-trace to turn it into Perfetto JSON or an HTML report
  --json FILE  also write every repetition's figures to FILE as JSON
  --baseline FILE  compare the medians with a JSON file an earlier run wrote
               and mark each change beyond the noise as a regression
  --noise PCT  the change --baseline tolerates, in percent (default: 10)
  --no-caf     run shoal only
  --no-fork    run every repetition in this process (for a debugger)
  --list       print the selected workloads (name, unit, description)
  --programs   print the programs the selected workloads start (the remote
               workloads' server processes), one path a line
  --help       print this text

Exit status: 0 ok, 1 a run failed, 2 bad command line.
)";

/// A bad command line; main prints it with the usage text and exits 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::vector<std::string> selectors;  // empty = every workload
  unsigned workers = 1;
  unsigned reps = 5;
  unsigned throughput = 0;  // 0 = shoal's default
  unsigned spin_us = 0;     // 0 = shoal's defaults
  std::string event_port;   // empty = automatic
  bool workers_only = false;
  std::string json_path;    // empty = no JSON
  std::string trace_path;   // empty = no trace
  std::string baseline_path;  // empty = no comparison
  double noise_percent = 10;
  double duration = 0;        // seconds; 0 = each workload's default size
  unsigned message_bytes = 0;
  bool pin = false;
  bool stats = false;
  bool actor_stats = false;
  bool run_caf = true;
  bool fork_runs = true;
  bool list = false;
  bool programs = false;
  bool help = false;
};

unsigned default_workers() {
  // hardware_concurrency() returns 0 when it cannot tell.
  return std::max(1u, std::thread::hardware_concurrency());
}

// A positive count; from_chars into an unsigned rejects signs, junk and overflow.
unsigned parse_count(std::string_view option, std::string_view text) {
  unsigned value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value == 0) {
    throw UsageError(std::string(option) + " needs a positive integer, got '" + std::string(text) +
                     "'");
  }
  return value;
}

// "--json --reps 3" means a forgotten file name, not a file called "--reps".
std::string file_name(std::string_view option, std::string_view text) {
  if (text.empty() || text.starts_with('-')) {
    throw UsageError(std::string(option) + " needs a file name");
  }
  return std::string(text);
}

// A percentage in (0, 1000].
double parse_percent(std::string_view option, std::string_view text) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || !(value > 0 && value <= 1000)) {
    throw UsageError(std::string(option) + " needs a percentage above 0, got '" +
                     std::string(text) + "'");
  }
  return value;
}

// One of the payload sizes the workloads have a message type for.
unsigned parse_message_size(std::string_view option, std::string_view text) {
  unsigned value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  const bool known = std::find(std::begin(shoal::bench::message_sizes),
                               std::end(shoal::bench::message_sizes),
                               value) != std::end(shoal::bench::message_sizes);
  if (text.empty() || ec != std::errc{} || ptr != end || !known) {
    throw UsageError(std::string(option) + " must be 0, 64, 256, 1024 or 4096, got '" +
                     std::string(text) + "'");
  }
  return value;
}

// A duration in seconds in (0, 3600].
double parse_seconds(std::string_view option, std::string_view text) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || !(value > 0 && value <= 3600)) {
    throw UsageError(std::string(option) + " needs seconds above 0 (at most 3600), got '" +
                     std::string(text) + "'");
  }
  return value;
}

Options parse_args(const std::vector<std::string_view>& args) {
  Options opts;
  opts.workers = default_workers();
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    // Both "--reps 3" and "--reps=3".
    std::optional<std::string_view> attached;
    if (arg.starts_with("--")) {
      if (const auto eq = arg.find('='); eq != std::string_view::npos) {
        attached = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
    }
    const std::string name(arg);
    auto value = [&]() -> std::string_view {
      if (attached) return *attached;
      if (i + 1 >= args.size()) throw UsageError(name + " needs a value");
      return args[++i];
    };
    auto no_value = [&] {
      if (attached) throw UsageError(name + " takes no value");
    };

    if (arg == "--workers") {
      opts.workers = parse_count(arg, value());
    } else if (arg == "--reps") {
      opts.reps = parse_count(arg, value());
    } else if (arg == "--throughput") {
      opts.throughput = parse_count(arg, value());
    } else if (arg == "--spin") {
      opts.spin_us = parse_count(arg, value());
    } else if (arg == "--event-port") {
      opts.event_port = value();
      if (opts.event_port != "uring" && opts.event_port != "epoll") {
        throw UsageError("--event-port: uring or epoll, not " + opts.event_port);
      }
    } else if (arg == "--json") {
      opts.json_path = file_name(name, value());
    } else if (arg == "--trace") {
      opts.trace_path = file_name(name, value());
    } else if (arg == "--baseline") {
      opts.baseline_path = file_name(name, value());
    } else if (arg == "--noise") {
      opts.noise_percent = parse_percent(name, value());
    } else if (arg == "--message-size") {
      opts.message_bytes = parse_message_size(name, value());
    } else if (arg == "--duration") {
      opts.duration = parse_seconds(name, value());
    } else if (arg == "--workers-only") {
      no_value();
      opts.workers_only = true;
    } else if (arg == "--pin") {
      no_value();
      opts.pin = true;
    } else if (arg == "--stats") {
      no_value();
      opts.stats = true;
    } else if (arg == "--actor-stats") {
      no_value();
      opts.actor_stats = true;
    } else if (arg == "--no-caf") {
      no_value();
      opts.run_caf = false;
    } else if (arg == "--no-fork") {
      no_value();
      opts.fork_runs = false;
    } else if (arg == "--list") {
      no_value();
      opts.list = true;
    } else if (arg == "--programs") {
      no_value();
      opts.programs = true;
    } else if (arg == "--help" || arg == "-h") {
      no_value();
      opts.help = true;
    } else if (arg.starts_with('-')) {
      throw UsageError("unknown option " + name);
    } else {
      opts.selectors.push_back(name);
    }
  }
  return opts;
}

// -- selection --

bool selects(std::string_view selector, std::string_view name) {
  return name == selector || (name.size() > selector.size() && name.starts_with(selector) &&
                              name[selector.size()] == '/');
}

// Keeps workloads() order; a selector that matches nothing is a usage error,
// so a typo cannot silently shrink a long benchmark run.
std::vector<Workload> select_workloads(std::vector<Workload> all,
                                       const std::vector<std::string>& selectors) {
  if (selectors.empty()) return all;
  for (const std::string& selector : selectors) {
    const bool found = std::any_of(all.begin(), all.end(),
                                   [&](const Workload& w) { return selects(selector, w.name); });
    if (!found) throw UsageError("unknown workload '" + selector + "' (see --list)");
  }
  std::erase_if(all, [&](const Workload& w) {
    return std::none_of(selectors.begin(), selectors.end(),
                        [&](const std::string& selector) { return selects(selector, w.name); });
  });
  return all;
}

void print_list(std::ostream& out, const std::vector<Workload>& selected) {
  std::size_t name_width = 0;
  std::size_t unit_width = 0;
  for (const Workload& w : selected) {
    name_width = std::max(name_width, w.name.size());
    unit_width = std::max(unit_width, w.unit.size());
  }
  for (const Workload& w : selected) {
    out << w.name << std::string(name_width - w.name.size() + 2, ' ') << w.unit
        << std::string(unit_width - w.unit.size() + 2, ' ') << w.description << '\n';
  }
}

// The compiler's view of the build. Meson can say more (buildtype, allocator)
// by passing -DSHOAL_BENCH_BUILD="...".
std::string build_description() {
#ifdef SHOAL_BENCH_BUILD
  return SHOAL_BENCH_BUILD;
#else
  std::string build = "g++ " __VERSION__;
#ifdef __OPTIMIZE__
  build += ", optimized";
#else
  build += ", unoptimized";
#endif
#ifdef NDEBUG
  build += ", NDEBUG";
#endif
  return build;
#endif
}

std::string utc_now_iso8601() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf.data();
}

// The command as a shell would need it; argv[0] is cut to its file name so the
// line does not depend on the build directory.
std::string command_line(int argc, char** argv) {
  std::string_view program = argv[0];
  if (const auto slash = program.rfind('/'); slash != std::string_view::npos) {
    program.remove_prefix(slash + 1);
  }
  std::string line(program);
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool plain = !arg.empty() && arg.find_first_not_of(
                                           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                           "0123456789-_=/.,:+@%") == std::string_view::npos;
    line += ' ';
    if (plain) {
      line += arg;
    } else {
      line += '\'';
      for (const char c : arg) line += c == '\'' ? std::string("'\\''") : std::string(1, c);
      line += '\'';
    }
  }
  return line;
}

// -- running --

struct Progress {
  std::size_t done = 0;
  std::size_t total = 0;
};

bool runs_caf(const Workload& w, const Options& opts) {
  return opts.run_caf && static_cast<bool>(w.run_caf);
}

// The programs the selected runs start, each once; only those that are not
// an executable file if `missing_only`.
std::vector<std::string> programs_of(const std::vector<Workload>& selected, const Options& opts,
                                     bool missing_only) {
  std::vector<std::string> out;
  for (const Workload& w : selected) {
    for (const auto& [system, path] : w.programs) {
      if (system == "caf" && !runs_caf(w, opts)) continue;
      if (std::find(out.begin(), out.end(), path) != out.end()) continue;
      if (missing_only && ::access(path.c_str(), X_OK) == 0) continue;
      out.push_back(path);
    }
  }
  return out;
}

// Runs `run` in a child process and brings its Timing back through a pipe.
// No thread is alive in this process at the fork (every run joins its own),
// so the child is an ordinary single-threaded copy. Throws what the child
// reported, or that it died.
Timing run_in_child(const std::function<Timing(const RunConfig&)>& run, const RunConfig& config) {
  struct Report {
    Timing timing;
    char error[240];
  };
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  std::cout.flush();
  std::cerr.flush();
  const pid_t child = fork();
  if (child < 0) {
    close(fds[0]);
    close(fds[1]);
    throw std::runtime_error("fork failed");
  }
  if (child == 0) {
    close(fds[0]);
    Report r{};
    try {
      r.timing = run(config);
    } catch (const std::exception& e) {
      std::snprintf(r.error, sizeof r.error, "%s", e.what());
    } catch (...) {
      std::snprintf(r.error, sizeof r.error, "unknown exception");
    }
    if (r.error[0] == 0 && r.timing.seconds <= 0) std::snprintf(r.error, sizeof r.error, "no time");
    const ssize_t n = write(fds[1], &r, sizeof r);
    _exit(n == static_cast<ssize_t>(sizeof r) ? 0 : 3);
  }
  close(fds[1]);
  Report r{};
  std::size_t got = 0;
  while (got < sizeof r) {
    const ssize_t n = read(fds[0], reinterpret_cast<char*>(&r) + got, sizeof r - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  if (got != sizeof r) {
    throw std::runtime_error(WIFSIGNALED(status) ? "the run's process died of signal " +
                                                       std::to_string(WTERMSIG(status))
                                                 : "the run's process ended without a result");
  }
  if (r.error[0] != 0) throw std::runtime_error(r.error);
  return r.timing;
}

void run_once(const Workload& w, std::string_view system,
              const std::function<Timing(const RunConfig&)>& run, const RunConfig& config,
              unsigned rep, unsigned reps, bool fork_runs, Progress& progress, Series& out) {
  ++progress.done;
  std::cerr << '[' << progress.done << '/' << progress.total << "] " << w.name << ' ' << system
            << " rep " << rep << '/' << reps << " ... " << std::flush;
  std::string error;
  try {
    // Each run measures its own peak, not that of an earlier, larger run.
    shoal::bench::reset_peak_rss();
    const Timing timing = fork_runs ? run_in_child(run, config) : run(config);
    const double value = w.value(timing);
    out.values.push_back(value);
    out.seconds.push_back(timing.seconds);
    out.peak_rss.push_back(timing.peak_rss_bytes);
    out.bytes_per_actor.push_back(timing.bytes_per_actor);
    std::cerr << format_value(value, w.unit) << '\n';
    return;
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "unknown exception";
  }
  std::cerr << "FAILED: " << error << '\n';
  out.errors.push_back("rep " + std::to_string(rep) + ": " + error);
}

// Where workload `name`'s trace goes: `path` itself for a single workload,
// else `path` with the workload inserted before the extension
// ("run.trace" → "run.pairs-64.trace").
std::string trace_path_for(const std::string& path, const std::string& name, std::size_t count) {
  if (path.empty() || count == 1) return path;
  std::string tag = name;
  std::replace(tag.begin(), tag.end(), '/', '-');
  const std::size_t slash = path.rfind('/');
  const std::size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) {
    return path + "." + tag;
  }
  return path.substr(0, dot) + "." + tag + path.substr(dot);
}

// --duration: one shoal run at the default size, timed; the factor that
// makes a run last opts.duration (clamped to [1/1000, 1000]). 1 if the
// calibration run fails (the runs that follow report the failure).
double calibrate(const Workload& w, const RunConfig& config, const Options& opts) {
  std::cerr << "[calibrate] " << w.name << " shoal at the default size ... " << std::flush;
  try {
    const Timing t = opts.fork_runs ? run_in_child(w.run_shoal, config) : w.run_shoal(config);
    const double scale = std::clamp(opts.duration / t.seconds, 1e-3, 1e3);
    std::cerr << three_digits(t.seconds) << " s, scale " << three_digits(scale) << '\n';
    return scale;
  } catch (const std::exception& e) {
    std::cerr << "FAILED: " << e.what() << '\n';
    return 1.0;
  }
}

// Alternates shoal and CAF within each repetition; see the top of the file.
std::vector<Result> run_all(const std::vector<Workload>& selected, const Options& opts) {
  Progress progress;
  for (const Workload& w : selected)
    progress.total += static_cast<std::size_t>(opts.reps) * (runs_caf(w, opts) ? 2 : 1);

  RunConfig config;
  config.workers = opts.workers;
  config.throughput = opts.throughput;
  config.spin_us = opts.spin_us;
  config.event_port = opts.event_port;
  config.workers_only = opts.workers_only;
  config.pin = opts.pin;
  config.actor_stats = opts.actor_stats;
  config.message_bytes = opts.message_bytes;
  std::vector<Result> results;
  for (const Workload& w : selected) {
    Result& result = results.emplace_back(Result{&w, {}, std::nullopt});
    if (runs_caf(w, opts)) result.caf.emplace();
    if (opts.duration > 0 && w.scalable) result.scale = calibrate(w, config, opts);
    RunConfig sized = config;
    sized.scale = result.scale;
    RunConfig shoal_config = sized;
    shoal_config.trace_path = trace_path_for(opts.trace_path, w.name, selected.size());
    for (unsigned rep = 1; rep <= opts.reps; ++rep) {
      shoal_config.print_stats = opts.stats && rep == opts.reps;
      run_once(w, "shoal", w.run_shoal, shoal_config, rep, opts.reps, opts.fork_runs, progress,
               result.shoal);
      if (result.caf) {
        run_once(w, "caf", w.run_caf, sized, rep, opts.reps, opts.fork_runs, progress,
                 *result.caf);
      }
    }
    if (!shoal_config.trace_path.empty()) {
      std::cerr << "trace of " << w.name << "'s last run: " << shoal_config.trace_path << '\n';
    }
  }
  return results;
}

}  // namespace

// -- main --

int main(int argc, char** argv) {
  Options opts;
  std::vector<Workload> selected;
  Baseline baseline;
  try {
    opts = parse_args(std::vector<std::string_view>(argv + 1, argv + argc));
    if (opts.help) {
      std::cout << usage_text;
      return 0;
    }
    selected = select_workloads(shoal::bench::workloads(), opts.selectors);
    // Read before the runs, so a bad file fails in a second, not after an hour.
    if (!opts.baseline_path.empty()) {
      try {
        baseline = shoal::bench::load_baseline(opts.baseline_path);
      } catch (const std::runtime_error& e) {
        throw UsageError(e.what());
      }
    }
  } catch (const UsageError& e) {
    std::cerr << "shoal-bench: " << e.what() << "\n\n" << usage_text;
    return 2;
  }
  if (opts.list) {
    print_list(std::cout, selected);
    return 0;
  }
  if (opts.programs) {
    for (const std::string& p : programs_of(selected, opts, false)) std::cout << p << '\n';
    return 0;
  }
  // Checked before the runs: a missing server program would fail every
  // remote repetition, one by one.
  if (std::vector<std::string> missing = programs_of(selected, opts, true); !missing.empty()) {
    for (const std::string& p : missing) {
      std::cerr << "shoal-bench: " << p << " is not built (the remote workloads start it)\n";
    }
    std::cerr << "shoal-bench: `ninja -C BUILD bench-suite` builds everything the suite runs "
                 "(tools/run-bench does)\n";
    return 1;
  }

  // Opened before the runs so a bad path fails in a second, not after an hour.
  std::ofstream json_file;
  if (!opts.json_path.empty()) {
    json_file.open(opts.json_path);
    if (!json_file) {
      std::cerr << "shoal-bench: cannot write " << opts.json_path << '\n';
      return 2;
    }
  }

  RunInfo info;
  info.date = utc_now_iso8601();
  info.command = command_line(argc, argv);
  info.build = build_description();
  info.workers = opts.workers;
  info.reps = opts.reps;
  if (!opts.baseline_path.empty()) {
    info.baseline_path = opts.baseline_path;
    info.baseline = &baseline;
    info.noise_percent = opts.noise_percent;
  }
  info.message_bytes = opts.message_bytes;
  if (!opts.trace_path.empty()) info.observed = "flight recorder on";
  if (opts.actor_stats) info.observed += std::string(info.observed.empty() ? "" : ", ") + "every actor instrumented";
  const std::vector<Result> results = run_all(selected, opts);
  shoal::bench::print_report(std::cout, info, results);

  int status = 0;
  if (const std::size_t failures = shoal::bench::failure_count(results); failures != 0) {
    std::cerr << "shoal-bench: " << failures << " run(s) failed\n";
    status = 1;
  }
  if (json_file.is_open()) {
    json_file << shoal::bench::report_json(info, results).dump(2) << '\n';
    json_file.close();
    if (!json_file) {
      std::cerr << "shoal-bench: writing " << opts.json_path << " failed\n";
      status = 1;
    }
  }
  return status;
}
