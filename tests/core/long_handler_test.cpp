// The long-handler detector (SchedulerConfig::long_handler, monitor.hpp,
// detail/long_run.hpp): a handler that holds its worker past the bound is
// reported as it returns — on the event stream and in the flight recorder,
// with the actor's type and the message's — and a fast one never is.
//
// The slow handlers sleep: that is the workload under test (a handler that
// blocks its worker), not a way to wait for something. The bounds leave a
// wide margin each way: a slow handler runs ten times its bound, and the
// fast ones have a bound no scheduling hiccup reaches.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/detail/system_access.hpp"
#include "shoal/actor_system.hpp"
#include "shoal/trace.hpp"
#include "tests/core/test_support.hpp"

namespace shoal::detail {
namespace {

using namespace std::chrono_literals;

struct Nap {
  std::chrono::milliseconds length;
};
struct Touch {};

/// Blocks its worker for as long as a Nap says.
struct Sleeper : Handles<Sleeper, Nap, Touch> {
  void on(Context&, Nap& n) { std::this_thread::sleep_for(n.length); }
  void on(Context&, Touch&) {}
};

/// Blocks its worker in its Started handler.
struct SlowStarter : Actor {
  explicit SlowStarter(std::chrono::milliseconds length) : length(length) {}
  void receive(Context&, Envelope& e) override {
    if (e.is<Started>()) std::this_thread::sleep_for(length);
  }
  std::chrono::milliseconds length;
};

struct Tick {};
/// Counts its ticks; as fast as a handler gets.
struct Counter : Handles<Counter, Tick> {
  explicit Counter(std::shared_ptr<std::atomic<int>> n) : n(std::move(n)) {}
  void on(Context&, Tick&) {
    // relaxed: the test polls it; nothing else goes with it.
    n->fetch_add(1, std::memory_order_relaxed);
  }
  std::shared_ptr<std::atomic<int>> n;
};

/// The LongHandlerEvents a system publishes, as they come.
class Reports {
 public:
  explicit Reports(ActorSystem& system) : system_(system) {
    token_ = system.events().subscribe<LongHandlerEvent>([this](const LongHandlerEvent& e) {
      std::lock_guard lock(mu_);
      seen_.push_back(e);
    });
  }
  ~Reports() { system_.events().unsubscribe(token_); }
  Reports(const Reports&) = delete;
  Reports& operator=(const Reports&) = delete;

  std::vector<LongHandlerEvent> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  /// Waits for one about `actor`; the first such, or a failure.
  ::testing::AssertionResult wait_for(const Pid& actor, LongHandlerEvent& out) const {
    auto found = [&] {
      for (const LongHandlerEvent& e : seen()) {
        if (e.actor_id == actor.id()) {
          out = e;
          return true;
        }
      }
      return false;
    };
    return test::eventually(found, "a long-handler report");
  }

