#include "shoal/detail/tsc.hpp"

namespace shoal::detail {

double ns_per_tick() noexcept {
#if defined(__x86_64__)
  // Measured once: long enough that the two clock reads' own cost (tens of
  // ns) is far below 0.01 % of the interval.
  static const double rate = [] {
    using namespace std::chrono;
    const TickAnchor a = TickAnchor::now();
    TickAnchor b = a;
    while (b.time - a.time < milliseconds(5)) b = TickAnchor::now();
    const double ns = static_cast<double>(duration_cast<nanoseconds>(b.time - a.time).count());
    const double t = static_cast<double>(b.tick - a.tick);
    return t > 0 ? ns / t : 1.0;
  }();
  return rate;
#else
  return 1.0;
#endif
}

}  // namespace shoal::detail
