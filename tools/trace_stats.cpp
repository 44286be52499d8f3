#include "tools/trace_stats.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <limits>
#include <unordered_map>

#include "core/trace_flows.hpp"

namespace shoal::tools {

namespace {

/// Samples gathered for one actor before they become percentiles.
struct ActorSamples {
  std::vector<double> handler_us;
  std::vector<double> latency_us;
};

std::string fixed(double v, int decimals) {
  char b[48];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

}  // namespace

// -- analysis ----------------------------------------------------------------------------

TraceStats analyze(const Trace& t) {
  TraceStats s;
  s.workers = t.worker_lanes();
  for (std::size_t g = s.workers; g < t.lanes.size(); ++g)
    s.guests.push_back({.name = t.lane_name(g)});
  s.steal_matrix.assign(s.workers, std::vector<std::uint64_t>(s.workers, 0));
  const double us_per_tick = t.ns_per_tick / 1e3;
  const std::uint64_t t0 = t.first_tick();
  std::uint64_t end = t0;

  std::unordered_map<std::uint64_t, std::size_t> index;  // actor id → s.actors
  std::vector<ActorSamples> samples;
  auto actor = [&](std::uint64_t id) -> std::size_t {
    auto [it, fresh] = index.emplace(id, s.actors.size());
    if (fresh) {
      ActorStats& a = s.actors.emplace_back();
      a.id = id;
      a.name = t.actor_name(id);
      samples.emplace_back();
    }
    return it->second;
  };

  for (std::size_t w = 0; w < t.lanes.size(); ++w) {
    GuestLaneStats* guest = w < s.workers ? nullptr : &s.guests[w - s.workers];
    for (const TraceEvent& e : t.lanes[w]) {
      ++s.events;
      end = std::max(end, e.ts + e.dur);
      const double dur_us = e.dur * us_per_tick;
      switch (e.kind) {
        case TraceKind::run: {
          const std::uint64_t user = e.b & 0xffffffff;
          const std::uint64_t system = e.b >> 32;
          const std::size_t i = actor(e.a);
          ActorStats& a = s.actors[i];
          ++a.runs;
          a.messages += user;
          a.system_messages += system;
          a.busy_us += dur_us;
          if (user > 0) samples[i].handler_us.push_back(dur_us / static_cast<double>(user));
          ++s.runs;
          s.messages += user;
          s.system_messages += system;
          s.busy_us += dur_us;
          if (guest != nullptr) {
            ++guest->runs;
            guest->messages += user;
            guest->busy_us += dur_us;
          }
          const std::size_t bucket = static_cast<std::size_t>(std::bit_width(user));
          if (s.batch_runs.size() <= bucket) s.batch_runs.resize(bucket + 1, 0);
          ++s.batch_runs[bucket];
          break;
        }
        case TraceKind::park:
          ++s.parks;
          s.park_us += dur_us;
          break;
        case TraceKind::steal:
          ++s.steal_attempts;
          if (e.x != 0) {
            ++s.steals;
            if (guest == nullptr && e.a < s.workers) ++s.steal_matrix[w][e.a];
          }
          break;
        case TraceKind::scheduled:
          ++s.schedules;
          break;
        case TraceKind::flow_in:
        case TraceKind::flow_out:
          break;
        case TraceKind::remote_in:
        case TraceKind::remote_out:
          if (guest == nullptr) break;  // only io threads write these
          if (e.kind == TraceKind::remote_in) {
            ++guest->frames_in;
            guest->messages_in += e.b;
          } else {
            ++guest->writes_out;
            guest->messages_out += e.b;
          }
          guest->io_us += dur_us;
          break;
        case TraceKind::long_handler:
          s.long_handlers.push_back({.actor = t.actor_name(e.a),
                                     .message_type = t.message_type(e.b),
                                     .lane = t.lane_name(w),
                                     .at_us = static_cast<double>(e.ts - t0) * us_per_tick,
                                     .at_least_us = static_cast<double>(e.c) / 1e3});
          break;
        case TraceKind::actor_type:
          break;  // never in a Trace (ActorSystem::trace() makes it a name)
      }
    }
  }
  s.duration_us = static_cast<double>(end - t0) * us_per_tick;

  for (const MatchedFlow& f : match_flows(t)) {
    ++s.flows;
    // Two cores' TSCs may differ by a few ticks: a latency is never negative.
    const std::uint64_t ticks = f.to_ts > f.from_ts ? f.to_ts - f.from_ts : 0;
    samples[actor(f.to_actor)].latency_us.push_back(static_cast<double>(ticks) * us_per_tick);
  }

  for (std::size_t i = 0; i < s.actors.size(); ++i) {
    s.actors[i].handler_us = percentiles(samples[i].handler_us);
    s.actors[i].latency_us = percentiles(samples[i].latency_us);
  }
  std::sort(s.actors.begin(), s.actors.end(), [](const ActorStats& a, const ActorStats& b) {
    return a.busy_us != b.busy_us ? a.busy_us > b.busy_us : a.id < b.id;
  });
  return s;
}

Percentiles percentiles(std::vector<double>& samples) {
  Percentiles p;
  p.n = samples.size();
  if (samples.empty()) return p;
  std::sort(samples.begin(), samples.end());
  auto rank = [&](double q) {
    const auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size())));
    return samples[std::clamp<std::size_t>(k, 1, samples.size()) - 1];
  };
  p.p50 = rank(0.50);
  p.p90 = rank(0.90);
  p.p99 = rank(0.99);
  p.max = samples.back();
  return p;
}

