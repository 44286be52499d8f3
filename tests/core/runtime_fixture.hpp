// The actor-level test kit: request/reply and gate messages, recorders for
// dead letters and failures, and the runtime configurations (worker count ×
// mailbox kind, plus the deterministic mode) the behaviour suites run over.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "shoal/actor_system.hpp"
#include "tests/core/test_support.hpp"

namespace shoal::test {

// -- messages many tests use ------------------------------------------------------------

/// Asks an actor for a number; the actor answers through the promise. If the
/// message dies undelivered, the promise breaks and the future says so.
struct Ping {
  std::promise<std::uint64_t> reply;
};

/// Sends a Ping and returns the future of its answer.
inline std::future<std::uint64_t> ping(ActorSystem& system, const Pid& to) {
  std::promise<std::uint64_t> p;
  auto f = p.get_future();
  system.send(to, Ping{std::move(p)});
  return f;
}

/// What a test observes of its actors from outside: messages handled,
/// instances made and destroyed, and a future that is ready once the first
/// instance is destroyed. Actors hold it by shared_ptr (Props copies its
/// arguments), so it outlives every actor that touches it.
struct Probe {
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::uint64_t> constructed{0};
  std::atomic<std::uint64_t> destroyed{0};
  std::promise<void> gone;
  std::shared_future<void> gone_future = gone.get_future().share();

  void on_construct() { constructed.fetch_add(1); }
  void on_destroy() {
    if (destroyed.fetch_add(1) == 0) gone.set_value();
  }
  /// Appends `v` to the log of what the actors saw, in order; counts it handled.
  void note(std::uint64_t v) {
    {
      std::lock_guard lock(mu_);
      seen_.push_back(v);
    }
    handled.fetch_add(1);
  }
  std::vector<std::uint64_t> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::uint64_t> seen_;
};

/// A message whose handler blocks until its Gate opens (see Gate).
struct Hold {
  std::promise<void> entered;
  std::shared_future<void> release;

  /// Call from the handler: reports that the actor is inside, then blocks.
  void block() {
    entered.set_value();
    // Bounded so that a broken test cannot wedge a worker forever; the test
    // that owns the gate fails on its own deadline first.
    release.wait_for(2 * deadline);
  }
};

/// Holds an actor inside a handler so that what the test sends next stays
/// queued. Opens at the latest when it goes out of scope, so a failing test
/// never leaves a worker blocked.
class Gate {
 public:
  Gate() : released_(release_.get_future().share()) {}
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  ~Gate() { open(); }

  /// Sends a Hold to `pid` and waits until the actor is blocked in it.
  ::testing::AssertionResult hold(ActorSystem& system, const Pid& pid) {
    Hold h;
    auto entered = h.entered.get_future();
    h.release = released_;
    system.send(pid, std::move(h));
    return ready_within(entered, "the actor to enter the gate");
  }

  void open() {
    if (!opened_) {
      opened_ = true;
      release_.set_value();
    }
  }

 private:
  std::promise<void> release_;
  std::shared_future<void> released_;
  bool opened_ = false;
};

// -- recorders -------------------------------------------------------------------------------

/// Lines of text that actors append, read back in order (thread-safe).
class Trail {
 public:
  void add(std::string line) {
    std::lock_guard lock(mu_);
    lines_.push_back(std::move(line));
  }
  std::vector<std::string> all() const {
    std::lock_guard lock(mu_);
    return lines_;
  }
  void clear() {
    std::lock_guard lock(mu_);
    lines_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

struct DeadLetterRecord {
  std::uint64_t target_id;
  std::string type_name;
  DeadLetterReason reason;
};

/// Collects every dead letter an ActorSystem publishes. Must outlive the
/// system whose observer it is (declare it first).
class DeadLetterLog {
 public:
  /// The observer to put into SystemConfig::on_dead_letter. Captures `this`:
  /// the log outlives the system (see the class comment).
  DeadLetters::Observer observer() {
    return [this](const DeadLetter& d) {
      std::lock_guard lock(mu_);
      records_.push_back({d.target_id, std::string(d.type_name), d.reason});
    };
  }
  std::vector<DeadLetterRecord> records() const {
    std::lock_guard lock(mu_);
    return records_;
  }
  std::size_t count(DeadLetterReason r) const {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& d : records_) n += d.reason == r ? 1 : 0;
    return n;
  }
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return records_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<DeadLetterRecord> records_;
};

/// Collects every failure an ActorSystem reports. Must outlive the system.
class FailureLog {
 public:
  /// For SystemConfig::on_failure. Captures `this`: the log outlives the system.
  std::function<void(const Failure&)> observer() {
    return [this](const Failure& f) {
      std::lock_guard lock(mu_);
      failures_.push_back(f);
    };
  }
  std::vector<Failure> failures() const {
    std::lock_guard lock(mu_);
    return failures_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Failure> failures_;
};

// -- runtime configurations ---------------------------------------------------------------

enum class MailboxKind { unbounded, bounded };

/// What the actor-level suites run over: worker count (0 = the deterministic
/// single-threaded mode, driven by run_until_idle) and mailbox kind.
struct RuntimeConfig {
  unsigned workers = 1;
  MailboxKind mailbox = MailboxKind::unbounded;
  std::uint64_t seed = 0;  ///< deterministic mode only

