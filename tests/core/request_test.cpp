// Request and response: request/respond between actors (sender carried,
// DeadLetterResponse when undeliverable), request futures (answer, timeout,
// dead letter at once, unexpected type, shutdown), then(), reenter_after
// (turn-based, dropped after a restart), get() where blocking is wrong, and
// stop/poison futures. The timing cases run on the deterministic mode's
// virtual clock; races between answers, timeouts and cancels run threaded.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/detail/system_access.hpp"
#include "shoal/actor_system.hpp"
#include "shoal/completion_queue.hpp"
#include "tests/core/runtime_fixture.hpp"

namespace shoal::detail {
namespace {

using namespace std::chrono_literals;
using test::DeadLetterLog;

struct Ask {
  std::uint64_t n = 0;
};
struct Answer {
  std::uint64_t n = 0;
};
struct Silent {};  // the doubler never answers this
struct WrongType {};  // the doubler answers this with an Ask
struct Unknown {};

/// Answers Ask{n} with Answer{2n}.
struct Doubler : Handles<Doubler, Ask, Silent, WrongType, PoisonPill> {
  void on(Context& ctx, Ask& a) { ctx.respond(Answer{2 * a.n}); }
  void on(Context&, Silent&) {}
  void on(Context& ctx, WrongType&) { ctx.respond(Ask{1}); }
  void on(Context&, PoisonPill&) {}
};

using test::Trail;

struct Go {
  Pid target;
  std::uint64_t n = 0;
};

/// Requests from Go; records answers and DeadLetterResponses with who sent them.
struct Asker : Handles<Asker, Go, Answer, DeadLetterResponse> {
  explicit Asker(std::shared_ptr<Trail> seen) : seen(std::move(seen)) {}
  void on(Context& ctx, Go& g) { ctx.request(g.target, Ask{g.n}); }
  void on(Context& ctx, Answer& a) {
    seen->add(test::cat("answer:", a.n, ":from:", ctx.sender().id()));
  }
  void on(Context&, DeadLetterResponse& d) {
    seen->add(test::cat("dead:", d.target_id, ":", d.type_name, ":", to_string(d.reason)));
  }
  std::shared_ptr<Trail> seen;
};

/// Terminated reaches watchers just before the actor's mailbox closes; mail
/// sent in between is "stopped_with_mail". Waiting until it is closed makes
/// the next send's reason "target_stopped" in every configuration.
bool closed(const Pid& p) { return static_cast<ActorCell*>(p.process())->is_dead(); }

class RequestTest : public test::RuntimeTest {};

TEST_P(RequestTest, RespondGoesBackToTheRequesterWithTheResponderAsSender) {
  auto seen = std::make_shared<Trail>();
  auto system = make_system();
  Pid d = spawn<Doubler>(*system);
  Pid a = spawn<Asker>(*system, seen);
  system->send(a, Go{d, 21});
  ASSERT_TRUE(settle(*system, [&] { return seen->all().size() == 1; }, "the answer"));
  EXPECT_EQ(seen->all()[0], test::cat("answer:42:from:", d.id()));
}

TEST_P(RequestTest, ARequestThatCannotBeDeliveredComesBackAsDeadLetterResponse) {
  auto seen = std::make_shared<Trail>();
  auto system = make_system();
  Pid d = spawn<Doubler>(*system);
  Pid a = spawn<Asker>(*system, seen);
  auto gone = system->stop_future(d, 90s);
  if (deterministic()) system->run_until_idle();
  ASSERT_EQ(gone.get().why, TerminatedReason::stopped);
  ASSERT_TRUE(settle(*system, [&] { return closed(d); }, "the doubler's mailbox to close"));
  system->send(a, Go{d, 1});
  ASSERT_TRUE(settle(*system, [&] { return seen->all().size() == 1; }, "the bounce"));
  EXPECT_EQ(seen->all()[0], test::cat("dead:", d.id(), ":", detail::type_name<Ask>(), ":target_stopped"));
}

TEST_P(RequestTest, RespondToAPlainSendIsADeadLetter) {
  DeadLetterLog dead;
  auto system = make_system({.on_dead_letter = dead.observer()});
  Pid d = spawn<Doubler>(*system);
  system->send(d, Ask{1});
  ASSERT_TRUE(settle(*system, [&] { return dead.count(DeadLetterReason::no_sender) == 1; },
                     "a no_sender dead letter"));
}

TEST_P(RequestTest, FutureGetsTheAnswer) {
  auto system = make_system();
  Pid d = spawn<Doubler>(*system);
  Future<Answer> f = system->request_future<Answer>(d, Ask{5}, 90s);
  if (deterministic()) system->run_until_idle();
  EXPECT_EQ(f.get().n, 10u);
}

TEST_P(RequestTest, FutureFailsAtOnceWhenTheRequestIsADeadLetter) {
  auto system = make_system();
  Pid d = spawn<Doubler>(*system);
  auto gone = system->stop_future(d, 90s);
  if (deterministic()) system->run_until_idle();
  EXPECT_EQ(gone.get().why, TerminatedReason::stopped);
  ASSERT_TRUE(settle(*system, [&] { return closed(d); }, "the doubler's mailbox to close"));
  // Stopped target, unhandled type, empty Pid: each fails without waiting
  // for the (long) timeout.
  auto stopped = system->request_future<Answer>(d, Ask{1}, 1h);
  Pid live = spawn<Doubler>(*system);
  auto unhandled = system->request_future<Answer>(live, Unknown{}, 1h);
  auto empty = system->request_future<Answer>(Pid(), Ask{1}, 1h);
  if (deterministic()) system->run_until_idle();
  for (auto* f : {&stopped, &unhandled, &empty}) {
    Result<Answer> r = f->result();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), RequestErrc::dead_letter) << r.what();
  }
  EXPECT_EQ(stopped.result().reason(), DeadLetterReason::target_stopped);
  EXPECT_EQ(unhandled.result().reason(), DeadLetterReason::unhandled);
  EXPECT_EQ(empty.result().reason(), DeadLetterReason::empty_pid);
  try {
    (void)empty.get();
    ADD_FAILURE() << "get() must throw";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.code(), RequestErrc::dead_letter);
  }
}

