// shoal-trace: turns a recorded trace file (shoal/trace.hpp; written by
// ActorSystem::dump_trace, or on a signal by dump_trace_on_signal) into what
// a person looks at.
//
//   shoal-trace TRACE [--json OUT] [--html OUT] [--summary]
//
//   --json OUT   Chrome trace-event JSON (open it in https://ui.perfetto.dev
//                or chrome://tracing): to_chrome_json, unchanged
//   --html OUT   one self-contained HTML page (tools/trace_report.hpp): the
//                timeline per worker, batch sizes, per-actor percentiles,
//                top actors, the steal matrix; no network needed to view it
//   --summary    totals and the busiest actors as text on stdout; what
//                shoal-trace prints when no output is asked for
//
// The report's title is the trace file's name. Reading checks the whole
// file first: a truncated or corrupt one is reported with the byte offset
// where it goes wrong, and nothing is written.
//
// Exit status: 0 success, 1 the trace cannot be read or decoded, or an
// output cannot be written (the reason on stderr), 2 bad command line.

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "shoal/trace.hpp"
#include "tools/trace_report.hpp"
#include "tools/trace_stats.hpp"

namespace {

constexpr std::string_view usage =
    "usage: shoal-trace TRACE [--json OUT] [--html OUT] [--summary]\n"
    "  --json OUT   write Chrome trace-event JSON (Perfetto, chrome://tracing)\n"
    "  --html OUT   write a self-contained HTML report\n"
    "  --summary    print totals and the busiest actors (the default with no output)\n";

struct Options {
  std::string trace;
  std::optional<std::string> json;
  std::optional<std::string> html;
  bool summary = false;
};

/// The options, or nothing after printing why not (usage on stderr).
std::optional<Options> parse(int argc, char** argv) {
  Options o;
  auto bad = [](const std::string& why) -> std::optional<Options> {
    std::cerr << "shoal-trace: " << why << "\n" << usage;
    return std::nullopt;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--json" || a == "--html") {
      if (i + 1 >= argc) return bad(std::string(a) + " needs a file name");
      (a == "--json" ? o.json : o.html) = argv[++i];
    } else if (a == "--summary") {
      o.summary = true;
    } else if (a.starts_with("-") && a != "-") {
      return bad("unknown option " + std::string(a));
    } else if (o.trace.empty()) {
      o.trace = a;
    } else {
      return bad("one trace at a time (got " + o.trace + " and " + std::string(a) + ")");
    }
  }
  if (o.trace.empty()) return bad("no trace file given");
  if (!o.json && !o.html) o.summary = true;
  return o;
}

/// Writes `text` to `path`; false (and a message) if it cannot.
bool write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  f.close();
  if (!f) {
    std::cerr << "shoal-trace: " << path << ": cannot write\n";
    return false;
  }
  std::cerr << "shoal-trace: wrote " << path << " (" << text.size() / 1024 << " KiB)\n";
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
    std::cout << usage;
    return 0;
  }
  const std::optional<Options> o = parse(argc, argv);
  if (!o) return 2;

  shoal::Trace trace;
  try {
    trace = shoal::load_trace(o->trace);
  } catch (const std::exception& e) {
    // TraceFileError's message names the offset; others name the path.
    std::cerr << "shoal-trace: " << o->trace << ": " << e.what() << "\n";
    return 1;
  }

  bool ok = true;
  try {
    if (o->json) ok = write_file(*o->json, shoal::to_chrome_json(trace)) && ok;
    if (o->html) {
      const std::string title = std::filesystem::path(o->trace).filename().string();
      ok = write_file(*o->html, shoal::tools::render_html_report(trace, title)) && ok;
    }
    if (o->summary) std::cout << shoal::tools::format_summary(shoal::tools::analyze(trace));
  } catch (const std::exception& e) {
    std::cerr << "shoal-trace: " << o->trace << ": " << e.what() << "\n";
    return 1;
  }
  return ok ? 0 : 1;
}
