// The report of a shoal-bench invocation: what each workload's repetitions
// measured (Series, Result), the markdown table of medians with CAF side by
// side and the change against a baseline, and the JSON with every
// repetition. tools/shoal_bench.cpp parses the command line and runs the
// workloads; this file turns what they measured into text.
#pragma once

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/workload.hpp"

namespace shoal::bench {

using Json = nlohmann::ordered_json;  // keeps keys in the documented order

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

/// The medians of an earlier run's JSON, by (workload, system).
using Baseline = std::map<std::pair<std::string, std::string>, double>;

/// What the report says about the run as a whole.
struct RunInfo {
  std::string date;
  std::string command;
  std::string build;
  unsigned workers = 0;
  unsigned reps = 0;
  std::string baseline_path;  // empty: no comparison
  const Baseline* baseline = nullptr;
  double noise_percent = 10;
  std::string observed;  // "trace on, actor statistics on", or ""
  unsigned message_bytes = 0;  // --message-size (ping-pong, pairs, ring)
};

/// For an even count, the mean of the two middle values; nullopt when empty.
std::optional<double> median(std::vector<double> values);
/// About three significant digits: 4.81, 31.2, 245, 1234.
std::string three_digits(double v);
/// A value in its unit; rates get an SI prefix (31.2 M msg/s).
std::string format_value(double v, std::string_view unit);

/// Reads an earlier run's --json file. Throws std::runtime_error naming the
/// file and what is wrong with it.
Baseline load_baseline(const std::string& path);
/// The change from `before` to `now` in percent, oriented so that > 0 is
/// better; nullopt if either is missing or not positive.
std::optional<double> change_percent(const Workload& w, std::optional<double> now,
                                     std::optional<double> before);

/// The header lines and the markdown table (and failed runs, and the count
/// of regressions against a baseline).
void print_report(std::ostream& out, const RunInfo& info, const std::vector<Result>& results);
/// One record per (workload, system) with the parameters, every repetition,
/// the median and its unit.
Json report_json(const RunInfo& info, const std::vector<Result>& results);
/// Runs that failed, over all results.
std::size_t failure_count(const std::vector<Result>& results);

}  // namespace shoal::bench
