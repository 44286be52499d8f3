#include "core/flight_recorder.hpp"

#include <algorithm>
#include <bit>
#include <mutex>

namespace shoal {

// -- the ring ----------------------------------------------------------------------------

TraceRing::TraceRing(std::size_t capacity)
    : slots_(std::make_unique<Slot[]>(std::bit_ceil(capacity < 2 ? 2 : capacity))),
      mask_(std::bit_ceil(capacity < 2 ? 2 : capacity) - 1) {}

std::vector<TraceEvent> TraceRing::read() const {
  // acquire: pairs with the release store in push(): events below `end` are
  // completely written (unless overwritten since; checked after the copy).
  const std::uint64_t end = published_.load(std::memory_order_acquire);
  const std::uint64_t cap = mask_ + 1;
  const std::uint64_t begin = end > cap ? end - cap : 0;
  std::vector<TraceEvent> out;
  out.reserve(end - begin);
  for (std::uint64_t i = begin; i < end; ++i) {
    const Slot& s = slots_[i & mask_];
    TraceEvent e;
    // relaxed: validated against claimed_ below.
    e.ts = s.w[0].load(std::memory_order_relaxed);
    const std::uint64_t w1 = s.w[1].load(std::memory_order_relaxed);
    e.dur = static_cast<std::uint32_t>(w1);
    e.kind = static_cast<TraceKind>((w1 >> 32) & 0xff);
    e.x = static_cast<std::uint32_t>(w1 >> 40);
    e.a = s.w[2].load(std::memory_order_relaxed);
    e.b = s.w[3].load(std::memory_order_relaxed);
    e.c = s.w[4].load(std::memory_order_relaxed);
    e.d = s.w[5].load(std::memory_order_relaxed);
    out.push_back(e);
  }
  // acquire fence: pairs with the release fence in push(). If any word we
  // read was written by a push that claimed a later index, this load sees
  // that claim, and the events it may have overwritten are dropped.
  std::atomic_thread_fence(std::memory_order_acquire);
  const std::uint64_t claimed = claimed_.load(std::memory_order_relaxed);
  const std::uint64_t safe = claimed > cap ? claimed - cap : 0;
  if (safe > begin) {
    // The writer may have lapped the whole copy: then nothing is kept.
    const std::uint64_t drop = std::min<std::uint64_t>(safe - begin, out.size());
    out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(drop));
  }
  return out;
}

// -- the recorder ------------------------------------------------------------------------

void FlightRecorder::start() {
  {
    std::lock_guard lock(mu_);
    if (!traces_) {
      auto t = std::make_unique<std::unique_ptr<detail::WorkerTrace>[]>(slots_);
      for (unsigned i = 0; i < slots_; ++i) {
        t[i] = std::make_unique<detail::WorkerTrace>(i, capacity_);
      }
      traces_ = std::move(t);
    }
  }
  // relaxed: read() takes either cut if it races with this.
  since_.store(detail::ticks(), std::memory_order_relaxed);
  // release: pairs with the acquire load in recording(): the rings are made.
  on_.store(true, std::memory_order_release);
}

void FlightRecorder::stop() noexcept {
  // relaxed: a worker that still sees `true` records a few more events.
  on_.store(false, std::memory_order_relaxed);
}

std::vector<std::vector<TraceEvent>> FlightRecorder::read() const {
  std::vector<std::vector<TraceEvent>> out(slots_);
  {
    std::lock_guard lock(mu_);  // traces_ is made under it, once
    if (!traces_) return out;
  }
  // relaxed: a start() racing with this read moves the cut either way.
  const std::uint64_t since = since_.load(std::memory_order_relaxed);
  for (unsigned i = 0; i < slots_; ++i) {
    std::vector<TraceEvent> events = traces_[i]->ring.read();
    std::erase_if(events, [&](const TraceEvent& e) { return e.ts < since; });
    out[i] = std::move(events);
  }
  return out;
}

}  // namespace shoal
