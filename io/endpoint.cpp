#include "io/endpoint.hpp"
#include "core/detail/system_access.hpp"

#include <algorithm>

#include "io/auth.hpp"
#include "io/detail/node_impl.hpp"
#include "io/remote_process.hpp"
#include "shoal/actor_system.hpp"

namespace shoal::io {

void RemoteProcess::post(Envelope* e) noexcept {
  // The target travels in the envelope's mark (unused on this path: marks
  // matter to local receivers only), with a reference the io thread drops
  // once the message is encoded (or dropped): the proxy must outlive its
  // queued messages even if every sender lets go of its Pid.
  add_ref();
  mark_of(*e) = reinterpret_cast<std::uintptr_t>(this);
  endpoint_->enqueue(e);
}

void RemoteProcess::post_chain(Envelope* first, Envelope* last, std::uint32_t count) noexcept {
  // As post(), once for the chain: a reference and a mark per message.
  add_refs(count);
  std::uint64_t bytes = 0;
  for_each_in_chain(first, last, [&](Envelope* e) {
    mark_of(*e) = reinterpret_cast<std::uintptr_t>(this);
    bytes += e->type->node_size;
  });
  endpoint_->enqueue_chain(first, last, bytes);
}

RemoteProcess& target_of(Envelope& queued) noexcept {
  return *reinterpret_cast<RemoteProcess*>(mark_of(queued));
}

Endpoint::Endpoint(detail::NodeImpl& node, detail::IoLoop& home, ActorSystem& system,
                   std::string address, std::size_t max_queued_bytes)
    : association(detail::random_id()),
      node_(node),
      home_(home),
      system_(system),
      address_(std::move(address)),
      // Far below the bit the inside count starts at (see load_).
      max_queued_bytes_(std::min<std::size_t>(max_queued_bytes, bytes_mask / 2)) {
  // Born marked empty: the first producer learns it made the queue
  // non-empty and schedules the endpoint.
  queue_.try_mark_empty();
}

Endpoint::~Endpoint() = default;  // the queue frees what is left in it

void Endpoint::enqueue(Envelope* e) noexcept {
  const std::uint64_t size = e->type->node_size;
  // seq_cst (the RMW and the load): with close()'s store of closed_ and
  // its load of the inside count, a Dekker pair — either close() sees
  // this producer inside and waits for it, or this producer sees closed_.
  // The same add books the bytes: the bound is approximate under
  // concurrency (each producer checks its own sum); the envelope itself
  // is published by the queue.
  const std::uint64_t before = load_.fetch_add(one_inside + size, std::memory_order_seq_cst);
  // The target's reference (taken in RemoteProcess::post) goes last on
  // the refusal paths: it may be the endpoint's last owner.
  if (closed_.load(std::memory_order_seq_cst)) {
    load_.fetch_sub(one_inside + size, std::memory_order_release);  // release: pairs with close()'s acquire load
    Pid target = Pid::adopt(&target_of(*e));
    shoal::detail::SystemAccess::dead_letter(system_, e, target.id(),
                                             DeadLetterReason::connection_lost);
    return;
  }
  if ((before & bytes_mask) + size > max_queued_bytes_) [[unlikely]] {
    refused_.fetch_add(1, std::memory_order_relaxed);  // relaxed: folded into sequences later
    node_.note_outbound_full();
    load_.fetch_sub(one_inside + size, std::memory_order_release);  // release: as above
    Pid target = Pid::adopt(&target_of(*e));
    shoal::detail::SystemAccess::dead_letter(system_, e, target.id(),
                                             DeadLetterReason::outbound_full);
    return;
  }
  if (queue_.push(e)) home_.schedule(*this);
  load_.fetch_sub(one_inside, std::memory_order_release);  // release: as above
}

void Endpoint::enqueue_chain(Envelope* first, Envelope* last, std::uint64_t bytes) noexcept {
  // seq_cst: as in enqueue() (the Dekker pair with close()).
  const std::uint64_t before = load_.fetch_add(one_inside + bytes, std::memory_order_seq_cst);
  const bool closed = closed_.load(std::memory_order_seq_cst);
  if (closed || (before & bytes_mask) + bytes > max_queued_bytes_) [[unlikely]] {
    // Closed: each message is a dead letter. Near the bound: each meets it
    // alone, so what fits still goes. Either way, enqueue() decides.
    load_.fetch_sub(one_inside + bytes, std::memory_order_release);  // release: as in enqueue()
    for_each_in_chain(first, last, [this](Envelope* e) { enqueue(e); });
    return;
  }
  shoal::detail::MpscQueue::Entered in = queue_.enter_chain(last);
  queue_.link(in, first);
  if (in.was_marked) home_.schedule(*this);
  load_.fetch_sub(one_inside, std::memory_order_release);  // release: as in enqueue()
}

void Endpoint::close() noexcept {
  closed_.store(true, std::memory_order_seq_cst);  // seq_cst: see enqueue()
  // acquire: pairs with the producers' release decrements; after it, no
  // producer touches the queue or the node again.
  while ((load_.load(std::memory_order_acquire) >> inside_shift) != 0) {
    __builtin_ia32_pause();
  }
  std::unordered_map<std::uint64_t, Pid> ids;
  std::unordered_map<std::string, Pid> names;
  {
    std::lock_guard lock(proxies_mu_);
    ids.swap(by_id_);
    names.swap(by_name_);
  }
  // The Pids drop here, outside the lock: a proxy's destructor releases
  // its shared_ptr to this endpoint.
}

bool Endpoint::forget_unused_proxies() {
  std::vector<Pid> gone;  // dropped outside the lock: a proxy's destructor releases this
  std::lock_guard lock(proxies_mu_);
  auto forget = [&](auto& table) {
    for (auto it = table.begin(); it != table.end();) {
      if (it->second.process()->use_count() == 1) {  // ours alone (see proxy())
        gone.push_back(std::move(it->second));
        it = table.erase(it);
      } else {
        ++it;
      }
    }
  };
  forget(by_id_);
  forget(by_name_);
  return by_id_.empty() && by_name_.empty();
}

Pid Endpoint::proxy(std::uint64_t id, std::string_view name, std::uint64_t incarnation) {
  std::lock_guard lock(proxies_mu_);
  // Closed (the node is going away, while other io threads may still read
  // frames): a proxy, but not interned — the tables would hold it, it
  // holds this endpoint, and close() has already let the tables go.
  // (close() sets closed_ before it takes the lock to swap them out.)
  if (closed_.load(std::memory_order_seq_cst)) {
    if (!name.empty()) return Pid(new RemoteProcess(shared_from_this(), 0, std::string(name), 0));
    return Pid(new RemoteProcess(shared_from_this(), id, {}, incarnation));
  }
  if (by_id_.size() + by_name_.size() >= sweep_at_) {
    // Forget proxies nobody else holds (use_count 1: ours; no other
    // thread can copy one without this lock). Amortised O(1) per proxy.
    std::erase_if(by_id_, [](const auto& kv) { return kv.second.process()->use_count() == 1; });
    std::erase_if(by_name_, [](const auto& kv) { return kv.second.process()->use_count() == 1; });
    sweep_at_ = std::max<std::size_t>(64, 2 * (by_id_.size() + by_name_.size()));
  }
  if (!name.empty()) {
    auto it = by_name_.find(std::string(name));
    if (it != by_name_.end()) return it->second;
    Pid p(new RemoteProcess(shared_from_this(), 0, std::string(name), 0));
    by_name_.emplace(std::string(name), p);
    return p;
  }
  auto it = by_id_.find(id);
  if (it != by_id_.end()) {
    auto& known = static_cast<RemoteProcess&>(*it->second.process());
    // The same id from another incarnation is another actor: a new proxy
    // (the old one stays with its holders, and its sends are dropped).
    if (incarnation == 0 || known.incarnation() == incarnation) return it->second;
  }
  Pid p(new RemoteProcess(shared_from_this(), id, {}, incarnation));
  by_id_.insert_or_assign(id, p);
  return p;
}

}  // namespace shoal::io