  bool deterministic() const noexcept { return workers == 0; }
};

/// A bounded mailbox "with a large capacity": the behaviour under test must
/// not depend on the bound. Tests that queue more raise it (see mailbox()).
inline constexpr std::size_t large_capacity = 1 << 14;

inline std::vector<RuntimeConfig> threaded_configs(std::vector<unsigned> workers = {1, 2, 4}) {
  std::vector<RuntimeConfig> out;
  for (unsigned w : workers) {
    for (auto m : {MailboxKind::unbounded, MailboxKind::bounded}) out.push_back({w, m, 0});
  }
  return out;
}

inline std::vector<RuntimeConfig> deterministic_configs() {
  std::vector<RuntimeConfig> out;
  for (std::uint64_t seed : {1u, 42u}) {
    for (auto m : {MailboxKind::unbounded, MailboxKind::bounded}) out.push_back({0, m, seed});
  }
  return out;
}

inline std::vector<RuntimeConfig> all_configs() {
  auto out = threaded_configs();
  for (const auto& c : deterministic_configs()) out.push_back(c);
  return out;
}

/// Test-name suffix: "w2_bounded", "det_s42_unbounded".
inline std::string config_name(const ::testing::TestParamInfo<RuntimeConfig>& info) {
  const RuntimeConfig& c = info.param;
  const char* kind = c.mailbox == MailboxKind::bounded ? "_bounded" : "_unbounded";
  return c.deterministic() ? cat("det_s", c.seed, kind) : cat("w", c.workers, kind);
}

/// Base of the parameterised actor-level suites.
class RuntimeTest : public ::testing::TestWithParam<RuntimeConfig> {
 protected:
  bool deterministic() const { return GetParam().deterministic(); }

  /// A system in the parameter's configuration; `base` supplies observers
  /// and other options. Declare it after everything its actors touch.
  std::unique_ptr<ActorSystem> make_system(SystemConfig base = {}) const {
    const RuntimeConfig& c = GetParam();
    if (c.deterministic()) {
      base.scheduler.deterministic = true;
      base.scheduler.seed = c.seed;
    } else {
      base.scheduler.workers = c.workers;
    }
    return std::make_unique<ActorSystem>(std::move(base));
  }

  /// The parameter's mailbox kind, able to hold at least `at_least` messages.
  MailboxConfig mailbox(std::size_t at_least = 0) const {
    if (GetParam().mailbox == MailboxKind::unbounded) return MailboxConfig::unbounded();
    return MailboxConfig::bounded(std::max(large_capacity, at_least));
  }

  /// Spawns `A(args...)` with the parameter's mailbox kind.
  template <class A, class... Args>
  Pid spawn(ActorSystem& system, Args&&... args) const {
    return system.spawn(Props::of<A>(std::forward<Args>(args)...).with_mailbox(mailbox()));
  }

  /// Threaded: holds `pid` inside a handler (see Gate) so that what the test
  /// sends next stays queued. Deterministic: nothing runs until the test
  /// runs it, so there is nothing to hold.
  ::testing::AssertionResult hold(ActorSystem& system, const Pid& pid, Gate& gate) const {
    if (deterministic()) return ::testing::AssertionSuccess();
    return gate.hold(system, pid);
  }

  /// Waits for `f`: in deterministic mode runs the system until idle first,
  /// after which the future must already be ready.
  template <class Future>
  ::testing::AssertionResult arrive(ActorSystem& system, const Future& f,
                                    std::string_view what) const {
    if (deterministic()) {
      system.run_until_idle();
      return ready_within(f, what, std::chrono::seconds(0));
    }
    return ready_within(f, what);
  }

  /// Waits until `pred` holds: in deterministic mode runs the system until
  /// idle and checks once; else polls under the deadline.
  template <class Pred>
  ::testing::AssertionResult settle(ActorSystem& system, Pred&& pred, std::string_view what) const {
    if (deterministic()) {
      system.run_until_idle();
      if (pred()) return ::testing::AssertionSuccess();
      return ::testing::AssertionFailure() << "system went idle without " << what;
    }
    return eventually(std::forward<Pred>(pred), what);
  }
};

}  // namespace shoal::test