 private:
  ActorSystem& system_;
  EventStream::Token token_{};
  mutable std::mutex mu_;
  std::vector<LongHandlerEvent> seen_;
};

bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

TEST(LongHandler, ASlowHandlerIsReportedWithItsActorAndMessageType) {
  ActorSystem system({.scheduler = {.workers = 2, .long_handler = 20ms}});
  Reports reports(system);
  Pid sleeper = system.spawn<Sleeper>();
  system.send(sleeper, Nap{200ms});
  LongHandlerEvent e{};
  ASSERT_TRUE(reports.wait_for(sleeper, e));
  EXPECT_TRUE(contains(e.actor_type, "Sleeper")) << e.actor_type;
  EXPECT_TRUE(contains(e.message_type, "Nap")) << e.message_type;
  EXPECT_GE(e.at_least, 20ms) << "reported once past the bound";
  EXPECT_LT(e.worker, 2u);
  EXPECT_EQ(reports.seen().size(), 1u) << "one report per long run";
}

TEST(LongHandler, ALongLifecycleHandlerIsReportedAsItsLifecycleMessage) {
  ActorSystem system({.scheduler = {.workers = 1, .long_handler = 20ms}});
  Reports reports(system);
  Pid slow = system.spawn<SlowStarter>(std::chrono::milliseconds(200));
  LongHandlerEvent e{};
  ASSERT_TRUE(reports.wait_for(slow, e));
  EXPECT_TRUE(contains(e.actor_type, "SlowStarter")) << e.actor_type;
  EXPECT_TRUE(contains(e.message_type, "Started")) << e.message_type;
}

TEST(LongHandler, FastHandlersAreNeverReported) {
  // A live detector (the slow handler at the end is reported) that saw ten
  // thousand fast handlers, on both workers, and named none of them.
  ActorSystem system({.scheduler = {.workers = 2, .long_handler = 200ms}});
  Reports reports(system);
  auto n = std::make_shared<std::atomic<int>>(0);
  std::vector<Pid> counters;
  for (int i = 0; i < 4; ++i) counters.push_back(system.spawn<Counter>(n));
  constexpr int ticks = 10'000;
  for (int i = 0; i < ticks; ++i) system.send(counters[i % counters.size()], Tick{});
  // relaxed: a count; nothing else is read through it.
  ASSERT_TRUE(test::eventually([&] { return n->load(std::memory_order_relaxed) == ticks; },
                               "every tick handled"));
  Pid sleeper = system.spawn<Sleeper>();
  system.send(sleeper, Nap{2s});
  LongHandlerEvent e{};
  ASSERT_TRUE(reports.wait_for(sleeper, e));
  for (const LongHandlerEvent& r : reports.seen()) {
    EXPECT_EQ(r.actor_id, sleeper.id()) << "a fast " << r.actor_type << " was reported";
  }
}

TEST(LongHandler, NotWatchedWithoutABound) {
  ActorSystem off({.scheduler = {.workers = 2,
                                 .stall_after = std::chrono::nanoseconds::zero(),
                                 .long_handler = std::chrono::nanoseconds::zero()}});
  EXPECT_EQ(shoal::detail::SystemAccess::scheduler(off).monitor(), nullptr);
  ActorSystem watching(
      {.scheduler = {
           .workers = 2, .stall_after = std::chrono::nanoseconds::zero(), .long_handler = 20ms}});
  ASSERT_NE(shoal::detail::SystemAccess::scheduler(watching).monitor(), nullptr)
      << "a long-handler bound alone starts it";
  Reports reports(watching);
  Pid sleeper = watching.spawn<Sleeper>();
  watching.send(sleeper, Nap{200ms});
  LongHandlerEvent e{};
  EXPECT_TRUE(reports.wait_for(sleeper, e)) << "reported without the stall bound";
}

TEST(LongHandler, TheFlightRecorderKeepsItAndTheTraceFileCarriesIt) {
  ActorSystem system({.scheduler = {.workers = 1, .long_handler = 20ms}});
  Reports reports(system);
  Pid sleeper = system.spawn<Sleeper>();
  system.start_trace();
  // The worker notices the recording within a scheduling round: touch the
  // sleeper until one of its runs is in the trace.
  auto touched = [&] {
    system.send(sleeper, Touch{});
    for (const auto& lane : system.trace().lanes) {
      for (const TraceEvent& ev : lane) {
        if (ev.kind == TraceKind::run && ev.a == sleeper.id()) return true;
      }
    }
    return false;
  };
  ASSERT_TRUE(test::eventually(touched, "the worker to record"));
  system.send(sleeper, Nap{200ms});
  LongHandlerEvent e{};
  ASSERT_TRUE(reports.wait_for(sleeper, e));

  const Trace t = system.trace();
  const TraceEvent* found = nullptr;
  for (const auto& lane : t.lanes) {
    for (const TraceEvent& ev : lane) {
      if (ev.kind == TraceKind::long_handler) found = &ev;
    }
  }
  ASSERT_NE(found, nullptr) << "a long_handler event in the worker's lane";
  EXPECT_EQ(found->a, sleeper.id());
  EXPECT_TRUE(contains(t.message_type(found->b), "Nap")) << t.message_type(found->b);
  EXPECT_EQ(found->c, static_cast<std::uint64_t>(e.at_least.count())) << "the event's figure";
  EXPECT_TRUE(contains(t.actor_name(sleeper.id()), "Sleeper")) << t.actor_name(sleeper.id());

  // Through a file and into the viewer's JSON.
  const Trace back = decode_trace(encode_trace(t));
  ASSERT_EQ(back.message_types, t.message_types);
  const std::string json = to_chrome_json(back);
  EXPECT_TRUE(contains(json, "\"cat\":\"long_handler\"")) << "an instant event for it";
  EXPECT_TRUE(contains(json, "Nap"));
}

}  // namespace
}  // namespace shoal::detail