TEST_P(RequestTest, AnAnswerOfAnotherTypeIsAnError) {
  auto system = make_system();
  Pid d = spawn<Doubler>(*system);
  auto f = system->request_future<Answer>(d, WrongType{}, 90s);
  if (deterministic()) system->run_until_idle();
  Result<Answer> r = f.result();
  EXPECT_EQ(r.error(), RequestErrc::unexpected_type);
  EXPECT_NE(r.what().find("Ask"), std::string::npos) << r.what();
}

TEST_P(RequestTest, ThenRunsOnceCompletedOrAtOnce) {
  auto system = make_system();
  Pid d = spawn<Doubler>(*system);
  std::promise<std::uint64_t> p1;
  auto f1 = system->request_future<Answer>(d, Ask{3}, 90s);
  f1.then([&](Result<Answer> r) { p1.set_value(r.value().n); });
  auto got = p1.get_future();
  ASSERT_TRUE(arrive(*system, got, "then() on completion"));
  EXPECT_EQ(got.get(), 6u);
  // Registered after completion: runs on this thread, now.
  auto f2 = system->request_future<Answer>(d, Ask{4}, 90s);
  if (deterministic()) system->run_until_idle();
  ASSERT_TRUE(test::eventually([&] { return f2.ready(); }, "the second answer"));
  std::uint64_t n = 0;
  f2.then([&](Result<Answer> r) { n = r.value().n; });
  EXPECT_EQ(n, 8u);
}

TEST_P(RequestTest, StopAndPoisonFutures) {
  auto system = make_system();
  Pid d = spawn<Doubler>(*system);
  auto stopped = system->stop_future(d, 90s);
  if (deterministic()) system->run_until_idle();
  Terminated t = stopped.get();
  EXPECT_EQ(t.who, d);
  EXPECT_EQ(t.why, TerminatedReason::stopped);
  auto again = system->stop_future(d, 90s);  // gone already
  if (deterministic()) system->run_until_idle();
  EXPECT_EQ(again.get().why, TerminatedReason::not_found);

  Pid e = spawn<Doubler>(*system);
  auto answers = system->request_future<Answer>(e, Ask{1}, 90s);  // queued before the pill
  auto poisoned = system->poison_future(e, 90s);
  if (deterministic()) system->run_until_idle();
  EXPECT_EQ(poisoned.get().why, TerminatedReason::stopped);
  EXPECT_EQ(answers.get().n, 2u) << "the poison pill comes after what was queued";
}

