// The embedded providers: a fixed list, and members of one process.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "shoal/cluster/membership.hpp"
#include "shoal/log.hpp"

namespace shoal::cluster {

namespace {

class StaticProvider final : public MemberProvider {
 public:
  explicit StaticProvider(std::vector<Member> members) : members_(std::move(members)) {}
  void start(const Member& self, MemberListener& listener) override {
    Topology view{.epoch = 1, .members = members_};
    const std::string id = self.id();
    if (view.find(id) == nullptr) view.members.push_back(self);
    listener.on_status(MembershipState::up, "static member list");
    listener.on_view(std::move(view));
  }
  void stop() override {}

 private:
  std::vector<Member> members_;
};

}  // namespace

std::unique_ptr<MemberProvider> static_provider(std::vector<Member> members) {
  return std::make_unique<StaticProvider>(std::move(members));
}

// -- InProcessRegistry ------------------------------------------------------------

/// The members, and one delivery thread that hands each change to every
/// listener in order (a listener is called without the registry's lock, so
/// it may call back into the registry).
class InProcessRegistry::Impl {
 public:
  Impl() : thread_([this] { deliver(); }) {}
  ~Impl() {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  void join(const Member& self, MemberListener* listener) {
    std::lock_guard lock(mu_);
    const std::string id = self.id();
    listeners_.insert(listener);
    // One registration per id, ever: an id registered or gone is refused
    // (as etcd's create-if-absent does), so every member sees one view.
    if (members_.contains(id) || gone_.contains(id)) {
      queue_status(listener, MembershipState::expelled,
                   "member id " + id + " is registered already, or was and left");
      return;
    }
    members_[id] = Entry{self, listener};
    queue_status(listener, MembershipState::up, "registered in process");
    queue_views();
  }

  /// Takes the member out (only if `listener`, when given, is the one
  /// registered under `id`); an expelled one is told.
  bool remove(std::string_view id, bool expelled, MemberListener* listener = nullptr) {
    std::lock_guard lock(mu_);
    auto it = members_.find(std::string(id));
    if (it == members_.end()) return false;
    if (listener != nullptr && it->second.listener != listener) return false;
    MemberListener* gone = it->second.listener;
    gone_.insert(it->first);
    members_.erase(it);
    if (expelled) queue_status(gone, MembershipState::expelled, "expelled from the registry");
    queue_views();
    return true;
  }

  /// After this returns, `listener` is called no more.
  void forget(MemberListener* listener) {
    std::unique_lock lock(mu_);
    listeners_.erase(listener);
    std::erase_if(queue_, [&](const Item& i) { return i.to == listener; });
    // A delivery to it may be running now: wait for it to end (unless this
    // is that delivery, a listener stopping its own member).
    if (std::this_thread::get_id() == thread_.get_id()) return;
    idle_.wait(lock, [&] { return delivering_ != listener; });
  }

 private:
  struct Entry {
    Member member;
    MemberListener* listener;
  };
  struct Item {
    MemberListener* to;
    bool is_view;
    Topology view;
    MembershipState state;
    std::string detail;
  };

  void queue_status(MemberListener* to, MembershipState s, std::string detail) {
    queue_.push_back(Item{to, false, {}, s, std::move(detail)});
    wake_.notify_one();
  }
  /// Every listener still registered gets the current view (mu_ held).
  void queue_views() {
    Topology view{.epoch = ++epoch_, .members = {}};
    for (auto& [id, e] : members_) view.members.push_back(e.member);
    for (auto& [id, e] : members_) queue_.push_back(Item{e.listener, true, view, {}, {}});
    // An expelled member's listener is no member: it gets no views.
    wake_.notify_one();
  }

  void deliver() {
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;
      Item item = std::move(queue_.front());
      queue_.pop_front();
      if (!listeners_.contains(item.to)) continue;
      delivering_ = item.to;
      lock.unlock();
      try {
        if (item.is_view) {
          item.to->on_view(std::move(item.view));
        } else {
          item.to->on_status(item.state, std::move(item.detail));
        }
      } catch (const std::exception& e) {  // a listener's failure must not end this thread
        log(LogLevel::error, "cluster", std::string("a membership listener threw: ") + e.what());
      }
      lock.lock();
      delivering_ = nullptr;
      idle_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::map<std::string, Entry> members_;
  std::set<std::string> gone_;  // ids that left: never registered again
  std::set<MemberListener*> listeners_;
  std::deque<Item> queue_;
  MemberListener* delivering_ = nullptr;
  std::uint64_t epoch_ = 0;
  bool closing_ = false;
  std::thread thread_;  // last: starts once the rest is made
};

namespace {

class InProcessProvider final : public MemberProvider {
 public:
  explicit InProcessProvider(InProcessRegistry::Impl& registry) : registry_(registry) {}
  ~InProcessProvider() override { stop(); }
  void start(const Member& self, MemberListener& listener) override {
    id_ = self.id();
    listener_ = &listener;
    registry_.join(self, listener_);
  }
  void stop() override {
    if (listener_ == nullptr) return;
    registry_.remove(id_, /*expelled=*/false, listener_);
    registry_.forget(std::exchange(listener_, nullptr));
  }

 private:
  InProcessRegistry::Impl& registry_;
  std::string id_;
  MemberListener* listener_ = nullptr;
};

}  // namespace

InProcessRegistry::InProcessRegistry() : impl_(std::make_unique<Impl>()) {}
InProcessRegistry::~InProcessRegistry() = default;

std::unique_ptr<MemberProvider> InProcessRegistry::provider() {
  return std::make_unique<InProcessProvider>(*impl_);
}

bool InProcessRegistry::expel(std::string_view member_id) {
  return impl_->remove(member_id, /*expelled=*/true);
}

}  // namespace shoal::cluster
