#include "shoal/supervision.hpp"

#include <algorithm>
#include <iterator>
#include <stdexcept>

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

std::string_view to_string(Directive d) noexcept {
  switch (d) {
    case Directive::resume:
      return "resume";
    case Directive::restart:
      return "restart";
    case Directive::stop:
      return "stop";
    case Directive::escalate:
      return "escalate";
  }
  return "unknown";
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

bool OneForOneStrategy::over_limit(Supervisor& supervisor, RestartStats& stats) const {
  if (max_restarts_ == 0) return true;
  auto now = supervisor.now();
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
      if (over_limit(supervisor, stats)) {
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

ExponentialBackoffStrategy::ExponentialBackoffStrategy(Options options) : o_(std::move(options)) {
  using std::chrono::nanoseconds;
  if (o_.initial <= nanoseconds::zero() || o_.max < o_.initial || !(o_.multiplier >= 1.0) ||
      !(o_.jitter >= 0.0 && o_.jitter <= 1.0) || o_.reset_after <= nanoseconds::zero()) {
    throw std::invalid_argument(
        "shoal: ExponentialBackoffStrategy needs 0 < initial <= max, multiplier >= 1, "
        "0 <= jitter <= 1 and reset_after > 0");
  }
  if (!o_.decider) o_.decider = always_restart;
}

std::chrono::nanoseconds ExponentialBackoffStrategy::base_delay(std::size_t n) const noexcept {
  // In double: initial · multiplier^(n−1) overflows any integer long before
  // the cap stops mattering.
  const double max = static_cast<double>(o_.max.count());
  double d = static_cast<double>(o_.initial.count());
  for (std::size_t i = 1; i < n && d < max; ++i) d *= o_.multiplier;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::min(d, max)));
}

std::chrono::nanoseconds ExponentialBackoffStrategy::delay(std::uint64_t child_id,
                                                           std::size_t n) const noexcept {
  // splitmix64 of (child, n): a reproducible draw, no generator to share
  // between the workers that run supervisors.
  std::uint64_t z = child_id * 0x9E3779B97F4A7C15ULL + n;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  const double u = static_cast<double>(z >> 11) * 0x1.0p-53;  // [0, 1)
  const double base = static_cast<double>(base_delay(n).count());
  return std::chrono::nanoseconds(static_cast<std::int64_t>(base * (1.0 - o_.jitter * u)));
}

void ExponentialBackoffStrategy::handle_failure(Supervisor& supervisor, const Pid& child,
                                                RestartStats& stats,
                                                const std::exception_ptr& error) const {
  const Pid one[] = {child};
  switch (o_.decider(child, error)) {
    case Directive::resume:
      supervisor.resume_children(one);
      return;
    case Directive::stop:
      supervisor.stop_children(one);
      return;
    case Directive::escalate:
      supervisor.escalate_failure(error);
      return;
    case Directive::restart:
      break;
  }
  const auto now = supervisor.now();
  stats.record(now, o_.reset_after);  // forgets failures older than reset_after
  const std::size_t n = stats.failures_within(now, o_.reset_after);
  if (o_.max_restarts != 0 && n > o_.max_restarts) {
    stats.reset();
    supervisor.stop_children(one);
    return;
  }
  supervisor.restart_children_after(one, delay(child.id(), n));
}

std::shared_ptr<const SupervisorStrategy> default_strategy() {
  static const auto strategy =
      std::make_shared<const OneForOneStrategy>(10, std::chrono::seconds(10));
  return strategy;
}

}  // namespace shoal