INSTANTIATE_TEST_SUITE_P(AllConfigs, RequestTest, ::testing::ValuesIn(test::all_configs()),
                         test::config_name);

// -- the virtual clock: timeouts exactly --------------------------------------------------

std::unique_ptr<ActorSystem> deterministic_system(SystemConfig c = {}) {
  c.scheduler.deterministic = true;
  c.scheduler.seed = 11;
  return std::make_unique<ActorSystem>(std::move(c));
}

TEST(RequestFuture, TimesOutAtItsTimeoutAndALateAnswerIsADeadLetter) {
  DeadLetterLog dead;
  auto system = deterministic_system({.on_dead_letter = dead.observer()});
  Pid d = system->spawn<Doubler>();
  auto f = system->request_future<Answer>(d, Silent{}, 50ms);
  system->run_until_idle();
  system->advance_time(49ms);
  EXPECT_FALSE(f.ready());
  system->advance_time(1ms);
  ASSERT_TRUE(f.ready());
  EXPECT_EQ(f.result().error(), RequestErrc::timeout);
  // An answer after the timeout: a counted dead letter, the future unchanged.
  f.core().post(make_envelope(Answer{1}));
  EXPECT_EQ(dead.count(DeadLetterReason::late_response), 1u);
  EXPECT_EQ(f.result().error(), RequestErrc::timeout);
  EXPECT_EQ(shoal::detail::SystemAccess::scheduler(*system).pending_timers(), 0u);
}

TEST(RequestFuture, GetWaitsTheSameWithAndWithoutASpin) {
  // future_spin only changes how get() waits: spinning first (the
  // default), sleeping at once (0), or spinning far longer than any answer
  // takes. Each gets every answer, and a silent target's timeout.
  for (auto spin : {std::chrono::nanoseconds(0), std::chrono::nanoseconds(50us),
                    std::chrono::nanoseconds(10s)}) {
    ActorSystem system({.scheduler = {.workers = 2}, .future_spin = spin});
    Pid d = system.spawn<Doubler>();
    for (std::uint64_t i = 0; i < 200; ++i) {
      ASSERT_EQ(system.request_future<Answer>(d, Ask{i}, 60s).get().n, 2 * i)
          << "future_spin " << spin.count() << " ns";
    }
    EXPECT_EQ(system.request_future<Answer>(d, Silent{}, 20ms).result().error(),
              RequestErrc::timeout);
  }
}

TEST(RequestFuture, AnAnswerUnlinksTheTimeoutAtOnce) {
  auto system = deterministic_system();
  Pid d = system->spawn<Doubler>();
  auto f = system->request_future<Answer>(d, Ask{1}, 1h);
  EXPECT_EQ(shoal::detail::SystemAccess::scheduler(*system).pending_timers(), 1u);
  system->run_until_idle();
  EXPECT_EQ(f.get().n, 2u);
  EXPECT_EQ(shoal::detail::SystemAccess::scheduler(*system).pending_timers(), 0u);
}

/// A request that names its answer's type.
struct Triple {
  using reply_type = Answer;
  std::uint64_t n = 0;
};
/// Answers Triple{n} with Answer{3n}.
struct Tripler : Handles<Tripler, Triple> {
  void on(Context& ctx, Triple& t) { ctx.respond(Answer{3 * t.n}); }
};

/// Whether request_future<R>(pid, msg, timeout) compiles for these types.
template <class R, class T>
concept CanRequest = requires(ActorSystem& s, Pid p, T msg) {
  s.request_future<R>(p, std::move(msg), std::chrono::nanoseconds(1));
};
template <class R, class T>
concept CanRequestInContext = requires(Context& c, Pid p, T msg) {
  c.request_future<R>(p, std::move(msg), std::chrono::nanoseconds(1));
};

