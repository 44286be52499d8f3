#include "shoal/detail/bounded_queue.hpp"

namespace shoal::detail {

BoundedQueue::BoundedQueue(std::size_t capacity)
    : capacity_(capacity == 0 ? 1 : capacity), cells_(std::make_unique<Cell[]>(capacity_)) {
  for (std::size_t i = 0; i < capacity_; ++i) {
    // relaxed: the queue is not shared until its mailbox is published.
    cells_[i].seq.store(2 * i, std::memory_order_relaxed);
    cells_[i].value = nullptr;
  }
}

BoundedQueue::~BoundedQueue() {
  while (Envelope* e = try_pop()) destroy_envelope(e);
}

}  // namespace shoal::detail
