// Trace files: a trace, its guest lanes and its statistics survive encode →
// decode; version 1 (no statistics) and 2 (no guest lanes) files still
// read; every truncation, a bad magic,
// version, kind or count, a statistics section that is cut, too long, not
// JSON or not an object, stray bytes and random corruption give a
// TraceFileError naming the offset — never a crash or a huge allocation;
// the Chrome export leaves out flows with a lost end.
#include "shoal/trace.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

namespace shoal {
namespace {

Trace sample() {
  Trace t;
  t.ns_per_tick = 0.37;
  t.names = {{7, "alice"}, {9, "Player #9"}};
  t.lanes.resize(2);
  // worker 0: alice runs and sends two messages (flows 1<<9 and 2<<9).
  t.lanes[0].push_back({.ts = 1000,
                        .dur = 50,
                        .kind = TraceKind::run,
                        .x = 2,
                        .a = 7,
                        .b = 1,
                        .c = 0,
                        .d = std::uint64_t{1} << 9});
  t.lanes[0].push_back({.ts = 1010, .kind = TraceKind::scheduled, .x = 0, .a = 9, .b = 7});
  t.lanes[0].push_back({.ts = 1100, .dur = 400, .kind = TraceKind::park, .x = 1});
  // worker 1: #9 receives both in one run, then a message nobody traced.
  t.lanes[1].push_back(
      {.ts = 1200, .dur = 30, .kind = TraceKind::run, .a = 9, .b = 2, .c = std::uint64_t{1} << 9});
  t.lanes[1].push_back(
      {.ts = 1200, .kind = TraceKind::flow_in, .a = std::uint64_t{2} << 9, .b = 9});
  t.lanes[1].push_back({.ts = 1300, .kind = TraceKind::steal, .x = 1, .a = 0});
  t.lanes[1].push_back({.ts = 1400,
                        .dur = 10,
                        .kind = TraceKind::run,
                        .a = 9,
                        .b = 1,
                        .c = std::uint64_t{77} << 9 | 3 << 1});  // its sender's run was lost
  // worker 1: #9's handler of a Ping ran at least 2 ms.
  t.message_types = {"app::Ping"};
  t.lanes[1].push_back(
      {.ts = 1450, .kind = TraceKind::long_handler, .a = 9, .b = 0, .c = 2'000'000});
  t.stats_json = R"({"uptime_ns": 5000.5, "workers": [{"index": 0, "messages": 3}], "actors": []})";
  return t;
}

/// sample() and a guest lane ("io 0", a node's io thread): it delivers a
/// remote frame whose one message worker 1's #9 receives, runs alice as a
/// guest, and writes a frame to the peer.
Trace sample_with_guest() {
  Trace t = sample();
  t.guest_names = {"io 0"};
  t.lanes.emplace_back();
  const std::uint64_t flow = std::uint64_t{1} << 9 | 2 << 1;  // lane 2's first flow
  t.lanes[2].push_back({.ts = 1500,
                        .dur = 20,
                        .kind = TraceKind::remote_in,
                        .x = 1,
                        .a = 0xabc,
                        .b = 1,
                        .c = 96,
                        .d = flow});
  t.lanes[2].push_back({.ts = 1530, .dur = 15, .kind = TraceKind::run, .a = 7, .b = 1});
  t.lanes[2].push_back(
      {.ts = 1550, .dur = 5, .kind = TraceKind::remote_out, .a = 0xabc, .b = 1, .c = 80});
  t.lanes[1].push_back({.ts = 1600, .dur = 10, .kind = TraceKind::run, .a = 9, .b = 1, .c = flow});
  return t;
}

/// Appends `v`'s bytes (the format is little-endian, as is every host shoal runs on).
template <class T>
void append(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

std::string with(std::string bytes, std::size_t at, const void* v, std::size_t n) {
  std::memcpy(bytes.data() + at, v, n);
  return bytes;
}

std::uint64_t offset_of_error(const std::string& bytes) {
  try {
    decode_trace(bytes);
  } catch (const TraceFileError& e) {
    return e.offset();
  }
  ADD_FAILURE() << "decoded";
  return ~0ull;
}

void expect_same(const Trace& a, const Trace& b) {
  EXPECT_EQ(a.ns_per_tick, b.ns_per_tick);
  EXPECT_EQ(a.names, b.names);
  EXPECT_EQ(a.stats_json, b.stats_json);
  EXPECT_EQ(a.guest_names, b.guest_names);
  EXPECT_EQ(a.message_types, b.message_types);
  ASSERT_EQ(a.lanes.size(), b.lanes.size());
  for (std::size_t w = 0; w < a.lanes.size(); ++w) {
    ASSERT_EQ(a.lanes[w].size(), b.lanes[w].size());
    for (std::size_t i = 0; i < a.lanes[w].size(); ++i) {
      const TraceEvent& x = a.lanes[w][i];
      const TraceEvent& y = b.lanes[w][i];
      EXPECT_EQ(x.ts, y.ts);
      EXPECT_EQ(x.dur, y.dur);
      EXPECT_EQ(x.kind, y.kind);
      EXPECT_EQ(x.x, y.x);
      EXPECT_EQ(x.a, y.a);
      EXPECT_EQ(x.b, y.b);
      EXPECT_EQ(x.c, y.c);
      EXPECT_EQ(x.d, y.d);
    }
  }
}

TEST(TraceFile, RoundTripsWithAndWithoutStatistics) {
  Trace t = sample();
  ASSERT_FALSE(t.stats_json.empty());
  expect_same(decode_trace(encode_trace(t)), t);
  t.stats_json.clear();
  expect_same(decode_trace(encode_trace(t)), t);
  Trace empty;
  expect_same(decode_trace(encode_trace(empty)), empty);
}

TEST(TraceFile, GuestLanesKeepTheirNames) {
  const Trace t = sample_with_guest();
  const Trace back = decode_trace(encode_trace(t));
  expect_same(back, t);
  EXPECT_EQ(back.worker_lanes(), 2u);
  EXPECT_EQ(back.lane_name(0), "worker 0");
  EXPECT_EQ(back.lane_name(1), "worker 1");
  EXPECT_EQ(back.lane_name(2), "io 0");
}

TEST(TraceFile, AVersionTwoFileHasOnlyWorkerLanes) {
  std::string v2("SHOALTRC", 8);
  append<std::uint32_t>(v2, 2);  // version
  append<std::uint32_t>(v2, 1);  // one worker
  append<double>(v2, 0.5);       // ns per tick
  append<std::uint64_t>(v2, 0);  // no names
  append<std::uint64_t>(v2, 1);  // one event: #7 runs 3 messages for 40 ticks
  append<std::uint64_t>(v2, 1000);
  append<std::uint64_t>(v2, 40 | std::uint64_t{1} << 32);
  for (std::uint64_t word : {7, 3, 0, 0}) append<std::uint64_t>(v2, word);
  append<std::uint64_t>(v2, 2);  // statistics: {}
  v2 += "{}";

  const Trace t = decode_trace(v2);
  ASSERT_EQ(t.lanes.size(), 1u);
  EXPECT_TRUE(t.guest_names.empty());
  EXPECT_EQ(t.worker_lanes(), 1u);
  EXPECT_EQ(t.lane_name(0), "worker 0");
  ASSERT_EQ(t.lanes[0].size(), 1u);
  EXPECT_EQ(t.lanes[0][0].b, 3u);
  EXPECT_EQ(t.stats_json, "{}");
}

TEST(TraceFile, AVersionOneFileWithoutStatisticsStillDecodes) {
  std::string v1("SHOALTRC", 8);
  append<std::uint32_t>(v1, 1);  // version
  append<std::uint32_t>(v1, 1);  // one worker
  append<double>(v1, 0.5);       // ns per tick
  append<std::uint64_t>(v1, 1);  // one name: actor 7, "alice"
  append<std::uint64_t>(v1, 7);
  append<std::uint32_t>(v1, 5);
  v1 += "alice";
  append<std::uint64_t>(v1, 1);  // one event: alice runs 3 messages for 40 ticks
  append<std::uint64_t>(v1, 1000);
  append<std::uint64_t>(v1, 40 | std::uint64_t{1} << 32);
  for (std::uint64_t word : {7, 3, 0, 0}) append<std::uint64_t>(v1, word);

  const Trace t = decode_trace(v1);
  EXPECT_EQ(t.ns_per_tick, 0.5);
  EXPECT_EQ(t.actor_name(7), "alice");
  ASSERT_EQ(t.lanes.size(), 1u);
  ASSERT_EQ(t.lanes[0].size(), 1u);
  EXPECT_EQ(t.lanes[0][0].kind, TraceKind::run);
  EXPECT_EQ(t.lanes[0][0].dur, 40u);
  EXPECT_EQ(t.lanes[0][0].b, 3u);
  EXPECT_TRUE(t.stats_json.empty()) << "version 1 has no statistics";
  // A statistics section is not part of version 1: it is stray bytes.
  std::string with_section = v1;
  append<std::uint64_t>(with_section, 0);
  EXPECT_EQ(offset_of_error(with_section), v1.size());
}

TEST(TraceFile, EveryTruncationIsAnErrorNamingAnOffsetInside) {
  const std::string bytes = encode_trace(sample());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    try {
      decode_trace(std::string_view(bytes).substr(0, n));
      ADD_FAILURE() << "a trace cut to " << n << " bytes decoded";
    } catch (const TraceFileError& e) {
      EXPECT_LE(e.offset(), n) << e.what();
      EXPECT_NE(std::string(e.what()).find("offset"), std::string::npos);
    }
  }
}

TEST(TraceFile, CorruptHeadersNameWhereTheyGoWrong) {
  const std::string good = encode_trace(sample());
  EXPECT_EQ(offset_of_error(with(good, 0, "NOTATRACE", 8)), 0u);
  for (const std::uint32_t v : {0u, 5u}) EXPECT_EQ(offset_of_error(with(good, 8, &v, 4)), 8u);
  const std::uint32_t threads = 1u << 20;
  EXPECT_EQ(offset_of_error(with(good, 12, &threads, 4)), 12u);
  const double nan_rate = -1;
  EXPECT_EQ(offset_of_error(with(good, 16, &nan_rate, 8)), 16u);
  const std::uint32_t workers = 3;  // of 2 lanes
  EXPECT_EQ(offset_of_error(with(good, 24, &workers, 4)), 24u);
  const std::uint64_t names = ~0ull;
  EXPECT_EQ(offset_of_error(with(good, 28, &names, 8)), 28u);
  EXPECT_GT(offset_of_error(good + "x"), 0u);  // stray byte at the end
  // A guest lane's name: its length at 28 (after 2 worker lanes of 3).
  const std::string guests = encode_trace(sample_with_guest());
  const std::uint32_t long_name = 257;
  EXPECT_EQ(offset_of_error(with(guests, 28, &long_name, 4)), 28u);
  const std::uint32_t past_end = 1u << 30;
  EXPECT_EQ(offset_of_error(with(guests, 28, &past_end, 4)), 28u);
}

/// `stats` as a trace's statistics section, and the section's offset.
std::pair<std::string, std::size_t> with_stats(const std::string& stats) {
  Trace t = sample();
  t.stats_json = stats;
  std::string bytes = encode_trace(t);
  return {bytes, bytes.size() - stats.size() - 8};
}

/// The error `bytes` give: the offset must be `at`, the message mention `what`.
void expect_error(const std::string& bytes, std::size_t at, const std::string& what) {
  try {
    decode_trace(bytes);
    ADD_FAILURE() << "decoded; expected: " << what;
  } catch (const TraceFileError& e) {
    EXPECT_EQ(e.offset(), at) << e.what();
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

TEST(TraceFile, ABadStatisticsSectionNamesItsOffset) {
  const auto [good, at] = with_stats(R"({"workers": []})");
  const std::uint64_t longer = 16, huge = (std::uint64_t{64} << 20) + 1;
  expect_error(with(good, at, &longer, 8), at, "exceeds the 15 bytes left");
  expect_error(with(good, at, &huge, 8), at, "> 64 MiB");
  const auto [cut, cut_at] = with_stats(R"({"workers": [)");
  expect_error(cut, cut_at, "not JSON");
  const auto [junk, junk_at] = with_stats("\x01\xff not json");
  expect_error(junk, junk_at, "not JSON");
  const auto [array, array_at] = with_stats("[1, 2]");
  expect_error(array, array_at, "not a JSON object");
  const auto [deep, deep_at] =
      with_stats(R"({"a":)" + std::string(100, '[') + std::string(100, ']') + "}");
  expect_error(deep, deep_at, "nested deeper");
  const auto [two, two_at] = with_stats(R"({} {})");
  expect_error(two, two_at, "not JSON");
  // Version 2 requires the section: a file that ends after the events is cut.
  const std::string none = encode_trace(Trace{});
  expect_error(none.substr(0, none.size() - 8), none.size() - 8, "statistics length");
}

TEST(TraceFile, StatisticsOverTheLimitAreNotWritten) {
  Trace t = sample();
  t.stats_json.assign((std::uint64_t{64} << 20) + 1, ' ');
  EXPECT_THROW(encode_trace(t), std::length_error);
}

TEST(TraceFile, AnUnknownEventKindOrAHugeCountIsAnError) {
  Trace t;
  t.lanes.resize(1);
  t.lanes[0].push_back({.ts = 1, .kind = TraceKind::run, .a = 1});
  const std::string good = encode_trace(t);
  // Header 28 bytes, no names (8), no message types (8), then the count
  // (8) and the event.
  const std::size_t count_at = 44, event_at = 52;
  std::string bad_kind = good;
  bad_kind[event_at + 8 + 4] = 99;
  EXPECT_EQ(offset_of_error(bad_kind), event_at);
  const std::uint64_t huge = 1ull << 40;
  EXPECT_EQ(offset_of_error(with(good, count_at, &huge, 8)), count_at);
}

TEST(TraceFile, LongHandlerEventsNameTheirMessageTypeAndOlderVersionsHaveNone) {
  // Lanes of one worker; no names, one message type, one long_handler event.
  Trace t;
  t.lanes.resize(1);
  t.message_types = {"app::Ping"};
  t.lanes[0].push_back({.ts = 5, .kind = TraceKind::long_handler, .a = 3, .b = 0, .c = 7'000});
  const std::string good = encode_trace(t);
  const Trace back = decode_trace(good);
  EXPECT_EQ(back.message_type(0), "app::Ping");
  EXPECT_EQ(back.message_type(1), "?") << "an index past the table";
  const std::string json = to_chrome_json(back);
  EXPECT_NE(json.find("long handler: #3 on app::Ping"), std::string::npos) << json;
  EXPECT_NE(json.find("\"at_least_us\":7.000"), std::string::npos) << json;
  // Offsets: header 28, name count 8, the message type count at 36, the
  // first type's length at 44.
  const std::uint64_t huge = std::uint64_t{1} << 30;
  expect_error(with(good, 36, &huge, 8), 36, "message type count");
  const std::uint32_t long_type = 4097;
  expect_error(with(good, 44, &long_type, 4), 44, "message type length");
  // A version 3 file has no message types and no such event.
  std::string v3("SHOALTRC", 8);
  append<std::uint32_t>(v3, 3);  // version
  append<std::uint32_t>(v3, 1);  // one lane
  append<double>(v3, 1.0);       // ns per tick
  append<std::uint32_t>(v3, 1);  // one worker lane
  append<std::uint64_t>(v3, 0);  // no names
  append<std::uint64_t>(v3, 1);  // one event, of the new kind
  const std::size_t event_at = v3.size();
  append<std::uint64_t>(v3, 5);
  append<std::uint64_t>(v3,
                        std::uint64_t{static_cast<std::uint8_t>(TraceKind::long_handler)} << 32);
  for (std::uint64_t word : {3, 0, 7000, 0}) append<std::uint64_t>(v3, word);
  append<std::uint64_t>(v3, 0);  // no statistics
  expect_error(v3, event_at, "unknown event kind");
}

TEST(TraceFile, RandomCorruptionNeverCrashes) {
  const std::string good = encode_trace(sample_with_guest());
  std::mt19937_64 rng(7);
  for (int round = 0; round < 5000; ++round) {
    std::string b = good;
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<char>(rng());
    try {
      const Trace t = decode_trace(b);
      (void)to_chrome_json(t);  // whatever decodes must export
    } catch (const TraceFileError&) {
    }
  }
}

TEST(TraceFile, ChromeExportKeepsOnlyFlowsWithBothEnds) {
  const auto j = nlohmann::json::parse(to_chrome_json(sample()));
  int starts = 0, ends = 0, runs = 0, parks = 0, steals = 0, schedules = 0;
  bool alice = false;
  for (const auto& e : j.at("traceEvents")) {
    const std::string ph = e.at("ph");
    starts += ph == "s";
    ends += ph == "f";
    if (ph == "X" && e.at("cat") == "run") {
      ++runs;
      alice |= e.at("name") == "alice";
    }
    parks += ph == "X" && e.at("cat") == "park";
    steals += ph == "i" && e.at("cat") == "steal";
    schedules += ph == "i" && e.at("cat") == "schedule";
  }
  EXPECT_EQ(starts, 2) << "alice's two sends reached #9";
  EXPECT_EQ(ends, 2) << "the third receive has no traced sender";
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(parks, 1);
  EXPECT_EQ(steals, 1);
  EXPECT_EQ(schedules, 1);
  EXPECT_TRUE(alice);
}

TEST(TraceFile, ChromeExportNamesGuestLanesAndDrawsTheirFrames) {
  const auto j = nlohmann::json::parse(to_chrome_json(sample_with_guest()));
  bool io_named = false;
  int received = 0, sent = 0, guest_runs = 0, flows_from_io = 0;
  for (const auto& e : j.at("traceEvents")) {
    const std::string ph = e.at("ph");
    if (ph == "M" && e.at("name") == "thread_name" && e.at("tid") == 2) {
      io_named = e.at("args").at("name") == "io 0";
    }
    if (ph == "X" && e.at("cat") == "remote") {
      EXPECT_EQ(e.at("tid"), 2);
      EXPECT_EQ(e.at("args").at("peer_incarnation"), 0xabc);
      received += e.at("name") == "received";
      sent += e.at("name") == "sent";
    }
    guest_runs += ph == "X" && e.at("cat") == "run" && e.at("tid") == 2;
    flows_from_io += ph == "s" && e.at("tid") == 2;
  }
  EXPECT_TRUE(io_named);
  EXPECT_EQ(received, 1);
  EXPECT_EQ(sent, 1);
  EXPECT_EQ(guest_runs, 1);
  EXPECT_EQ(flows_from_io, 1) << "the frame's message reached #9 on worker 1";
}

}  // namespace
}  // namespace shoal
