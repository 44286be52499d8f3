#include "core/trace_flows.hpp"

#include <algorithm>
#include <iterator>
#include <unordered_map>

namespace shoal {

namespace {

/// Where a flow was sent from.
struct SendEnd {
  unsigned worker;
  std::uint64_t ts;
  std::uint64_t actor;
};

/// The flows a run sent: consecutive sequence numbers of one sender.
struct SentRange {
  std::uint64_t first_seq;
  std::uint64_t count;
  SendEnd end;
};

/// Every sending end in a trace, found by flow id: stamps one by one,
/// consecutive ids as ranges per sending worker.
class FlowOuts {
 public:
  void add_stamp(std::uint64_t id, SendEnd e) { stamps_.emplace(id, e); }
  void add_range(std::uint64_t first_id, std::uint64_t count, SendEnd e) {
    if (count == 0) return;
    ranges_[(first_id >> 1) & 0xff].push_back({first_id >> 9, count, e});
  }
  void sort() {
    for (auto& [w, r] : ranges_) {
      std::sort(r.begin(), r.end(),
                [](const SentRange& a, const SentRange& b) { return a.first_seq < b.first_seq; });
    }
  }
  const SendEnd* find(std::uint64_t id) const {
    if ((id & 1) != 0) {
      auto it = stamps_.find(id);
      return it == stamps_.end() ? nullptr : &it->second;
    }
    auto it = ranges_.find((id >> 1) & 0xff);
    if (it == ranges_.end()) return nullptr;
    const std::uint64_t seq = id >> 9;
    const auto& r = it->second;
    auto after = std::upper_bound(r.begin(), r.end(), seq, [](std::uint64_t s, const SentRange& x) {
      return s < x.first_seq;
    });
    if (after == r.begin()) return nullptr;
    const SentRange& x = *std::prev(after);
    return seq - x.first_seq < x.count ? &x.end : nullptr;
  }

 private:
  std::unordered_map<std::uint64_t, SendEnd> stamps_;
  std::unordered_map<std::uint64_t, std::vector<SentRange>> ranges_;
};

/// A receiving end waiting for its sender.
struct ReceiveEnd {
  std::uint64_t flow;
  unsigned worker;
  std::uint64_t ts;
  std::uint64_t actor;
};

}  // namespace

std::vector<MatchedFlow> match_flows(const Trace& t) {
  FlowOuts outs;
  std::vector<ReceiveEnd> ins;
  for (unsigned w = 0; w < t.lanes.size(); ++w) {
    for (const TraceEvent& e : t.lanes[w]) {
      switch (e.kind) {
        case TraceKind::run:
          if (e.c != 0) ins.push_back({e.c, w, e.ts, e.a});
          outs.add_range(e.d, e.x, SendEnd{w, e.ts, e.a});
          break;
        case TraceKind::remote_in:  // a node's io thread delivering a frame: no actor
          outs.add_range(e.d, e.x, SendEnd{w, e.ts, 0});
          break;
        case TraceKind::flow_in:
          ins.push_back({e.a, w, e.ts, e.b});
          break;
        case TraceKind::flow_out:
          outs.add_stamp(e.a, SendEnd{w, e.ts, e.b});
          break;
        default:
          break;
      }
    }
  }
  outs.sort();
  std::vector<MatchedFlow> flows;
  flows.reserve(ins.size());
  for (const ReceiveEnd& in : ins) {
    const SendEnd* out = outs.find(in.flow);
    if (out == nullptr) continue;  // its sender's run was overwritten or untraced
    flows.push_back({out->worker, out->ts, out->actor, in.worker, in.ts, in.actor});
  }
  return flows;
}

}  // namespace shoal
