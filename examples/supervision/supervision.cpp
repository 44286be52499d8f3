// supervision: what happens when an actor fails.
//
// A supervisor actor owns a worker child that fails on every job. Its
// strategy, an ExponentialBackoffStrategy, restarts the worker after a
// delay that doubles with each recent failure (about 20, 40, 80 ms, less up
// to 20 % jitter) and gives up after three restarts: the fourth failure
// stops the worker, and the supervisor hears of it as a Terminated. It
// hires a new worker, whose job fails with an error the strategy's decider
// does not handle here (Fatal: escalate). Then the supervisor itself fails
// with that error, and its own supervisor — the system's guardian, for an
// actor the system spawned — restarts it: a fresh Supervisor instance, which
// hires a fresh worker.
//
// Shows: Props::with_supervisor, ExponentialBackoffStrategy and its
// decider, Directive::escalate, SystemConfig::guardian and on_failure, the
// SupervisionEvent stream, and the lifecycle messages Started, Restarting,
// Stopping and Terminated.
//
// Exits 0 if the worker was started 4 times (3 restarts) before the
// supervisor gave up on it, and the escalation restarted the supervisor.
#include <shoal/shoal.hpp>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <exception>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const Clock::time_point program_start = Clock::now();

long long ms_since_start() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - program_start)
      .count();
}

/// printf with the time since the program started in front: the backoff
/// shows in the gaps.
[[gnu::format(printf, 1, 2)]] void say(const char* format, ...) {
  char line[256];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  std::printf("[%4lld ms] %s\n", ms_since_start(), line);
}

// -- errors and messages ---------------------------------------------------------

/// Worth a restart: the next attempt may go better.
struct Transient : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// Not for the worker's supervisor to handle: it escalates.
struct Fatal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Job {
  int n = 0;
  bool fatal = false;
};

/// What the actors tell main(). It outlives the system (main declares it
/// first), so actors may hold a plain pointer to it.
struct Report {
  std::atomic<int> worker_starts{0};
  std::atomic<int> supervisor_starts{0};
  std::atomic<std::uint64_t> last_failed{0};  ///< the id of the worker that failed last
  std::atomic<long long> last_failure_ms{0};
  std::atomic<bool> gave_up_told{false};
  std::promise<int> gave_up;  ///< the worker's starts when the supervisor gave up on it
  std::promise<void> supervisor_restarted;
};

// -- the actors ----------------------------------------------------------------

/// Fails on every job. A restart makes a new Worker (state is not kept).
struct Worker : shoal::Handles<Worker, shoal::Started, Job> {
  explicit Worker(Report* report) : report(report) {}

  void on(shoal::Context& ctx, shoal::Started&) {
    ++report->worker_starts;
    if (report->last_failed != ctx.self().id()) {
      say("worker %" PRIu64 ": started", ctx.self().id());
    } else {
      // The same actor (same Pid, same mailbox), a new Worker instance.
      say("worker %" PRIu64 ": restarted, %lld ms after it failed", ctx.self().id(),
          ms_since_start() - report->last_failure_ms.load());
    }
  }
  // An exception escaping a handler is a failure: the worker is suspended
  // (its mail kept) and its parent's strategy decides. The failed job is
  // not delivered again.
  void on(shoal::Context& ctx, Job& job) {
    report->last_failed = ctx.self().id();
    report->last_failure_ms = ms_since_start();
    if (job.fatal) throw Fatal("job " + std::to_string(job.n) + ": the disk is on fire");
    throw Transient("job " + std::to_string(job.n) + ": the network blinked");
  }

  Report* report;  // borrowed; see Report
};