TEST(RequestFuture, ARequestThatNamesItsReplyTypeGivesThatFutureAndNoOther) {
  static_assert(DeclaresReply<Triple> && !DeclaresReply<Ask>);
  static_assert(CanRequest<Answer, Triple>, "the declared reply type");
  static_assert(!CanRequest<Ask, Triple>, "another type does not compile");
  static_assert(CanRequest<Answer, Ask> && CanRequest<Ask, Ask>, "undeclared: any type");
  static_assert(CanRequestInContext<Answer, Triple> && !CanRequestInContext<Ask, Triple>);
  auto system = deterministic_system();
  Pid t = system->spawn<Tripler>();
  auto f = system->request_future(t, Triple{5}, 1h);
  static_assert(std::is_same_v<decltype(f), Future<Answer>>, "inferred from Triple");
  system->run_until_idle();
  EXPECT_EQ(f.get().n, 15u);
}

TEST(RequestFuture, GetWhereItWouldBlockForeverThrows) {
  auto system = deterministic_system();
  Pid d = system->spawn<Doubler>();
  auto f = system->request_future<Answer>(d, Ask{1}, 1h);
  EXPECT_THROW((void)f.get(), std::logic_error) << "nothing runs while the test thread waits";
  system->run_until_idle();
  EXPECT_EQ(f.get().n, 2u);
}

TEST(RequestFuture, ShutdownCompletesPendingFutures) {
  Future<Answer> f;
  {
    auto system = deterministic_system();
    Pid d = system->spawn<Doubler>();
    f = system->request_future<Answer>(d, Silent{}, 1h);
    system->run_until_idle();
  }
  ASSERT_TRUE(f.ready());
  EXPECT_EQ(f.result().error(), RequestErrc::shut_down);
}

// -- reenter_after -------------------------------------------------------------------------

struct Fetch {
  Pid from;
  std::uint64_t n;
};
struct Crash {};

/// Asks with a future and handles the answer as its own message; its state
/// is touched by handlers and continuations alike (turn-based).
struct Reenterer : Handles<Reenterer, Fetch, Crash, Ask> {
  explicit Reenterer(std::shared_ptr<Trail> seen) : seen(std::move(seen)) {}
  void on(Context& ctx, Fetch& f) {
    ++pending;
    auto fut = ctx.request_future<Answer>(f.from, Ask{f.n}, 1h);
    ctx.reenter_after(fut, [this](Context& c, Result<Answer>& r) {
      --pending;
      total += r.value().n;
      seen->add(test::cat("cont:", r.value().n, ":pending:", pending, ":self:",
                          c.self().id() != 0));
    });
  }
  void on(Context&, Crash&) { throw std::runtime_error("crash"); }
  void on(Context& ctx, Ask&) { ctx.respond(Answer{total}); }
  std::shared_ptr<Trail> seen;
  int pending = 0;
  std::uint64_t total = 0;
};

TEST(ReenterAfter, TheContinuationRunsAsAMessageOfTheActor) {
  auto seen = std::make_shared<Trail>();
  auto system = deterministic_system();
  Pid d = system->spawn<Doubler>();
  Pid r = system->spawn<Reenterer>(seen);
  system->send(r, Fetch{d, 1});
  system->send(r, Fetch{d, 2});
  system->run_until_idle();
  auto log = seen->all();
  ASSERT_EQ(log.size(), 2u);
  // Each continuation saw the state the handlers and the other left.
  EXPECT_TRUE((log == std::vector<std::string>{"cont:2:pending:1:self:1", "cont:4:pending:0:self:1"}) ||
              (log == std::vector<std::string>{"cont:4:pending:1:self:1", "cont:2:pending:0:self:1"}))
      << log[0] << " " << log[1];
  auto total = system->request_future<Answer>(r, Ask{}, 1h);
  system->run_until_idle();
  EXPECT_EQ(total.get().n, 6u);
}

/// Answers an Ask by asking the doubler first: respond() in the
/// continuation goes to whoever asked the relay.
struct Relay : Handles<Relay, Ask> {
  explicit Relay(Pid doubler) : doubler(std::move(doubler)) {}
  void on(Context& ctx, Ask& a) {
    auto f = ctx.request_future<Answer>(doubler, Ask{a.n}, 1h);
    ctx.reenter_after(f, [](Context& c, Result<Answer>& r) { c.respond(Answer{r.value().n + 1}); });
  }
  Pid doubler;
};

