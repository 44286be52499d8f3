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

using shoal::bench::RunConfig;
using shoal::bench::Timing;
using shoal::bench::Workload;
using Json = nlohmann::ordered_json;  // keeps keys in the documented order

// -- command line --

constexpr std::string_view usage_text =
    R"(usage: shoal-bench [WORKLOAD...] [--workers N] [--reps N] [--throughput N]
                   [--pin] [--stats] [--actor-stats] [--trace FILE]
                   [--duration SECONDS] [--json FILE] [--baseline FILE] [--noise PCT]
                   [--no-caf] [--no-fork]
       shoal-bench --list [WORKLOAD...]
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
  std::string json_path;    // empty = no JSON
  std::string trace_path;   // empty = no trace
  std::string baseline_path;  // empty = no comparison
  double noise_percent = 10;
  double duration = 0;        // seconds; 0 = each workload's default size
  bool pin = false;
  bool stats = false;
  bool actor_stats = false;
  bool run_caf = true;
  bool fork_runs = true;
  bool list = false;
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
    } else if (arg == "--json") {
      opts.json_path = file_name(name, value());
    } else if (arg == "--trace") {
      opts.trace_path = file_name(name, value());
    } else if (arg == "--baseline") {
      opts.baseline_path = file_name(name, value());
    } else if (arg == "--noise") {
      opts.noise_percent = parse_percent(name, value());
    } else if (arg == "--duration") {
      opts.duration = parse_seconds(name, value());
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

// -- statistics and formatting --

// For an even count, the mean of the two middle values; nullopt when empty.
std::optional<double> median(std::vector<double> values) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  if (values.size() % 2 == 1) return values[mid];
  return (values[mid - 1] + values[mid]) / 2;
}

// Memory figures are optional per workload; 0 means "not measured".
std::optional<double> nonzero_median(const std::vector<double>& values) {
  const std::optional<double> m = median(values);
  if (m && *m != 0) return m;
  return std::nullopt;
}

// About three significant digits: 4.81, 31.2, 245, 1234.
std::string three_digits(double v) {
  const double a = std::fabs(v);
  const char* format = a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : "%.2f";
  std::array<char, 64> buf{};
  std::snprintf(buf.data(), buf.size(), format, v);
  return buf.data();
}

// Rates span orders of magnitude and get an SI prefix (31.2 M msg/s); other
// units (ms, ns/actor) stay as they are so a column reads in one unit.
std::string format_value(double v, std::string_view unit) {
  if (!std::isfinite(v)) return "n/a";
  std::string suffix = " " + std::string(unit);
  if (unit.ends_with("/s")) {
    constexpr std::array<std::pair<double, const char*>, 3> prefixes{
        {{1e9, " G"}, {1e6, " M"}, {1e3, " k"}}};
    for (const auto& [scale, prefix] : prefixes) {
      if (std::fabs(v) >= scale) return three_digits(v / scale) + prefix + suffix;
    }
  }
  return three_digits(v) + suffix;
}

std::string format_mib(double bytes) { return three_digits(bytes / (1024.0 * 1024.0)) + " MiB"; }

std::string format_bytes_per_actor(double bytes) { return three_digits(bytes) + " B/actor"; }

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

/// Every repetition of one workload on one system. The four vectors hold the
/// successful runs, index-aligned; a failed run only adds to `errors`.
struct Series {
  std::vector<double> values;
  std::vector<double> seconds;
  std::vector<double> peak_rss;
  std::vector<double> bytes_per_actor;
  std::vector<std::string> errors;  // "rep 2: what()"
};

struct Result {
  const Workload* workload;  // borrowed from the selected list, which outlives the results
  Series shoal;
  std::optional<Series> caf;  // nullopt: no CAF twin, or --no-caf
  double scale = 1.0;         // the size factor --duration chose
};

struct Progress {
  std::size_t done = 0;
  std::size_t total = 0;
};

