// The kit of the lifecycle and supervision suites: a journal of what actors
// saw, in order, and one actor (`Life`) that writes every lifecycle message,
// failure and child event into it and can be told to spawn, watch, fail or
// stop.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "shoal/actor_system.hpp"
#include "tests/core/runtime_fixture.hpp"

namespace shoal::test {

/// What the actors of a test saw, in order ("a:started", "b:terminated:c:stopped").
class Journal {
 public:
  void add(std::string entry) {
    std::lock_guard lock(mu_);
    entries_.push_back(std::move(entry));
  }
  std::vector<std::string> entries() const {
    std::lock_guard lock(mu_);
    return entries_;
  }
  std::size_t count(std::string_view entry) const {
    std::lock_guard lock(mu_);
    return static_cast<std::size_t>(std::count(entries_.begin(), entries_.end(), entry));
  }
  bool has(std::string_view entry) const { return count(entry) != 0; }
  /// Position of the first `entry`, or -1.
  long index(std::string_view entry) const {
    std::lock_guard lock(mu_);
    auto it = std::find(entries_.begin(), entries_.end(), entry);
    return it == entries_.end() ? -1 : static_cast<long>(it - entries_.begin());
  }
  /// Entries of one actor (those starting with "tag:"), in order.
  std::vector<std::string> of(std::string_view tag) const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    std::string prefix = std::string(tag) + ":";
    for (const auto& e : entries_) {
      if (e.rfind(prefix, 0) == 0) out.push_back(e.substr(prefix.size()));
    }
    return out;
  }
  std::string dump() const {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& e : entries_) out += e + "\n";
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> entries_;
};

// -- what Life can be told ----------------------------------------------------------------

struct Work {
  std::uint64_t n = 0;
};
/// Throws std::runtime_error(what) from the handler.
struct Fail {
  std::string what = "fail";
};
/// Spawns one Life child per tag (named "<parent>/<tag>" when `named`);
/// `strategy` is what each child applies to its own children.
struct SpawnKids {
  std::vector<std::string> tags;
  bool named = false;
  std::shared_ptr<const SupervisorStrategy> strategy = nullptr;
};
struct WatchIt {
  Pid target;
  bool log = false;  ///< write "watch" into the journal
};
struct UnwatchIt {
  Pid target;
  bool log = false;  ///< write "unwatch" into the journal
};
struct StopMe {};
/// Reports the tags of the actor's parent and children, and how much work it did.
struct Report {
  std::promise<std::string> reply;
};

/// How a Life instance is made: its tag, the journal, and optional extras.
struct LifeSpec {
  std::string tag{};
  std::shared_ptr<Journal> journal{};
  /// Throw from Started when the instance number (1-based) is in this list.
  std::vector<std::uint32_t> fail_started_in{};
  /// Spawn these children (tags) from Started.
  std::vector<std::string> kids_at_start{};
  /// Strategy for this actor's children (via Props).
  std::shared_ptr<const SupervisorStrategy> child_strategy{};
};

/// Props for a Life; instances of the same Props share an incarnation counter.
Props life(LifeSpec spec);