std::uint64_t batch_bucket_low(std::size_t k) noexcept {
  return k == 0 ? 0 : std::uint64_t{1} << (k - 1);
}

// -- text --------------------------------------------------------------------------------

std::string format_duration(double us) {
  const double a = std::fabs(us);
  if (a < 1) return fixed(us * 1e3, 0) + " ns";
  if (a < 1e3) return fixed(us, a < 10 ? 2 : a < 100 ? 1 : 0) + " us";
  if (a < 1e6) return fixed(us / 1e3, a < 1e4 ? 2 : a < 1e5 ? 1 : 0) + " ms";
  return fixed(us / 1e6, 2) + " s";
}

std::string format_summary(const TraceStats& s, std::size_t top) {
  std::string out;
  const double capacity = s.duration_us * static_cast<double>(s.workers);
  const double worker_busy_us = s.busy_us - s.guest_busy_us();
  out += "duration   " + format_duration(s.duration_us) + " on " + std::to_string(s.workers) +
         " worker" + (s.workers == 1 ? "" : "s") + " (" + std::to_string(s.events) + " events)\n";
  out +=
      "runs       " + std::to_string(s.runs) + ", busy " + format_duration(s.busy_us) +
      (capacity > 0 ? " (" + fixed(100 * worker_busy_us / capacity, 1) + "% of the workers' time)"
                    : std::string()) +
      "\n";
  out += "messages   " + std::to_string(s.messages) + " user, " +
         std::to_string(s.system_messages) + " system; " + std::to_string(s.flows) +
         " flows with both ends\n";
  out += "parks      " + std::to_string(s.parks) + ", asleep " + format_duration(s.park_us) + "\n";
  out += "steals     " + std::to_string(s.steals) + " of " + std::to_string(s.steal_attempts) +
         " attempts\n";
  for (const GuestLaneStats& g : s.guests) {
    out += "guest      " + g.name + ": " + std::to_string(g.runs) + " runs (" +
           std::to_string(g.messages) + " messages), busy " + format_duration(g.busy_us) + "; " +
           std::to_string(g.frames_in) + " frames in (" + std::to_string(g.messages_in) +
           " messages), " + std::to_string(g.writes_out) + " writes out (" +
           std::to_string(g.messages_out) + " messages), " + format_duration(g.io_us) + "\n";
  }
  for (const LongHandlerStats& l : s.long_handlers) {
    out += "long       " + l.actor + " on " + l.message_type + ": at least " +
           format_duration(l.at_least_us) + ", " + l.lane + " at " + format_duration(l.at_us) +
           "\n";
  }
  if (s.actors.empty()) return out;
  // One format for the header and the rows, so the columns line up.
  constexpr const char* row = "  %-18s %9s %7s %8s %8s %19s %19s\n";
  auto cell = [](const std::string& s) { return s.c_str(); };
  auto pair = [](const Percentiles& p) {
    return p.n == 0 ? std::string("-") : format_duration(p.p50) + " / " + format_duration(p.p99);
  };
  char line[256];
  std::snprintf(line, sizeof line, row, "busiest actors", "busy", "share", "runs", "messages",
                "handler p50 / p99", "latency p50 / p99");
  out += "\n";
  out += line;
  for (std::size_t i = 0; i < std::min(top, s.actors.size()); ++i) {
    const ActorStats& a = s.actors[i];
    const std::string name = a.name.size() > 18 ? a.name.substr(0, 17) + "~" : a.name;
    const double share = s.busy_us > 0 ? 100 * a.busy_us / s.busy_us : 0.0;
    std::snprintf(line, sizeof line, row, cell(name), cell(format_duration(a.busy_us)),
                  cell(fixed(share, 1) + "%"), cell(std::to_string(a.runs)),
                  cell(std::to_string(a.messages)), cell(pair(a.handler_us)),
                  cell(pair(a.latency_us)));
    out += line;
  }
  return out;
}

}  // namespace shoal::tools
