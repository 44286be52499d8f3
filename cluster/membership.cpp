#include "shoal/cluster/membership.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <thread>

namespace shoal::cluster {

std::string Member::id() const {
  char inc[17];
  std::snprintf(inc, sizeof inc, "%016llx", static_cast<unsigned long long>(incarnation));
  return address + "#" + inc;
}

bool Member::hosts(std::string_view kind) const noexcept {
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

const Member* Topology::find(std::string_view id) const noexcept {
  for (const Member& m : members) {
    if (m.id() == id) return &m;
  }
  return nullptr;
}

std::string_view to_string(MembershipState s) noexcept {
  switch (s) {
    case MembershipState::joining:
      return "joining";
    case MembershipState::up:
      return "up";
    case MembershipState::unreachable:
      return "unreachable";
    case MembershipState::expelled:
      return "expelled";
    case MembershipState::left:
      return "left";
  }
  return "unknown";
}

Membership::Membership(ActorSystem& system, Member self, std::unique_ptr<MemberProvider> provider)
    : system_(system), self_(std::move(self)), provider_(std::move(provider)) {
  if (!provider_) throw std::invalid_argument("shoal: Membership needs a provider");
  if (self_.address.empty()) throw std::invalid_argument("shoal: a member needs an address");
}

Membership::~Membership() {
  stop();
  // Before the members it calls: a provider stopped from its own callback
  // joins its thread here.
  provider_.reset();
}

void Membership::start() {
  {
    std::lock_guard lock(mu_);
    if (started_ || stop_claimed_) throw std::logic_error("shoal: Membership::start called twice");
    started_ = true;
    starting_thread_ = std::this_thread::get_id();
  }
  try {
    provider_->start(self_, *this);
  } catch (...) {
    std::lock_guard lock(mu_);
    starting_thread_ = {};
    changed_.notify_all();
    throw;
  }
  bool stop_now;
  {
    std::lock_guard lock(mu_);
    starting_thread_ = {};
    stop_now = stop_deferred_;
  }
  changed_.notify_all();
  if (stop_now) finish_stop();  // asked for from a callback inside start()
}

void Membership::stop() {
  {
    std::unique_lock lock(mu_);
    // One stop: a second (another thread, or a listener's callback inside
    // the first, which waits for it) returns at once.
    if (stop_claimed_) return;
    stop_claimed_ = true;
    if (starting_thread_ == std::this_thread::get_id()) {
      stop_deferred_ = true;  // a callback inside start(): start() stops after
      return;
    }
    changed_.wait(lock, [&] { return starting_thread_ == std::thread::id{}; });
    if (!started_) return;
  }
  finish_stop();
}

void Membership::finish_stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;  // from here on, views are dropped
  }
  // The provider returns once it calls us no more (or, stopped from its
  // own callback, once that callback returns).
  provider_->stop();
  on_status(MembershipState::left, "stopped");
}

Topology Membership::topology() const {
  std::lock_guard lock(mu_);
  return *view_;
}

std::shared_ptr<const Topology> Membership::snapshot() const {
  std::lock_guard lock(mu_);
  return view_;
}

MembershipState Membership::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

bool Membership::wait_until(const std::function<bool(const Topology&)>& pred,
                            std::chrono::nanoseconds timeout) const {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return pred(*view_); });
}

bool Membership::wait_for_state(MembershipState s, std::chrono::nanoseconds timeout) const {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return state_ == s; });
}

void Membership::on_view(Topology view) {
  std::sort(view.members.begin(), view.members.end(),
            [](const Member& a, const Member& b) { return a.id() < b.id(); });
  std::vector<Member> joined;
  std::vector<Member> left;
  std::uint64_t epoch;
  std::size_t count;
  {
    std::lock_guard lock(mu_);
    // A provider never goes back in time; a view older than ours (a
    // reconnect that read a lagging endpoint, say) is dropped, and so is
    // any view once this member stopped.
    if (stopped_ || view.epoch < view_->epoch) return;
    std::erase_if(view.members, [&](const Member& m) { return gone_.contains(m.id()); });
    // One entry per id (a static list may name a member twice).
    view.members.erase(
        std::unique(view.members.begin(), view.members.end(),
                    [](const Member& a, const Member& b) { return a.id() == b.id(); }),
        view.members.end());
    // Both lists are sorted by id: one merge finds who came and who went.
    auto a = view_->members.begin();
    auto b = view.members.begin();
    while (a != view_->members.end() || b != view.members.end()) {
      if (b == view.members.end() || (a != view_->members.end() && a->id() < b->id())) {
        left.push_back(*a++);
      } else if (a == view_->members.end() || b->id() < a->id()) {
        joined.push_back(*b++);
      } else {
        ++a;
        ++b;
      }
    }
    for (const Member& m : left) gone_.insert(m.id());
    const bool changed = !joined.empty() || !left.empty() || view.epoch != view_->epoch;
    epoch = view.epoch;
    count = view.members.size();
    // A new snapshot: readers holding the old one keep it as it was.
    view_ = std::make_shared<const Topology>(std::move(view));
    if (!changed) return;
  }
  changed_.notify_all();
  // Published outside the lock (a subscriber may read topology()), on the
  // provider's one thread, so in epoch order.
  const EventStream& events = system_.events();
  for (Member& m : left) events.publish(MemberLeft{std::move(m), epoch});
  for (Member& m : joined) events.publish(MemberJoined{std::move(m), epoch});
  events.publish(TopologyChanged{epoch, count});
}

void Membership::on_status(MembershipState state, std::string detail) {
  {
    std::lock_guard lock(mu_);
    if (state_ == state) return;
    // After leaving (or being expelled), a late report changes nothing.
    if (state_ == MembershipState::left) return;
    if (state_ == MembershipState::expelled && state != MembershipState::left) return;
    state_ = state;
  }
  changed_.notify_all();
  system_.events().publish(MembershipStatus{state, std::move(detail)});
}

}  // namespace shoal::cluster
