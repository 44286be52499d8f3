// The trace report and shoal-trace: a hand-built trace's numbers reach the
// page's embedded JSON exactly (lanes, runs, messages, flows, steals,
// percentiles, times in microseconds from the first event), and the
// trace's statistics as they are (or null); names that are markup stay
// text, in the statistics too; empty and odd traces render; the CLI's exit codes say
// what went wrong (2 bad usage, 1 an unreadable or corrupt file, naming the
// offset, 0 done). The browser side is report_in_chromium.sh.
#include "tools/trace_report.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "shoal/stats.hpp"
#include "shoal/trace.hpp"
#include "tools/trace_stats.hpp"

namespace shoal::tools {
namespace {

using nlohmann::json;

// -- helpers ------------------------------------------------------------------------------

constexpr std::string_view data_open = R"(<script type="application/json" id="data">)";

/// The JSON embedded in a report, parsed (fails the test if it is not there).
json embedded_data(const std::string& html) {
  const auto at = html.find(data_open);
  EXPECT_NE(at, std::string::npos) << "no data element";
  if (at == std::string::npos) return {};
  const auto from = at + data_open.size();
  const auto end = html.find("</script>", from);
  EXPECT_NE(end, std::string::npos) << "the data element is not closed";
  return json::parse(html.substr(from, end - from));
}

std::size_t count(const std::string& s, std::string_view what) {
  std::size_t n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TraceEvent run(std::uint64_t ts, std::uint32_t dur, std::uint64_t actor, std::uint64_t msgs,
               std::uint64_t first_in = 0, std::uint64_t first_out = 0, std::uint32_t outs = 0) {
  return {.ts = ts,
          .dur = dur,
          .kind = TraceKind::run,
          .x = outs,
          .a = actor,
          .b = msgs,
          .c = first_in,
          .d = first_out};
}

/// Worker w's seq-th consecutive send (flight_recorder.hpp).
constexpr std::uint64_t flow_id(std::uint64_t seq, std::uint64_t w) { return seq << 9 | w << 1; }

/// Two workers, 2 ns per tick. Worker 0: alice sends two flows in a run of 3
/// messages, then a run of 1 message (+1 system). Worker 1: bob receives
/// both flows in one run of 2 messages; a park; a steal from worker 0 that
/// found work and one that did not.
Trace hand_built() {
  Trace t;
  t.ns_per_tick = 2.0;
  t.names = {{1, "alice"}, {3, "bob"}};
  t.lanes.resize(2);
  t.lanes[0] = {run(1000, 500, 1, 3, 0, flow_id(1, 0), 2),
                run(2000, 100, 2, 1 | std::uint64_t{1} << 32)};
  t.lanes[1] = {
      {.ts = 1500, .kind = TraceKind::steal, .x = 1, .a = 0},
      run(1600, 200, 3, 2, flow_id(1, 0)),
      {.ts = 1600, .kind = TraceKind::flow_in, .a = flow_id(2, 0), .b = 3},
      {.ts = 2600, .kind = TraceKind::steal, .x = 0, .a = 0},
      {.ts = 3000, .dur = 1000, .kind = TraceKind::park, .x = 1},
  };
  return t;
}

// -- the report ---------------------------------------------------------------------------

TEST(TraceReport, EmbedsTheNumbersOfAHandBuiltTrace) {
  const std::string html = render_html_report(hand_built(), "hand built");
  const json d = embedded_data(html);
  ASSERT_TRUE(d.is_object());
  EXPECT_EQ(d.at("title"), "hand built");
  const json& s = d.at("summary");
  EXPECT_EQ(s.at("workers"), 2);
  EXPECT_EQ(s.at("runs"), 3);
  EXPECT_EQ(s.at("messages"), 6);
  EXPECT_EQ(s.at("system_messages"), 1);
  EXPECT_EQ(s.at("flows"), 2);
  EXPECT_EQ(s.at("parks"), 1);
  EXPECT_EQ(s.at("steals"), 1);
  EXPECT_EQ(s.at("steal_attempts"), 2);
  EXPECT_DOUBLE_EQ(s.at("duration_us").get<double>(), 6.0) << "ticks 1000..4000 at 2 ns";
  EXPECT_DOUBLE_EQ(s.at("busy_us").get<double>(), 1.6);

  const json& lanes = d.at("lanes");
  ASSERT_EQ(lanes.size(), 2u);
  EXPECT_EQ(lanes[0].at("runs").at("t").size(), 2u);
  EXPECT_EQ(lanes[1].at("runs").at("t").size(), 1u);
  EXPECT_DOUBLE_EQ(lanes[0].at("runs").at("t")[0].get<double>(), 0.0) << "from the first event";
  EXPECT_DOUBLE_EQ(lanes[1].at("runs").at("t")[0].get<double>(), 1.2);
  EXPECT_DOUBLE_EQ(lanes[1].at("parks").at("d")[0].get<double>(), 2.0);
  EXPECT_EQ(lanes[1].at("steals").at("ok"), json({1, 0}));
  EXPECT_EQ(d.at("steal_matrix"), json({{0, 0}, {1, 0}})) << "worker 1 stole from worker 0";

  // Busiest first: alice (1 µs), bob (0.4 µs), then the unnamed actor 2.
  const json& actors = d.at("actors");
  ASSERT_EQ(actors.size(), 3u);
  EXPECT_EQ(actors[0].at("name"), "alice");
  EXPECT_EQ(actors[1].at("name"), "bob");
  EXPECT_EQ(actors[2].at("name"), "#2");
  EXPECT_EQ(lanes[0].at("runs").at("a"), json({0, 2})) << "indices into actors";
  EXPECT_DOUBLE_EQ(actors[0].at("busy_us").get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(actors[0].at("handler_us").at("p50").get<double>(), 0.333);
  EXPECT_EQ(actors[0].at("latency_us").at("n"), 0);
  const json& bob_latency = actors[1].at("latency_us");
  EXPECT_EQ(bob_latency.at("n"), 2);
  EXPECT_DOUBLE_EQ(bob_latency.at("p99").get<double>(), 1.2) << "sending run 1000 → 1600 ticks";

  const json& f = d.at("flows");
  EXPECT_EQ(f.at("fw"), json({0, 0}));
  EXPECT_EQ(f.at("tw"), json({1, 1}));
  // Batch sizes: 1 → bucket 1, 2 and 3 → bucket 2.
  const json& b = d.at("batches");
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[1].at("runs"), 1);
  EXPECT_EQ(b[2].at("lo"), 2);
  EXPECT_EQ(b[2].at("hi"), 3);
  EXPECT_EQ(b[2].at("runs"), 2);
  EXPECT_NE(html.find("document.title = 'shoal trace report: ok ("), std::string::npos);
}

/// hand_built()'s statistics: two workers, bob instrumented (named `bob`).
std::string hand_built_stats(const std::string& bob = "bob") {
  SystemStats s;
  s.uptime_ns = 2e6;
  s.dead_letters = 4;
  s.workers.resize(2);
  s.workers[0].messages = 4;
  s.workers[0].runs = 2;
  s.workers[0].busy_ns = 3e5;
  s.workers[0].idle_ns = 1.7e6;
  s.workers[1].index = 1;
  s.workers[1].messages = 2;
  s.workers[1].runs = 1;
  s.workers[1].steals_tried = 2;
  s.workers[1].steals_won = 1;
  s.actors.push_back({.id = 3,
                      .name = bob,
                      .messages = 2,
                      .depth = 1,
                      .depth_high_water = 2,
                      .oldest_message_age_ns = 1500,
                      .queue_wait_ns = {.count = 2, .p50 = 700, .p999 = 1200, .max = 1200},
                      .handler_ns = {.count = 2, .p50 = 90, .max = 110}});
  return s.to_json();
}

TEST(TraceReport, EmbedsTheTracesStatistics) {
  Trace t = hand_built();
  t.stats_json = hand_built_stats();
  const json d = embedded_data(render_html_report(t, "with stats"));
  const json& s = d.at("stats");
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s, json::parse(t.stats_json)) << "as the trace holds them, times in ns";
  ASSERT_EQ(s.at("workers").size(), 2u);
  EXPECT_EQ(s.at("workers")[1].at("steals_won"), 1);
  ASSERT_EQ(s.at("actors").size(), 1u);
  EXPECT_EQ(s.at("actors")[0].at("name"), "bob");
  EXPECT_DOUBLE_EQ(s.at("actors")[0].at("queue_wait_ns").at("p999").get<double>(), 1200);
  EXPECT_EQ(d.at("summary").at("runs"), 3) << "the trace's own figures are unchanged";
}

TEST(TraceReport, ATraceWithoutStatisticsHasNone) {
  const std::string html = render_html_report(hand_built(), "no stats");
  EXPECT_TRUE(embedded_data(html).at("stats").is_null());
  // The measured tables are made by the script, only from statistics.
  EXPECT_EQ(html.find(R"(id="measured-actors")"), std::string::npos);
  // Statistics that are not a JSON object (only possible in memory: decoding
  // refuses them) count as none.
  for (const char* bad : {"[1, 2]", "{\"cut\":", "\xff"}) {
    Trace t = hand_built();
    t.stats_json = bad;
    EXPECT_TRUE(embedded_data(render_html_report(t, "bad")).at("stats").is_null()) << bad;
  }
}

TEST(TraceReport, FindsTheSameFlowsAsTheChromeExport) {
  const Trace t = hand_built();
  const json chrome = json::parse(to_chrome_json(t));
  std::size_t starts = 0;
  for (const auto& e : chrome.at("traceEvents")) starts += e.at("ph") == "s";
  EXPECT_EQ(analyze(t).flows, starts);
}

TEST(TraceReport, NamesThatAreMarkupCannotEndTheScript) {
  Trace t = hand_built();
  const std::string evil = "</script><script>alert(1)</script><!--";
  t.names[1] = evil;
  t.stats_json = hand_built_stats(evil);
  const std::string html = render_html_report(t, "<b>title</b></script>");
  EXPECT_EQ(html.find("</script><script>alert"), std::string::npos);
  EXPECT_EQ(html.find("<!--"), std::string::npos);
  EXPECT_EQ(html.find("<b>title"), std::string::npos) << "the heading is escaped";
  EXPECT_EQ(count(html, "</script>"), 3u) << "onerror, data and the script, nothing more";
  const json d = embedded_data(html);
  EXPECT_EQ(d.at("actors")[0].at("name"), evil) << "the escapes decode to the same name";
  EXPECT_EQ(d.at("stats").at("actors")[0].at("name"), evil);
  EXPECT_EQ(d.at("title"), "<b>title</b></script>");
}

TEST(TraceReport, InvalidUtf8InANameStillParses) {
  Trace t = hand_built();
  t.names[1] = std::string("bad \xff\xfe name");
  const json d = embedded_data(render_html_report(t, "x"));
  EXPECT_NE(d.at("actors")[0].at("name").get<std::string>().find("name"), std::string::npos);
}

TEST(TraceReport, AnEmptyTraceRenders) {
  for (std::size_t workers : {0u, 2u}) {
    Trace t;
    t.lanes.resize(workers);
    const json d = embedded_data(render_html_report(t, "empty"));
    EXPECT_EQ(d.at("lanes").size(), workers);
    EXPECT_EQ(d.at("summary").at("runs"), 0);
    EXPECT_EQ(d.at("summary").at("duration_us"), 0);
    EXPECT_TRUE(d.at("actors").empty());
    EXPECT_TRUE(d.at("batches").empty());
  }
}

TEST(TraceStats, PercentilesAreNearestRank) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  const Percentiles p = percentiles(v);
  EXPECT_EQ(p.n, 100u);
  EXPECT_EQ(p.p50, 50);
  EXPECT_EQ(p.p90, 90);
  EXPECT_EQ(p.p99, 99);
  EXPECT_EQ(p.max, 100);
  std::vector<double> none;
  EXPECT_EQ(percentiles(none).n, 0u);
}

TEST(TraceStats, LongHandlersAreListedWithTheirActorAndMessageType) {
  Trace t = hand_built();
  t.message_types = {"app::Slow"};
  // bob's handler of an app::Slow ran at least 150 ms; it returned at tick
  // 2100 (2 ns a tick: 2.2 us after the first event, at 1000).
  t.lanes[1].push_back(
      {.ts = 2100, .kind = TraceKind::long_handler, .a = 3, .b = 0, .c = 150'000'000});
  const TraceStats s = analyze(t);
  ASSERT_EQ(s.long_handlers.size(), 1u);
  EXPECT_EQ(s.long_handlers[0].actor, "bob");
  EXPECT_EQ(s.long_handlers[0].message_type, "app::Slow");
  EXPECT_EQ(s.long_handlers[0].lane, "worker 1");
  EXPECT_DOUBLE_EQ(s.long_handlers[0].at_least_us, 150'000.0);
  EXPECT_DOUBLE_EQ(s.long_handlers[0].at_us, 2.2);
  const std::string text = format_summary(s);
  EXPECT_NE(text.find("long       bob on app::Slow: at least"), std::string::npos) << text;
  EXPECT_EQ(embedded_data(render_html_report(t, "long")).at("summary").at("long_handlers"), 1);
  EXPECT_EQ(analyze(hand_built()).long_handlers.size(), 0u);
}

// -- shoal-trace --------------------------------------------------------------------------

/// What a run of shoal-trace did.
struct Ran {
  int status = -1;
  std::string out, err;
};

class ShoalTraceCli : public ::testing::Test {
 protected:
  void SetUp() override {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): no other thread runs here
    const char* bin = std::getenv("SHOAL_TRACE");
    ASSERT_NE(bin, nullptr) << "SHOAL_TRACE names the binary (tests/meson.build sets it)";
    bin_ = bin;
    ASSERT_TRUE(std::filesystem::exists(bin_)) << bin_ << " is not built";
    dir_ =
        std::filesystem::temp_directory_path() / ("shoal-trace-cli-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  Ran run(const std::string& args) const {
    const std::string out = path("stdout"), err = path("stderr");
    const std::string cmd = "'" + bin_ + "' " + args + " >'" + out + "' 2>'" + err + "'";
    Ran r;
    // NOLINTNEXTLINE(concurrency-mt-unsafe): no other thread runs here
    const int w = std::system(cmd.c_str());
    r.status = WIFEXITED(w) ? WEXITSTATUS(w) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }
  static std::string slurp(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
  }

  std::string bin_;
  std::filesystem::path dir_;
};

TEST_F(ShoalTraceCli, BadUsageExitsTwoWithTheUsage) {
  for (const char* args : {"", "--bogus x.trace", "x.trace --html", "x.trace --json", "a b"}) {
    const Ran r = run(args);
    EXPECT_EQ(r.status, 2) << "args: " << args;
    EXPECT_NE(r.err.find("usage: shoal-trace"), std::string::npos) << r.err;
  }
}

TEST_F(ShoalTraceCli, ACorruptOrMissingFileExitsOneNamingTheOffset) {
  const std::string bytes = encode_trace(hand_built());
  const std::string truncated = path("truncated.trace"), corrupt = path("corrupt.trace");
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() - 20);
  std::string bad = bytes;
  bad[8] = 7;  // the version
  std::ofstream(corrupt, std::ios::binary) << bad;
  for (const std::string& p : {truncated, corrupt}) {
    const Ran r = run("'" + p + "' --html '" + path("never.html") + "'");
    EXPECT_EQ(r.status, 1) << p;
    EXPECT_NE(r.err.find("shoal-trace: " + p + ": "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("offset"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(path("never.html"))) << "nothing written";
  }
  const Ran missing = run("'" + path("nothing-here.trace") + "'");
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("cannot open"), std::string::npos) << missing.err;
}

TEST_F(ShoalTraceCli, AGoodFileWritesJsonHtmlAndTheSummary) {
  const std::string trace = path("good.trace");
  save_trace(hand_built(), trace);
  const Ran r = run("'" + trace + "' --json '" + path("out.json") + "' --html '" +
                    path("out.html") + "' --summary");
  ASSERT_EQ(r.status, 0) << r.err;
  const json chrome = json::parse(slurp(path("out.json")));
  EXPECT_TRUE(chrome.contains("traceEvents"));
  const json d = embedded_data(slurp(path("out.html")));
  EXPECT_EQ(d.at("title"), "good.trace");
  EXPECT_EQ(d.at("summary").at("runs"), 3);
  EXPECT_NE(r.out.find("runs       3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("alice"), std::string::npos) << r.out;

  const Ran plain = run("'" + trace + "'");
  EXPECT_EQ(plain.status, 0);
  EXPECT_EQ(plain.out, r.out) << "the summary is the default";
}

}  // namespace
}  // namespace shoal::tools
