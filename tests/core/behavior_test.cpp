// Behaviors: become replaces, become_stacked pushes, unbecome pops; the
// active behavior gets every message, lifecycle ones included; a restart
// starts in receive; match() dispatches by type and reports the rest.
#include "shoal/behavior.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/core/lifecycle_kit.hpp"

namespace shoal {
namespace {

using test::cat;
using test::Journal;

struct Open {};
struct Close {};
struct Knock {};
struct Push {};   // become_stacked(grumpy)
struct Pop {};    // unbecome
struct Reset {};  // become(Behavior()): back to receive
struct Crash {};

/// A door: closed (receive), opened and grumpy (behaviors). Logs what each
/// state saw.
struct Door : Handles<Door, Open, Knock, Push, Pop, Crash, Stopping> {
  explicit Door(std::shared_ptr<Journal> j) : j_(std::move(j)) { j_->add("constructed"); }
  // closed
  void on(Context& ctx, Open&) {
    j_->add("closed:open");
    ctx.become(Behavior::of<&Door::opened>());
  }
  void on(Context&, Knock&) { j_->add("closed:knock"); }
  void on(Context& ctx, Push&) { ctx.become_stacked(Behavior::of<&Door::grumpy>()); }
  void on(Context& ctx, Pop&) { ctx.unbecome(); }
  void on(Context&, Crash&) { throw std::runtime_error("crash"); }
  void on(Context&, Stopping&) { j_->add("closed:stopping"); }

  void opened(Context& ctx, Envelope& msg) {
    match(
        ctx, msg,
        [&](Close&) {
          j_->add("opened:close");
          ctx.become(Behavior());
        },
        [&](Knock&) { j_->add("opened:knock"); },
        [&](Push&) { ctx.become_stacked(Behavior::of<&Door::grumpy>()); },
        [&](Crash&) { throw std::runtime_error("crash"); },
        [&](Stopping&) { j_->add("opened:stopping"); });
  }
  void grumpy(Context& ctx, Envelope& msg) {
    match(
        ctx, msg, [&](Knock&) { j_->add("grumpy:knock"); }, [&](Pop&) { ctx.unbecome(); });
  }
  std::shared_ptr<Journal> j_;
};

class BehaviorTest : public test::RuntimeTest {
 protected:
  Pid door(ActorSystem& system) const {
    return system.spawn(Props::of<Door>(journal).with_mailbox(mailbox()));
  }
  /// Sends `msgs` in order, then waits until the journal has `n` entries.
  template <class... Ms>
  ::testing::AssertionResult run(ActorSystem& system, const Pid& d, std::size_t n, Ms... msgs) {
    (system.send(d, std::move(msgs)), ...);
    return settle(
        system, [&] { return journal->entries().size() >= n; }, cat(n, " journal entries"));
  }
  std::shared_ptr<Journal> journal = std::make_shared<Journal>();
};

TEST_P(BehaviorTest, BecomeSwitchesAndBecomeReceiveReturns) {
  auto system = make_system();
  Pid d = door(*system);
  ASSERT_TRUE(run(*system, d, 6, Knock{}, Open{}, Knock{}, Close{}, Knock{}));
  EXPECT_EQ(journal->entries(),
            (std::vector<std::string>{"constructed", "closed:knock", "closed:open", "opened:knock",
                                      "opened:close", "closed:knock"}));
}

TEST_P(BehaviorTest, StackedBehaviorsPopBackToTheOneBefore) {
  auto system = make_system();
  Pid d = door(*system);
  ASSERT_TRUE(run(*system, d, 6, Open{}, Push{}, Knock{}, Pop{}, Knock{}, Close{}, Pop{}, Knock{}));
  EXPECT_EQ(journal->entries(),
            (std::vector<std::string>{"constructed", "closed:open", "grumpy:knock", "opened:knock",
                                      "opened:close", "closed:knock"}))
      << "unbecome with nothing stacked stays in receive";
}

TEST_P(BehaviorTest, TheActiveBehaviorGetsLifecycleMessagesToo) {
  auto system = make_system();
  Pid d = door(*system);
  ASSERT_TRUE(run(*system, d, 2, Open{}));
  system->stop(d);
  ASSERT_TRUE(settle(
      *system, [&] { return system->live_actors() == 0; }, "the door to stop"));
  EXPECT_EQ(journal->entries(),
            (std::vector<std::string>{"constructed", "closed:open", "opened:stopping"}));
}

TEST_P(BehaviorTest, ARestartStartsTheFreshInstanceInReceive) {
  auto system = make_system();
  Pid d = door(*system);
  ASSERT_TRUE(run(*system, d, 4, Open{}, Crash{}, Knock{}));
  EXPECT_EQ(journal->entries(), (std::vector<std::string>{"constructed", "closed:open",
                                                          "constructed", "closed:knock"}));
}

TEST_P(BehaviorTest, MatchReportsWhatNoHandlerTakesAsUnhandled) {
  auto system = make_system();
  Pid d = door(*system);
  ASSERT_TRUE(run(*system, d, 2, Open{}));
  system->send(d, Open{});  // "opened" has no handler for Open
  system->send(d, Knock{});
  ASSERT_TRUE(settle(
      *system, [&] { return journal->has("opened:knock"); }, "the knock"));
  EXPECT_EQ(system->dead_letters().count(DeadLetterReason::unhandled), 1u);
}

INSTANTIATE_TEST_SUITE_P(Configs, BehaviorTest, ::testing::ValuesIn(test::all_configs()),
                         test::config_name);

}  // namespace
}  // namespace shoal