/// Records every lifecycle message as "<tag>:<event>", work as
/// "<tag>:work:<n>", and keeps its own count of work (reset by a restart).
struct Life : Handles<Life, Started, Stopping, Stopped, Restarting, Terminated, PoisonPill, Work,
                      Fail, SpawnKids, WatchIt, UnwatchIt, StopMe, Report, Hold> {
  Life(LifeSpec spec, std::shared_ptr<std::atomic<std::uint32_t>> incarnations)
      : spec_(std::move(spec)), incarnation_(incarnations->fetch_add(1) + 1) {}

  void on(Context& ctx, Started&) {
    log(cat("started#", incarnation_));
    for (std::uint32_t n : spec_.fail_started_in) {
      if (n == incarnation_) throw std::runtime_error(cat(spec_.tag, " fails in Started"));
    }
    for (const auto& t : spec_.kids_at_start) ctx.spawn(kid(t));
  }
  void on(Context&, Stopping&) { log("stopping"); }
  void on(Context&, Stopped&) { log("stopped"); }
  void on(Context&, Restarting&) { log(cat("restarting#", incarnation_)); }
  void on(Context& ctx, Terminated& t) {
    std::string who = ctx.system().name_of(t.who);
    log(cat("terminated:", who.empty() ? cat("#", t.who.id()) : who, ":", to_string(t.why)));
  }
  void on(Context&, PoisonPill&) { log("poison"); }
  void on(Context&, Work& w) {
    ++work_;
    log(cat("work:", w.n));
  }
  void on(Context&, Fail& f) {
    log(cat("fail:", f.what));
    throw std::runtime_error(f.what);
  }
  void on(Context& ctx, SpawnKids& k) {
    for (const auto& t : k.tags) {
      Props props = kid(t);
      if (k.strategy) props.with_supervisor(k.strategy);
      if (k.named) {
        SpawnResult r = ctx.spawn_named(props, t);
        log(cat("spawned:", t, r ? ":ok" : ":taken"));
      } else {
        ctx.spawn(props);
      }
    }
  }
  void on(Context& ctx, WatchIt& w) {
    if (w.log) log("watch");
    ctx.watch(w.target);
  }
  void on(Context& ctx, UnwatchIt& w) {
    if (w.log) log("unwatch");
    ctx.unwatch(w.target);
  }
  void on(Context& ctx, StopMe&) { ctx.stop(); }
  void on(Context& ctx, Report& r) {
    r.reply.set_value(
        cat("parent=", ctx.parent().id(), " children=", ctx.children().size(), " work=", work_));
  }
  void on(Context&, Hold& h) { h.block(); }

  Props kid(const std::string& tag) const {
    LifeSpec s{.tag = tag, .journal = spec_.journal};
    return life(std::move(s));
  }
  void log(const std::string& what) { spec_.journal->add(spec_.tag + ":" + what); }

  LifeSpec spec_;
  std::uint32_t incarnation_;
  std::uint64_t work_ = 0;
};

inline Props life(LifeSpec spec) {
  auto incarnations = std::make_shared<std::atomic<std::uint32_t>>(0);
  auto strategy = spec.child_strategy;
  Props p = Props::from_producer([spec = std::move(spec), incarnations]() {
    return std::make_unique<Life>(spec, incarnations);
  });
  if (strategy) p.with_supervisor(std::move(strategy));
  return p;
}

/// Asks a Life for its report.
inline std::future<std::string> report(ActorSystem& system, const Pid& pid) {
  std::promise<std::string> p;
  auto f = p.get_future();
  system.send(pid, Report{std::move(p)});
  return f;
}

/// Base of the suites that watch Life actors through a journal.
class JournalTest : public RuntimeTest {
 protected:
  /// Props for a Life tagged `tag` with the parameter's mailbox kind;
  /// `children` is the strategy it applies to its children.
  Props life(const std::string& tag,
             std::shared_ptr<const SupervisorStrategy> children = nullptr) const {
    LifeSpec s{.tag = tag, .journal = journal};
    s.child_strategy = std::move(children);
    return test::life(std::move(s)).with_mailbox(mailbox());
  }
  /// Waits until the journal has `entry` (at least `n` times).
  ::testing::AssertionResult logged(ActorSystem& system, const std::string& entry,
                                    std::size_t n = 1) const {
    return settle(
        system, [&] { return journal->count(entry) >= n; },
        cat("'", entry, "' in the journal:\n", journal->dump()));
  }
  /// Waits until `left` actors are alive.
  ::testing::AssertionResult all_gone(ActorSystem& system, std::uint64_t left = 0) const {
    return settle(
        system, [&] { return system.live_actors() == left; }, "the stopped actors to finish");
  }
  /// The child `tag` of `parent` (spawned named).
  Pid child(ActorSystem& system, const Pid& parent, const std::string& tag) const {
    std::string prefix = system.name_of(parent);
    if (prefix.empty()) prefix = cat("$", parent.id());
    Pid c;
    EXPECT_TRUE(settle(
        system,
        [&] {
          c = system.lookup(cat(prefix, "/", tag));
          return !c.empty();
        },
        cat("child ", prefix, "/", tag)));
    return c;
  }

  std::shared_ptr<Journal> journal = std::make_shared<Journal>();
};

}  // namespace shoal::test