bool runs_caf(const Workload& w, const Options& opts) {
  return opts.run_caf && static_cast<bool>(w.run_caf);
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
  config.pin = opts.pin;
  config.actor_stats = opts.actor_stats;
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

// -- baseline --

/// The medians of an earlier run's JSON, by (workload, system).
using Baseline = std::map<std::pair<std::string, std::string>, double>;

Baseline load_baseline(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("cannot read the baseline " + path);
  Json j;
  try {
    j = Json::parse(in);
  } catch (const std::exception& e) {
    throw UsageError("the baseline " + path + " is not JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("results") || !j["results"].is_array()) {
    throw UsageError("the baseline " + path + " has no \"results\" array (not shoal-bench --json?)");
  }
  Baseline b;
  for (const Json& r : j["results"]) {
    if (!r.is_object() || !r.contains("workload") || !r.contains("system") || !r["workload"].is_string() ||
        !r["system"].is_string()) {
      throw UsageError("the baseline " + path + " has a record without workload and system");
    }
    if (r.contains("median") && r["median"].is_number()) {
      b[{r["workload"].get<std::string>(), r["system"].get<std::string>()}] =
          r["median"].get<double>();
    }
  }
  return b;
}

/// The change from `before` to `now` in percent, oriented so that > 0 is
/// better; nullopt if either is missing or not positive.
std::optional<double> change_percent(const Workload& w, std::optional<double> now,
                                     std::optional<double> before) {
  if (!now || !before || *now <= 0 || *before <= 0) return std::nullopt;
  return 100.0 * (w.higher_is_better ? *now / *before - 1 : *before / *now - 1);
}

// -- table --

/// What the report says about the run as a whole.
struct RunInfo {
  std::string date;
  std::string command;
  std::string build;
  unsigned workers = 0;
  unsigned reps = 0;
  std::string baseline_path;          // empty: no comparison
  const Baseline* baseline = nullptr;
  double noise_percent = 10;
  std::string observed;               // "trace on, actor statistics on", or ""
};

using Row = std::vector<std::string>;

// "shoal x" relative to CAF, > 1 = shoal better.
std::string ratio_cell(const Workload& w, std::optional<double> shoal, std::optional<double> caf) {
  if (!shoal || !caf || *shoal <= 0 || *caf <= 0) return "-";
  const double ratio = w.higher_is_better ? *shoal / *caf : *caf / *shoal;
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%.2fx", ratio);
  return buf.data();
}

// "shoal 412 MiB, CAF 530 MiB"; "" when neither system measured the figure.
std::string per_system(std::optional<double> shoal, std::optional<double> caf,
                       std::string (*format)(double)) {
  std::string text;
  if (shoal) text += "shoal " + format(*shoal);
  if (caf) text += (text.empty() ? "CAF " : ", CAF ") + format(*caf);
  return text;
}

std::string extra_cell(const Result& r) {
  const Series* caf = r.caf ? &*r.caf : nullptr;
  const std::string rss =
      per_system(nonzero_median(r.shoal.peak_rss),
                 caf ? nonzero_median(caf->peak_rss) : std::nullopt, format_mib);
  const std::string per_actor =
      per_system(nonzero_median(r.shoal.bytes_per_actor),
                 caf ? nonzero_median(caf->bytes_per_actor) : std::nullopt, format_bytes_per_actor);
  std::string cell = rss.empty() ? "" : "peak RSS " + rss;
  if (!per_actor.empty()) cell += (cell.empty() ? "" : "; ") + per_actor;
  if (r.scale != 1.0) cell += (cell.empty() ? "" : "; ") + ("size x" + three_digits(r.scale));
  return cell;
}

std::optional<double> baseline_of(const RunInfo& info, const Workload& w, const char* system) {
  if (info.baseline == nullptr) return std::nullopt;
  auto it = info.baseline->find({w.name, system});
  if (it == info.baseline->end()) return std::nullopt;
  return it->second;
}

/// True if shoal's median moved the wrong way by more than the noise.
bool regressed(const RunInfo& info, const Result& r) {
  const auto c = change_percent(*r.workload, median(r.shoal.values),
                                baseline_of(info, *r.workload, "shoal"));
  return c && *c < -info.noise_percent;
}

// "+3.1%", "-14.2% REGRESSION", "-" when not in the baseline.
std::string baseline_cell(const RunInfo& info, const Result& r) {
  const auto c = change_percent(*r.workload, median(r.shoal.values),
                                baseline_of(info, *r.workload, "shoal"));
  if (!c) return "-";
  std::array<char, 48> buf{};
  std::snprintf(buf.data(), buf.size(), "%+.1f%%%s", *c, regressed(info, r) ? " REGRESSION" : "");
  return buf.data();
}

Row table_row(const RunInfo& info, const Result& r) {
  const Workload& w = *r.workload;
  const std::optional<double> shoal = median(r.shoal.values);
  const std::optional<double> caf = r.caf ? median(r.caf->values) : std::nullopt;
  auto cell = [&](std::optional<double> v) { return v ? format_value(*v, w.unit) : "-"; };
  Row row{w.name, w.unit, cell(shoal), cell(caf), ratio_cell(w, shoal, caf), extra_cell(r)};
  if (info.baseline != nullptr) row.insert(row.begin() + 5, baseline_cell(info, r));
  return row;
}

// A '|' inside a cell would end it early.
std::string escape_cell(std::string_view text) {
  std::string escaped;
  for (const char c : text) {
    if (c == '|') escaped += '\\';
    escaped += c;
  }
  return escaped;
}

// Pads the columns so the table also reads well in a terminal; the markdown
// is valid either way.
void print_table(std::ostream& out, const Row& header, const std::vector<Row>& rows) {
  const std::size_t column_count = header.size();
  std::vector<bool> right_aligned(column_count, true);
  right_aligned[0] = right_aligned[1] = right_aligned[column_count - 1] = false;
  std::vector<std::size_t> width(column_count);
  for (std::size_t c = 0; c < column_count; ++c) {
    width[c] = std::max<std::size_t>(header[c].size(), 3);
    for (const Row& row : rows) width[c] = std::max(width[c], row[c].size());
  }
  auto print_row = [&](const Row& row) {
    out << '|';
    for (std::size_t c = 0; c < column_count; ++c) {
      const std::string pad(width[c] - row[c].size(), ' ');
      out << ' ' << (right_aligned[c] ? pad + row[c] : row[c] + pad) << " |";
    }
    out << '\n';
  };
  print_row(header);
  out << '|';
  for (std::size_t c = 0; c < column_count; ++c) {
    out << (right_aligned[c] ? ' ' + std::string(width[c], '-') + ":|"
                             : ":" + std::string(width[c], '-') + " |");
  }
  out << '\n';
  for (const Row& row : rows) print_row(row);
}

void print_report(std::ostream& out, const RunInfo& info, const std::vector<Result>& results) {
  out << "- date: " << info.date << '\n'
      << "- command: `" << info.command << "`\n"
      << "- workers: " << info.workers << ", reps: " << info.reps << " (median shown)\n"
      << "- build: " << info.build << '\n'
      << "- shoal vs CAF: > 1 means shoal is better (faster, or less memory)\n";
  if (!info.observed.empty()) out << "- observed: " << info.observed << " (shoal runs)\n";
  if (info.baseline != nullptr) {
    out << "- vs baseline: shoal's median against " << info.baseline_path
        << " (> 0 is better; a REGRESSION is worse by more than " << info.noise_percent
        << " %)\n";
  }
  out << '\n';

  Row header{"workload", "unit", "shoal", "CAF", "shoal vs CAF", "extra"};
  if (info.baseline != nullptr) header.insert(header.begin() + 5, "vs baseline");
  std::vector<Row> rows;
  std::size_t regressions = 0;
  for (const Result& r : results) {
    Row row = table_row(info, r);
    for (std::string& cell : row) cell = escape_cell(cell);
    rows.push_back(std::move(row));
    regressions += regressed(info, r) ? 1 : 0;
  }
  print_table(out, header, rows);
  if (info.baseline != nullptr) {
    out << '\n' << regressions << " regression(s) beyond " << info.noise_percent
        << " % against the baseline\n";
  }

  bool first = true;
  auto print_errors = [&](const Result& r, std::string_view system, const Series& s) {
    for (const std::string& error : s.errors) {
      if (first) out << "\nFailed runs:\n\n";
      first = false;
      out << "- " << r.workload->name << ' ' << system << ' ' << error << '\n';
    }
  };
  for (const Result& r : results) {
    print_errors(r, "shoal", r.shoal);
    if (r.caf) print_errors(r, "caf", *r.caf);
  }
}

// -- JSON --

// Parameters such as pairs = 64 read better as 64 than as 64.0.
Json json_number(double v) {
  if (std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 9.0e15) {
    return static_cast<long long>(v);
  }
  return v;
}

bool any_nonzero(const std::vector<double>& values) {
  return std::any_of(values.begin(), values.end(), [](double v) { return v != 0; });
}

Json series_json(const RunInfo& info, const Result& r, const char* system, const Series& s,
                 unsigned workers) {
  const Workload& w = *r.workload;
  Json params = Json::object();
  for (const auto& [key, value] : w.params) params[key] = json_number(value);
  params["workers"] = workers;
  if (r.scale != 1.0) params["scale"] = r.scale;  // sizes above are before scaling

  Json record;
  record["workload"] = w.name;
  record["system"] = system;
  record["params"] = std::move(params);
  record["unit"] = w.unit;
  record["higher_is_better"] = w.higher_is_better;
  record["runs"] = s.values;
  const std::optional<double> m = median(s.values);
  record["median"] = m ? Json(*m) : Json(nullptr);
  record["seconds"] = s.seconds;
  if (any_nonzero(s.peak_rss)) record["peak_rss_bytes"] = s.peak_rss;
  if (any_nonzero(s.bytes_per_actor)) record["bytes_per_actor"] = s.bytes_per_actor;
  if (!s.errors.empty()) record["errors"] = s.errors;
  if (const auto before = baseline_of(info, w, system)) {
    record["baseline_median"] = *before;
    const auto c = change_percent(w, m, before);
    record["change_percent"] = c ? Json(*c) : Json(nullptr);
  }
  return record;
}

Json report_json(const RunInfo& info, const std::vector<Result>& results) {
  Json records = Json::array();
  for (const Result& r : results) {
    records.push_back(series_json(info, r, "shoal", r.shoal, info.workers));
    if (r.caf) records.push_back(series_json(info, r, "caf", *r.caf, info.workers));
  }
  Json report;
  report["date"] = info.date;
  report["command"] = info.command;
  report["workers"] = info.workers;
  report["reps"] = info.reps;
  report["build"] = info.build;
  if (!info.observed.empty()) report["observed"] = info.observed;
  if (info.baseline != nullptr) {
    report["baseline"] = info.baseline_path;
    report["noise_percent"] = info.noise_percent;
  }
  report["results"] = std::move(records);
  return report;
}

std::size_t failure_count(const std::vector<Result>& results) {
  std::size_t failures = 0;
  for (const Result& r : results) {
    failures += r.shoal.errors.size() + (r.caf ? r.caf->errors.size() : 0);
  }
  return failures;
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
    if (!opts.baseline_path.empty()) baseline = load_baseline(opts.baseline_path);
  } catch (const UsageError& e) {
    std::cerr << "shoal-bench: " << e.what() << "\n\n" << usage_text;
    return 2;
  }
  if (opts.list) {
    print_list(std::cout, selected);
    return 0;
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
  if (!opts.trace_path.empty()) info.observed = "flight recorder on";
  if (opts.actor_stats) info.observed += std::string(info.observed.empty() ? "" : ", ") + "every actor instrumented";
  const std::vector<Result> results = run_all(selected, opts);
  print_report(std::cout, info, results);

  int status = 0;
  if (const std::size_t failures = failure_count(results); failures != 0) {
    std::cerr << "shoal-bench: " << failures << " run(s) failed\n";
    status = 1;
  }
  if (json_file.is_open()) {
    json_file << report_json(info, results).dump(2) << '\n';
    json_file.close();
    if (!json_file) {
      std::cerr << "shoal-bench: writing " << opts.json_path << " failed\n";
      status = 1;
    }
  }
  return status;
}