/// Spawns a worker and hands it the jobs it is sent. The strategy for its
/// children comes from its Props (with_supervisor, in main).
struct Supervisor : shoal::Handles<Supervisor, shoal::Started, shoal::Restarting, shoal::Stopping,
                                   Job, shoal::Terminated> {
  explicit Supervisor(Report* report) : report(report) {}

  void on(shoal::Context& ctx, shoal::Started&) {
    const int n = ++report->supervisor_starts;
    say("supervisor %" PRIu64 ": started%s", ctx.self().id(),
        n > 1 ? " again, a fresh instance" : "");
    worker = ctx.spawn(shoal::Props::of<Worker>(report));
    if (n == 2) report->supervisor_restarted.set_value();
  }
  void on(shoal::Context& ctx, Job& job) { ctx.send(worker, job); }
  // A child is watched without asking: its end comes as a Terminated.
  void on(shoal::Context& ctx, shoal::Terminated& t) {
    if (t.who != worker) return;  // one we let go of already (below)
    say("supervisor: the worker was stopped for good; hiring a new one");
    if (!report->gave_up_told.exchange(true)) report->gave_up.set_value(report->worker_starts);
    worker = ctx.spawn(shoal::Props::of<Worker>(report));
  }
  // Restarting goes to the old instance; its children are stopped with it,
  // and their Terminated may still reach it. So is Stopping (shutdown).
  // Either way the worker is not to be replaced: forget it.
  void on(shoal::Context&, shoal::Restarting&) {
    say("supervisor: restarting (its worker is stopped with it)");
    worker = shoal::Pid();
  }
  void on(shoal::Context&, shoal::Stopping&) { worker = shoal::Pid(); }

  Report* report;  // borrowed; see Report
  shoal::Pid worker;
};

}  // namespace

int main() {
  Report report;  // first: outlives the system and every actor pointing at it

  shoal::SystemConfig config;
  config.scheduler.workers = 2;
  // Each failure, as it happens (without this, each is logged to stderr).
  config.on_failure = [](const shoal::Failure& f) {
    say("failure in actor %" PRIu64 ": %s", f.actor_id, f.what.c_str());
  };
  // The guardian supervises actors the system spawns (the Supervisor here):
  // restart, at most 3 times within 10 s. (The default: 10 within 10 s.)
  config.guardian = std::make_shared<shoal::OneForOneStrategy>(3, 10s);
  shoal::ActorSystem system(std::move(config));

  // Every directive a supervisor applies is published as a SupervisionEvent.
  system.events().subscribe<shoal::SupervisionEvent>([](const shoal::SupervisionEvent& e) {
    const std::string_view directive = shoal::to_string(e.directive);
    say("supervision: actor %" PRIu64 " -> %.*s", e.actor_id, static_cast<int>(directive.size()),
        directive.data());
  });

  // The supervisor's strategy for its children: exponential backoff, at
  // most 3 restarts within reset_after; the decider picks the directive
  // from the error (restart a Transient, escalate anything else).
  auto backoff = std::make_shared<shoal::ExponentialBackoffStrategy>(
      shoal::ExponentialBackoffStrategy::Options{
          .initial = 20ms,
          .max = 1s,
          .multiplier = 2.0,
          .jitter = 0.2,
          .reset_after = 10s,
          .max_restarts = 3,
          .decider =
              [](const shoal::Pid&, const std::exception_ptr& error) {
                try {
                  std::rethrow_exception(error);
                } catch (const Transient&) {
                  return shoal::Directive::restart;
                } catch (...) {
                  return shoal::Directive::escalate;
                }
              },
      });
  shoal::Pid supervisor =
      system.spawn(shoal::Props::of<Supervisor>(&report).with_supervisor(backoff));

  // Part 1: four jobs, four failures. While the worker waits for its
  // restart its mail stays queued, so each restarted worker gets the next.
  say("main: sending 4 jobs that fail");
  for (int n = 1; n <= 4; ++n) system.send(supervisor, Job{n, false});
  std::future<int> gave_up = report.gave_up.get_future();
  if (gave_up.wait_for(30s) != std::future_status::ready) {
    std::fprintf(stderr, "supervision: the supervisor never gave up on its worker\n");
    return 1;
  }
  const int starts = gave_up.get();

  // Part 2: a job that fails with an error the strategy escalates.
  say("main: sending a job that fails fatally");
  system.send(supervisor, Job{5, true});
  std::future<void> restarted = report.supervisor_restarted.get_future();
  if (restarted.wait_for(30s) != std::future_status::ready) {
    std::fprintf(stderr, "supervision: the escalation did not restart the supervisor\n");
    return 1;
  }

  system.shutdown();
  say("main: the first worker started %d times before its supervisor gave up; "
      "%" PRIu64 " failures in all",
      starts, system.failures());
  if (starts != 4) {
    std::fprintf(stderr, "supervision: expected 4 starts (3 restarts), saw %d\n", starts);
    return 1;
  }
  return 0;
}
