#include "tools/bench_report.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace shoal::bench {

namespace {

// Memory figures are optional per workload; 0 means "not measured".
std::optional<double> nonzero_median(const std::vector<double>& values) {
  const std::optional<double> m = median(values);
  if (m && *m != 0) return m;
  return std::nullopt;
}

std::string format_mib(double bytes) { return three_digits(bytes / (1024.0 * 1024.0)) + " MiB"; }

std::string format_bytes_per_actor(double bytes) { return three_digits(bytes) + " B/actor"; }

// -- table ---------------------------------------------------------------------------

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
  const auto c =
      change_percent(*r.workload, median(r.shoal.values), baseline_of(info, *r.workload, "shoal"));
  return c && *c < -info.noise_percent;
}

// "+3.1%", "-14.2% REGRESSION", "-" when not in the baseline.
std::string baseline_cell(const RunInfo& info, const Result& r) {
  const auto c =
      change_percent(*r.workload, median(r.shoal.values), baseline_of(info, *r.workload, "shoal"));
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
    const std::string dashes(width[c], '-');
    if (right_aligned[c]) {
      out << ' ' << dashes << ":|";
    } else {
      out << ':' << dashes << " |";
    }
  }
  out << '\n';
  for (const Row& row : rows) print_row(row);
}

// -- JSON ----------------------------------------------------------------------------

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
  if (w.sized_messages) params["message_bytes"] = info.message_bytes;

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

}  // namespace

// -- statistics and formatting --------------------------------------------------------

// For an even count, the mean of the two middle values; nullopt when empty.
std::optional<double> median(std::vector<double> values) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  if (values.size() % 2 == 1) return values[mid];
  return (values[mid - 1] + values[mid]) / 2;
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
  std::string suffix(" ");  // not `" " + ...`: g++ 12 warns falsely (-Wrestrict)
  suffix += unit;
  if (unit.ends_with("/s")) {
    constexpr std::array<std::pair<double, const char*>, 3> prefixes{
        {{1e9, " G"}, {1e6, " M"}, {1e3, " k"}}};
    for (const auto& [scale, prefix] : prefixes) {
      if (std::fabs(v) >= scale) return three_digits(v / scale) + prefix + suffix;
    }
  }
  return three_digits(v) + suffix;
}

// -- baseline ------------------------------------------------------------------------

Baseline load_baseline(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the baseline " + path);
  Json j;
  try {
    j = Json::parse(in);
  } catch (const std::exception& e) {
    throw std::runtime_error("the baseline " + path + " is not JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("results") || !j["results"].is_array()) {
    throw std::runtime_error("the baseline " + path +
                             " has no \"results\" array (not shoal-bench --json?)");
  }
  Baseline b;
  for (const Json& r : j["results"]) {
    if (!r.is_object() || !r.contains("workload") || !r.contains("system") ||
        !r["workload"].is_string() || !r["system"].is_string()) {
      throw std::runtime_error("the baseline " + path +
                               " has a record without workload and system");
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

// -- the report ------------------------------------------------------------------------

void print_report(std::ostream& out, const RunInfo& info, const std::vector<Result>& results) {
  out << "- date: " << info.date << '\n'
      << "- command: `" << info.command << "`\n"
      << "- workers: " << info.workers << ", reps: " << info.reps << " (median shown)\n"
      << "- build: " << info.build << '\n'
      << "- shoal vs CAF: > 1 means shoal is better (faster, or less memory)\n";
  if (!info.observed.empty()) out << "- observed: " << info.observed << " (shoal runs)\n";
  if (info.message_bytes != 0) {
    out << "- message payload: " << info.message_bytes
        << " bytes, forwarded with every hop (ping-pong, pairs, ring)\n";
  }
  if (info.baseline != nullptr) {
    out << "- vs baseline: shoal's median against " << info.baseline_path
        << " (> 0 is better; a REGRESSION is worse by more than " << info.noise_percent << " %)\n";
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
    out << '\n'
        << regressions << " regression(s) beyond " << info.noise_percent
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

}  // namespace shoal::bench