TEST(ReenterAfter, RespondInTheContinuationAnswersTheOriginalRequester) {
  auto system = deterministic_system();
  Pid d = system->spawn<Doubler>();
  Pid relay = system->spawn<Relay>(d);
  auto f = system->request_future<Answer>(relay, Ask{10}, 1h);
  system->run_until_idle();
  EXPECT_EQ(f.get().n, 21u);
}

struct ReleaseNow {};

/// Keeps the sender of an Ask and answers it only when told.
struct Later : Handles<Later, Ask, ReleaseNow> {
  void on(Context& ctx, Ask&) { asker = ctx.sender(); }
  void on(Context& ctx, ReleaseNow&) { ctx.send(asker, Answer{7}); }
  Pid asker;
};

TEST(ReenterAfter, AContinuationOfAReplacedInstanceIsDropped) {
  auto seen = std::make_shared<Trail>();
  DeadLetterLog dead;
  auto system = deterministic_system({.on_dead_letter = dead.observer(),
                                      .on_failure = [](const Failure&) {}});
  Pid later = system->spawn<Later>();
  Pid r = system->spawn<Reenterer>(seen);
  system->send(r, Fetch{later, 1});
  system->run_until_idle();  // r asked; later holds the future's Pid
  system->send(r, Crash{});
  system->run_until_idle();  // r restarted: a fresh instance
  system->send(later, ReleaseNow{});
  system->run_until_idle();  // the answer comes; the continuation is posted to r
  EXPECT_TRUE(seen->all().empty()) << "the old instance's continuation ran";
  EXPECT_EQ(dead.count(DeadLetterReason::target_stopped), 1u);
  auto total = system->request_future<Answer>(r, Ask{}, 1h);
  system->run_until_idle();
  EXPECT_EQ(total.get().n, 0u) << "the fresh instance has its own state";
}

TEST(ReenterAfter, AContinuationToAStoppedActorIsADeadLetter) {
  auto seen = std::make_shared<Trail>();
  DeadLetterLog dead;
  auto system = deterministic_system({.on_dead_letter = dead.observer()});
  Pid later = system->spawn<Later>();
  Pid r = system->spawn<Reenterer>(seen);
  system->send(r, Fetch{later, 1});
  system->run_until_idle();
  system->stop(r);
  system->run_until_idle();
  system->send(later, ReleaseNow{});
  system->run_until_idle();
  EXPECT_TRUE(seen->all().empty());
  EXPECT_EQ(dead.count(DeadLetterReason::target_stopped), 1u);
}

// -- threads -------------------------------------------------------------------------------

TEST(RequestFutureThreaded, GetOnAWorkerThrows) {
  struct Blocker : Handles<Blocker, Go> {
    explicit Blocker(std::shared_ptr<std::promise<bool>> p) : p(std::move(p)) {}
    void on(Context& ctx, Go& g) {
      auto f = ctx.request_future<Answer>(g.target, Ask{1}, 1s);
      try {
        (void)f.get();
        p->set_value(false);
      } catch (const std::logic_error&) {
        p->set_value(true);
      }
    }
    std::shared_ptr<std::promise<bool>> p;
  };
  auto p = std::make_shared<std::promise<bool>>();
  auto threw = p->get_future();
  ActorSystem system({.scheduler = {.workers = 2}});
  Pid d = system.spawn<Doubler>();
  Pid b = system.spawn<Blocker>(p);
  system.send(b, Go{d, 0});
  ASSERT_TRUE(test::ready_within(threw, "the blocker"));
  EXPECT_TRUE(threw.get());
}

