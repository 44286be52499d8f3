#include "core/flight_recorder.hpp"

#include <algorithm>
#include <bit>
#include <mutex>

namespace shoal::detail {

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

FlightRecorder::FlightRecorder(unsigned workers, std::size_t capacity)
    : workers_(workers),
      capacity_(capacity),
      traces_(std::make_unique<std::atomic<detail::WorkerTrace*>[]>(workers + max_guest_lanes)) {
  for (unsigned i = 0; i < workers + max_guest_lanes; ++i) {
    traces_[i].store(nullptr, std::memory_order_relaxed);  // relaxed: not shared yet
  }
}

FlightRecorder::~FlightRecorder() {
  for (unsigned i = 0; i < workers_ + max_guest_lanes; ++i) {
    // relaxed: every recording thread has stopped (they are joined or
    // unregistered before the scheduler goes).
    delete traces_[i].load(std::memory_order_relaxed);
  }
}

void FlightRecorder::make_ring(unsigned i) {
  // relaxed: only ever stored under mu_, which this holds.
  if (traces_[i].load(std::memory_order_relaxed) != nullptr) return;
  auto t = std::make_unique<detail::WorkerTrace>(i, capacity_, &naming_epoch_);
  // release: pairs with the acquire load in trace_for() and read().
  traces_[i].store(t.release(), std::memory_order_release);
}

void FlightRecorder::start() {
  {
    std::lock_guard lock(mu_);
    for (unsigned i = 0; i < workers_; ++i) make_ring(i);
    for (unsigned k = 0; k < guest_taken_.size(); ++k) {
      if (guest_taken_[k]) make_ring(workers_ + k);
    }
    started_ = true;
  }
  // relaxed: read() takes either cut if it races with this.
  since_.store(detail::ticks(), std::memory_order_relaxed);
  // relaxed: a worker that still sees the old epoch names an actor in the
  // old recording; its next look sees this one (a new epoch is a hint).
  naming_epoch_.fetch_add(1, std::memory_order_relaxed);
  // release: pairs with the acquire load in recording(): the rings are made.
  on_.store(true, std::memory_order_release);
}

void FlightRecorder::stop() noexcept {
  // relaxed: a worker that still sees `true` records a few more events.
  on_.store(false, std::memory_order_relaxed);
}

unsigned FlightRecorder::claim_guest_lane(std::string name) {
  std::lock_guard lock(mu_);
  unsigned k = 0;
  while (k < guest_taken_.size() && guest_taken_[k]) ++k;
  if (k == max_guest_lanes) return no_lane;
  if (k == guest_taken_.size()) {
    guest_taken_.push_back(false);
    guest_names_.emplace_back();
  }
  guest_taken_[k] = true;
  guest_names_[k] = std::move(name);
  if (started_) make_ring(workers_ + k);
  return workers_ + k;
}

void FlightRecorder::release_guest_lane(unsigned lane) noexcept {
  if (lane == no_lane) return;
  std::lock_guard lock(mu_);
  guest_taken_[lane - workers_] = false;
}

std::vector<std::vector<TraceEvent>> FlightRecorder::read(
    std::vector<std::string>* guest_names) const {
  std::size_t lanes = workers_;
  {
    std::lock_guard lock(mu_);  // lanes are claimed and rings made under it
    lanes += guest_names_.size();
    if (guest_names != nullptr) *guest_names = guest_names_;
  }
  std::vector<std::vector<TraceEvent>> out(lanes);
  // relaxed: a start() racing with this read moves the cut either way.
  const std::uint64_t since = since_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < lanes; ++i) {
    // acquire: pairs with make_ring()'s release store.
    const detail::WorkerTrace* t = traces_[i].load(std::memory_order_acquire);
    if (t == nullptr) continue;
    std::vector<TraceEvent> events = t->ring.read();
    std::erase_if(events, [&](const TraceEvent& e) { return e.ts < since; });
    out[i] = std::move(events);
  }
  return out;
}

}  // namespace shoal::detail
