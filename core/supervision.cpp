#include "core/supervision.hpp"

#include <algorithm>
#include <iterator>

namespace shoal {

void RestartStats::record(Clock::time_point now, Clock::duration window) {
  if (window > Clock::duration::zero()) {
    // Forget what fell out of the window: the vector stays as short as the
    // limit it is checked against.
    auto first_kept = std::find_if(times_.begin(), times_.end(),
                                   [&](Clock::time_point t) { return now - t <= window; });
    times_.erase(times_.begin(), first_kept);
  }
  times_.push_back(now);
}

std::size_t RestartStats::failures_within(Clock::time_point now,
                                          Clock::duration window) const noexcept {
  if (window <= Clock::duration::zero()) return times_.size();
  return static_cast<std::size_t>(std::count_if(
      times_.begin(), times_.end(), [&](Clock::time_point t) { return now - t <= window; }));
}

std::string describe(const std::exception_ptr& error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    try {
      return e.what();
    } catch (...) {  // bad_alloc copying the text
      return {};
    }
  } catch (...) {
    return "unknown exception";
  }
}

Directive always_restart(const Pid& /*child*/, const std::exception_ptr& /*error*/) {
  return Directive::restart;
}

OneForOneStrategy::OneForOneStrategy(std::uint32_t max_restarts,
                                     RestartStats::Clock::duration within, Decider decider)
    : max_restarts_(max_restarts),
      within_(within),
      decider_(decider ? std::move(decider) : Decider(always_restart)) {}

bool OneForOneStrategy::over_limit(RestartStats& stats) const {
  if (max_restarts_ == 0) return true;
  auto now = RestartStats::Clock::now();
  stats.record(now, within_);
  if (stats.failures_within(now, within_) <= max_restarts_) return false;
  stats.reset();  // a later incarnation (spawned anew) starts from zero
  return true;
}

void OneForOneStrategy::apply(Supervisor& supervisor, const Pid& child, RestartStats& stats,
                              const std::exception_ptr& error, bool to_all) const {
  const Pid one[] = {child};
  // Restart and stop reach every child under all-for-one; resume and
  // escalate concern the failing one only.
  auto targets = [&]() -> std::vector<Pid> {
    return to_all ? supervisor.children() : std::vector<Pid>(std::begin(one), std::end(one));
  };
  switch (decider_(child, error)) {
    case Directive::resume:
      supervisor.resume_children(one);
      break;
    case Directive::restart:
      if (over_limit(stats)) {
        supervisor.stop_children(targets());
      } else {
        supervisor.restart_children(targets());
      }
      break;
    case Directive::stop:
      supervisor.stop_children(targets());
      break;
    case Directive::escalate:
      supervisor.escalate_failure(error);
      break;
  }
}

void OneForOneStrategy::handle_failure(Supervisor& supervisor, const Pid& child,
                                       RestartStats& stats, const std::exception_ptr& error) const {
  apply(supervisor, child, stats, error, /*to_all=*/false);
}

void AllForOneStrategy::handle_failure(Supervisor& supervisor, const Pid& child,
                                       RestartStats& stats, const std::exception_ptr& error) const {
  apply(supervisor, child, stats, error, /*to_all=*/true);
}

std::shared_ptr<const SupervisorStrategy> default_strategy() {
  static const auto strategy =
      std::make_shared<const OneForOneStrategy>(10, std::chrono::seconds(10));
  return strategy;
}

}  // namespace shoal