// A request from outside arms its timeout on a sleeping worker without
// waking it and wakes it once the request is out (Scheduler::
// add_timer_wake_later): with every worker asleep, a request that is never
// answered must still time out, whether the request woke a worker itself
// (an idle actor) or woke none (a completion queue nobody drains), and an
// answered one leaves no timer behind (ASan would see the core leak).
TEST(RequestFutureThreaded, ATimeoutArmedWhileEveryWorkerSleepsStillFires) {
  for (unsigned workers : {1u, 2u, 3u}) {
    std::promise<RequestErrc> got;  // outlives the system: shutdown may run the callback
    ActorSystem system({.scheduler = {.workers = workers}});
    Scheduler& sched = SystemAccess::scheduler(system);
    Pid d = system.spawn<Doubler>();
    CompletionQueue undrained(system);
    const auto all_asleep = [&] {
      return test::eventually([&] { return sched.parked_workers() == workers; },
                              "every worker asleep");
    };
    const auto times_out = [&](Future<Answer>& f) -> ::testing::AssertionResult {
      if (auto r = test::eventually([&] { return f.ready(); }, "the timeout"); !r) return r;
      Result<Answer> res = f.result();
      if (res.ok()) return ::testing::AssertionFailure() << "answered";
      if (res.error() != RequestErrc::timeout) return ::testing::AssertionFailure() << res.what();
      return ::testing::AssertionSuccess();
    };
    for (int round = 0; round < 5; ++round) {
      ASSERT_TRUE(all_asleep());
      Future<Answer> silent = system.request_future<Answer>(d, Silent{}, 5ms);
      ASSERT_TRUE(times_out(silent)) << workers << " workers, round " << round;
      // A request that wakes no worker: its owner is woken by sent() alone.
      ASSERT_TRUE(all_asleep());
      Future<Answer> unread = system.request_future<Answer>(undrained.pid(), Silent{}, 5ms);
      ASSERT_TRUE(times_out(unread)) << workers << " workers, round " << round << " (no wake-up)";
      ASSERT_TRUE(all_asleep());
      Future<Answer> answered = system.request_future<Answer>(d, Ask{3}, 10s);
      EXPECT_EQ(answered.get().n, 6u);
    }
    // then() on a future nobody waits for: the timeout fires on a worker.
    ASSERT_TRUE(all_asleep());
    system.request_future<Answer>(d, Silent{}, 5ms).then([&](Result<Answer> r) {
      got.set_value(r.ok() ? RequestErrc::dead_letter : r.error());
    });
    auto f = got.get_future();
    ASSERT_EQ(f.wait_for(test::deadline), std::future_status::ready) << "the timeout never fired";
    EXPECT_EQ(f.get(), RequestErrc::timeout);
    system.shutdown();
  }
}

// Many threads request with timeouts as short as the answers are slow:
// every future completes exactly once, an answer that loses to a timeout is
// a late_response dead letter, and nothing leaks (ASan) or races (TSan).
TEST(RequestFutureThreaded, AnswersRaceTimeoutsAndEveryFutureCompletesOnce) {
  const int per_thread = static_cast<int>(test::scaled(3000, 300));
  const int threads = 3;
  DeadLetterLog dead;
  std::atomic<int> answered{0}, timed_out{0};
  {
    ActorSystem system({.scheduler = {.workers = 2}, .on_dead_letter = dead.observer()});
    std::vector<Pid> doublers;
    for (int i = 0; i < 4; ++i) doublers.push_back(system.spawn<Doubler>());
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        std::vector<Future<Answer>> fs;
        for (int i = 0; i < per_thread; ++i) {
          const auto timeout = std::chrono::milliseconds(i % 3);  // 0 = none: must answer
          fs.push_back(system.request_future<Answer>(doublers[(t + i) % 4],
                                                     Ask{static_cast<std::uint64_t>(i)}, timeout));
        }
        for (int i = 0; i < per_thread; ++i) {
          Result<Answer> r = fs[i].result();
          if (r.ok()) {
            EXPECT_EQ(r.value().n, 2u * static_cast<std::uint64_t>(i));
            answered.fetch_add(1);
          } else {
            EXPECT_EQ(r.error(), RequestErrc::timeout) << r.what();
            EXPECT_NE(i % 3, 0) << "no timeout was set";
            timed_out.fetch_add(1);
          }
        }
      });
    }
    for (auto& t : ts) t.join();
    system.shutdown();
  }
  EXPECT_EQ(answered.load() + timed_out.load(), per_thread * threads);
  EXPECT_EQ(dead.count(DeadLetterReason::late_response), static_cast<std::size_t>(timed_out.load()))
      << "every timed-out request was answered late";
}

}  // namespace
}  // namespace shoal::detail
