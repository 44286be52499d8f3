#include "shoal/detail/timer_wheel.hpp"

#include <bit>

namespace shoal::detail {

namespace {

constexpr std::uint64_t slot_mask = TimerWheel::slots - 1;

/// Ticks one slot of `level` spans.
constexpr std::uint64_t slot_span(unsigned level) noexcept {
  return std::uint64_t{1} << (level * TimerWheel::slot_bits);
}

}  // namespace

void TimerWheel::push(Timer*& head, Timer* t) noexcept {
  t->prev_ = nullptr;
  t->next_ = head;
  if (head != nullptr) head->prev_ = t;
  head = t;
}

void TimerWheel::place(Timer* t) noexcept {
  t->wheel_ = this;
  const std::uint64_t d = t->deadline_;
  if (d <= now_) {
    t->level_ = due_level;
    push(due_, t);
    return;
  }
  // The level is that of the highest base-64 digit in which the deadline
  // differs from now: every lower digit is covered by that slot's span.
  const std::uint64_t differ = (now_ ^ d) | slot_mask;
  unsigned level = static_cast<unsigned>(63 - std::countl_zero(differ)) / slot_bits;
  unsigned slot;
  if (level < levels) {
    slot = static_cast<unsigned>((d >> (level * slot_bits)) & slot_mask);
  } else {
    // Across a top-level span boundary: the top level's slot of the deadline
    // if it comes round within one turn (it is then in the next span), else
    // the one before now's (the last to come round), re-filed from there.
    level = levels - 1;
    const unsigned shift = level * slot_bits;
    const std::uint64_t ahead = (d >> shift) - (now_ >> shift);
    slot = static_cast<unsigned>(((ahead < slots ? d : now_ + (slot_mask << shift)) >> shift) &
                                 slot_mask);
  }
  t->level_ = static_cast<std::uint8_t>(level);
  t->slot_ = static_cast<std::uint8_t>(slot);
  push(wheel_[level][slot], t);
  occupied_[level] |= std::uint64_t{1} << slot;
}

void TimerWheel::insert(Timer* t) noexcept {
  place(t);
  ++size_;
}

void TimerWheel::unlink(Timer* t) noexcept {
  const bool listed = t->level_ < levels;
  Timer*& head = listed ? wheel_[t->level_][t->slot_] : t->level_ == due_level ? due_ : firing_;
  if (t->prev_ != nullptr) {
    t->prev_->next_ = t->next_;
  } else {
    head = t->next_;
  }
  if (t->next_ != nullptr) t->next_->prev_ = t->prev_;
  if (listed && head == nullptr) {
    occupied_[t->level_] &= ~(std::uint64_t{1} << t->slot_);
  }
  t->prev_ = t->next_ = nullptr;
  t->wheel_ = nullptr;
}

void TimerWheel::remove(Timer* t) noexcept {
  if (t->wheel_ != this) return;
  unlink(t);
  --size_;
}

std::uint64_t TimerWheel::level_next(unsigned level, unsigned& slot) const noexcept {
  const std::uint64_t occ = occupied_[level];
  if (occ == 0) return never;
  // Slots after now's, wrapping: rotate so that the one after now's is bit 0.
  const unsigned shift = level * slot_bits;
  const auto now_slot = static_cast<unsigned>((now_ >> shift) & slot_mask);
  const unsigned first = (now_slot + 1) & slot_mask;
  const auto ahead = static_cast<unsigned>(std::countr_zero(std::rotr(occ, static_cast<int>(first))));
  slot = (first + ahead) & slot_mask;
  const std::uint64_t level_span = slot_span(level) << slot_bits;
  std::uint64_t start = (now_ & ~(level_span - 1)) + (std::uint64_t{slot} << shift);
  if (slot <= now_slot) start += level_span;  // wrapped into the next span
  return start;
}

std::uint64_t TimerWheel::next_expiry() const noexcept {
  if (due_ != nullptr) return now_;
  unsigned slot;
  // By the invariant, the first non-empty level holds the earliest deadlines.
  for (unsigned level = 0; level < levels; ++level) {
    std::uint64_t t = level_next(level, slot);
    if (t != never) return t;
  }
  return never;
}

std::size_t TimerWheel::advance(std::uint64_t now) noexcept {
  std::size_t fired = 0;
  auto fire = [&](Timer* t) {
    --size_;
    ++fired;
    t->expire();  // may insert: into the wheel, or due_ for the next call
  };
  // What was due when inserted, taken whole first so that an expire() that
  // inserts a due timer does not make this call loop. Still removable while
  // it waits here (an expire() may cancel another timer).
  firing_ = due_;
  due_ = nullptr;
  for (Timer* t = firing_; t != nullptr; t = t->next_) t->level_ = firing_level;
  while (firing_ != nullptr) {
    Timer* t = firing_;
    unlink(t);
    fire(t);
  }
  for (;;) {
    unsigned level = 0, slot = 0;
    std::uint64_t start = never;
    for (; level < levels; ++level) {
      start = level_next(level, slot);
      if (start != never) break;
    }
    if (start == never || start > now) break;
    now_ = start;
    // Taken one at a time from the live slot, so an expire() may remove any
    // other timer. Nothing new lands in this slot: a deadline after now_
    // differs from it in this level's digit or lower.
    while (Timer* t = wheel_[level][slot]) {
      unlink(t);
      if (t->deadline_ <= now_) {
        fire(t);  // level 0, or a higher slot that began on its deadline
      } else {
        place(t);  // a lower level now (or the top again, if far away)
      }
    }
  }
  if (now > now_) now_ = now;
  return fired;
}

void TimerWheel::discard_all() noexcept {
  // One at a time from the live lists: a discard() may remove another.
  auto drain = [&](Timer*& head) {
    while (Timer* t = head) {
      unlink(t);
      --size_;
      t->discard();
    }
  };
  drain(due_);
  for (unsigned level = 0; level < levels; ++level) {
    for (unsigned slot = 0; slot < slots; ++slot) drain(wheel_[level][slot]);
  }
}

}  // namespace shoal::detail
