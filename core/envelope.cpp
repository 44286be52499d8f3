#include "shoal/envelope.hpp"

#include <cstdint>

namespace shoal {

const SenderHeader* Envelope::header_before(const Envelope* e) noexcept {
  // make_request_envelope put the header right before the envelope.
  return reinterpret_cast<const SenderHeader*>(reinterpret_cast<std::uintptr_t>(e) -
                                               sizeof(SenderHeader));
}

void Process::post(Envelope* e) noexcept { destroy_envelope(e); }

void Process::post_chain(Envelope* first, Envelope* last, std::uint32_t) noexcept {
  for_each_in_chain(first, last, [this](Envelope* e) { post(e); });
}

namespace detail {

void free_request_node(Envelope* e) noexcept {
  // The header was destroyed with the payload (destroy_request).
  void* h = const_cast<SenderHeader*>(e->sender_header());
  ::operator delete(h, e->type->node_size);
}

}  // namespace detail

}  // namespace shoal
