// Grains on the members of a cluster: a caller finds a grain's owner by
// rendezvous hashing over its view, asks the owner's activator
// ("shoal.cluster.activator") to activate it, remembers where it is (the
// bounded PID cache, watched), and sends the call there. Calls made while a
// grain is being found wait in its pending list, in order.
#include "shoal/cluster/cluster.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "shoal/frame_limits.hpp"
#include "shoal/handles.hpp"
#include "shoal/lifecycle.hpp"
#include "shoal/log.hpp"
#include "shoal/middleware.hpp"
#include "shoal/node.hpp"
#include "shoal/type_registry.hpp"
#include "cluster/cluster.capnp.h"
#include "cluster/pid_cache.hpp"

namespace shoal::cluster {

namespace {

constexpr std::string_view activator_name = "shoal.cluster.activator";

struct Activated {
  bool ok = false;
  std::string name;
  std::string reason;
  std::uint64_t epoch = 0;
};
struct Activate {
  using reply_type = Activated;
  std::string kind;
  std::string identity;
  std::uint64_t epoch = 0;
};
/// To the cache's watcher: forget `grain` when `pid` stops.
struct WatchGrain {
  GrainId grain;
  Pid pid;
};
/// To the watcher: `grain` left the cache (evicted); unwatch if it was the last at `pid`.
struct UnwatchGrain {
  GrainId grain;
  Pid pid;
};
/// To the watcher: go on sending `grain`'s waiting calls (Impl::flush).
struct FlushGrain {
  GrainId grain;
  std::string key;
  Pid pid;
  std::string member;
  std::uint64_t epoch;
};

GrainId grain_of(const std::string& key) {
  const auto nul = key.find('\0');
  return GrainId{key.substr(0, nul), key.substr(nul + 1)};
}

std::string key_of(const GrainId& g) {
  std::string k = g.kind;
  k.push_back('\0');
  k.append(g.identity);
  return k;
}

/// relaxed: a statistic; pairs with no other access.
void count(std::atomic<std::uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }
std::uint64_t read(const std::atomic<std::uint64_t>& c) {
  return c.load(std::memory_order_relaxed);
}

}  // namespace

class Cluster::Impl : public std::enable_shared_from_this<Cluster::Impl> {
 public:
  struct Kind {
    GrainFactory factory;
    KindOptions options;
  };

  Impl(ActorSystem& system, io::Node& node, std::unique_ptr<MemberProvider> provider,
       ClusterConfig config)
      : system_(system),
        node_(node),
        config_(config),
        provider_(std::move(provider)),
        cache_(config.pid_cache_capacity) {}

  ActorSystem& system_;
  io::Node& node_;
  const ClusterConfig config_;
  std::unique_ptr<MemberProvider> provider_;     // until start() hands it to membership_
  std::unordered_map<std::string, Kind> kinds_;  // fixed from start() on
  std::unique_ptr<Membership> membership_;
  Member self_;
  EventStream::Token left_token_{};

  detail::PidCache cache_;
  /// Calls waiting for their grain's location, in call order, while one
  /// lookup is under way (and while they are being sent: calls that come
  /// meanwhile join the list, so they go after).
  std::mutex mu_;  // what follows
  std::unordered_map<std::string, std::vector<Envelope*>> pending_;
  Pid activator_;
  Pid watcher_;
  bool start_claimed_ = false;  // start() began (kinds are fixed)
  bool started_ = false;        // start() put everything in place
  bool stopped_ = false;

  ~Impl() {
    // Calls still waiting when the last reference went (their futures time
    // out, or were already given up).
    for (auto& [key, calls] : pending_) {
      for (Envelope* e : calls) destroy_envelope(e);
    }
  }

  std::atomic<std::uint64_t> activations_{0};
  std::atomic<std::uint64_t> passivations_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> lookups_{0};
  std::atomic<std::uint64_t> undeliverable_{0};
  std::atomic<std::uint64_t> active_{0};

  /// A call the cluster cannot deliver: a counted dead letter (a request's
  /// future fails with dead_letter), and the reason in the log.
  void undeliverable(Envelope* e, const GrainId& g, const std::string& why) {
    count(undeliverable_);
    log(LogLevel::warning, "cluster",
        "a call to " + g.kind + "/" + g.identity + " is undeliverable: " + why);
    system_.post(Pid(), e);
  }

  void route(GrainId grain, Envelope* msg) {
    const std::string key = key_of(grain);
    // A known location: sent outside the lock (a send may fail the
    // caller's future at once, running its callbacks here). This thread's
    // earlier calls to the grain are sent already: a location is cached
    // only after its waiting calls went.
    if (Waiting w = wait_or_hit(key, grain, msg); w != Waiting::no) {
      if (w == Waiting::stopped) undeliverable(msg, grain, "this cluster member stopped");
      return;
    }
    // Placed outside the lock (the view is copied; a remote Pid is made).
    const std::shared_ptr<const Topology> snap = membership_->snapshot();
    const Topology& view = *snap;
    const Member* owner = owner_of(view, grain);
    if (owner == nullptr) {
      undeliverable(msg, grain, "no member hosts kind " + grain.kind);
      return;
    }
    // An owner at this node's address is this member's activator (an old
    // incarnation still in the view is refused there). Never a local
    // lookup under the lock: spawns hold the system's name lock while a
    // grain's constructor may call the cluster.
    const bool local = owner->address == self_.address;
    Pid remote_activator;
    if (!local) {
      try {
        remote_activator = node_.pid(owner->address, activator_name);
      } catch (...) {
        undeliverable(msg, grain, "the owner's node cannot be addressed");
        return;
      }
    }
    Pid activator;
    {
      std::unique_lock lock(mu_);
      // Looked again: another thread may have started (or ended) a lookup.
      if (Waiting w = wait_or_hit_locked(lock, key, grain, msg); w != Waiting::no) {
        if (w == Waiting::stopped) undeliverable(msg, grain, "this cluster member stopped");
        return;
      }
      try {
        pending_[key].push_back(msg);
      } catch (...) {  // bad_alloc: no entry stays without a lookup
        pending_.erase(key);
        lock.unlock();
        undeliverable(msg, grain, "out of memory");
        return;
      }
      activator = local ? activator_ : std::move(remote_activator);
    }
    count(lookups_);
    try {
      Future<Activated> f = system_.request_future(
          activator, Activate{grain.kind, grain.identity, view.epoch}, config_.activation_timeout);
      f.then([self = shared_from_this(), grain, key, address = owner->address, local,
              member = owner->id(), epoch = view.epoch](Result<Activated> r) {
        try {
          self->resolved(grain, key, r, local, address, member, epoch);
        } catch (const std::exception& e) {  // bad_alloc, most likely
          self->fail_pending(key, grain, std::string("the lookup failed: ") + e.what());
        }
      });
    } catch (...) {  // bad_alloc
      fail_pending(key, grain, "the lookup could not be sent");
    }
  }

  enum class Waiting { no, queued, sent, stopped };
  /// Queues `msg` behind a lookup under way, or sends it to a cached
  /// location (outside the lock); `no` if neither.
  Waiting wait_or_hit(const std::string& key, const GrainId& grain, Envelope* msg) {
    std::unique_lock lock(mu_);
    return wait_or_hit_locked(lock, key, grain, msg);
  }
  Waiting wait_or_hit_locked(std::unique_lock<std::mutex>& lock, const std::string& key,
                             const GrainId& grain, Envelope* msg) {
    if (stopped_) return Waiting::stopped;
    if (auto it = pending_.find(key); it != pending_.end()) {
      it->second.push_back(msg);  // behind the calls already waiting
      return Waiting::queued;
    }
    if (auto hit = cache_.find(grain)) {
      lock.unlock();
      system_.post(hit->pid, msg);
      return Waiting::sent;
    }
    return Waiting::no;
  }

  /// The grain's waiting calls, each undeliverable for `why`.
  void fail_pending(const std::string& key, const GrainId& grain, const std::string& why) {
    std::vector<Envelope*> calls;
    {
      std::lock_guard lock(mu_);
      auto it = pending_.find(key);
      if (it == pending_.end()) return;
      calls = std::move(it->second);
      pending_.erase(it);
    }
    for (Envelope* e : calls) undeliverable(e, grain, why);
  }

  void resolved(const GrainId& grain, const std::string& key, Result<Activated>& r, bool local,
                const std::string& address, const std::string& member, std::uint64_t epoch) {
    std::string why;
    Pid pid;
    if (!r.ok()) {
      why = "activation on " + member + " failed: " + r.what();
    } else if (!r.value().ok) {
      why = "activation refused by " + member + ": " + r.value().reason;
    } else if (local) {
      pid = system_.lookup(r.value().name);  // outside the lock (see route)
      if (pid.empty()) why = "the activation " + r.value().name + " is gone";
    }
    if (why.empty() && membership_->snapshot()->find(member) == nullptr) {
      why = "its member " + member + " left";  // a location there is no use
    }
    {
      std::lock_guard lock(mu_);
      if (stopped_) {
        why = "this cluster member stopped";
      } else if (why.empty() && !local) {
        // Under the lock: stop() (which the node outlives) waits for it.
        pid = node_.pid(address, r.value().name);
      }
    }
    if (!why.empty()) {
      fail_pending(key, grain, why);
      return;
    }
    flush(grain, key, pid, member, epoch, 0);
  }

  /// Sends the grain's waiting calls to `pid` in order, outside the lock,
  /// in rounds (calls that come meanwhile join the list); caches the
  /// location once the list is empty. After a few rounds (a hot grain
  /// keeps the list full) the rest goes on as a message of the watcher, so
  /// the thread that completed the lookup (a worker, an io thread) is let go.
  void flush(const GrainId& grain, const std::string& key, const Pid& pid,
             const std::string& member, std::uint64_t epoch, int rounds);

  /// The receive middleware of every grain: its receive timeout is the
  /// kind's idle time, after which it stops.
  static ReceiverMiddleware passivation(std::chrono::nanoseconds idle) {
    return [idle](Context& ctx, Envelope& msg, ReceiveNext next) {
      if (msg.is<ReceiveTimeout>()) {
        // A poison pill, not a stop: calls already queued still run.
        ctx.poison(ctx.self());
        return;
      }
      next(ctx, msg);
      if (msg.is<Started>()) ctx.set_receive_timeout(idle);
    };
  }
};

namespace {

/// Activates this member's grains, as its children (supervised by it,
/// stopped with it), and hands out their names.
class Activator : public Handles<Activator, Activate, Terminated> {
 public:
  explicit Activator(std::shared_ptr<Cluster::Impl> impl) : impl_(std::move(impl)) {}
  std::uint64_t view_epoch() const { return impl_->membership_->snapshot()->epoch; }

  void on(Context& ctx, Activate& a) {
    GrainId grain{a.kind, a.identity};
    const std::string key = key_of(grain);
    if (auto it = by_key_.find(key); it != by_key_.end()) {
      ctx.respond(Activated{true, it->second.name, {}, view_epoch()});
      return;
    }
    const std::shared_ptr<const Topology> snap = impl_->membership_->snapshot();
    const Topology& view = *snap;
    auto kind = impl_->kinds_.find(a.kind);
    std::string refused;
    if (kind == impl_->kinds_.end()) {
      refused = "kind " + a.kind + " is not hosted here";
    } else if (const Member* owner = owner_of(view, grain);
               owner == nullptr || owner->id() != impl_->self_.id()) {
      // Fencing: activate only what this member owns in its own view.
      refused = "not the owner at epoch " + std::to_string(view.epoch) + " (asked at epoch " +
                std::to_string(a.epoch) + ")";
    }
    if (refused.empty()) {
      SpawnResult r;
      try {
        Props props = kind->second.factory(grain);
        if (kind->second.options.idle_timeout > std::chrono::nanoseconds::zero()) {
          props.with_receiver_middleware(
              Cluster::Impl::passivation(kind->second.options.idle_timeout));
        }
        r = ctx.spawn_named(props, "grain:" + a.kind + "/" + a.identity);
      } catch (...) {
        // The kind's factory or the grain's constructor: this activation
        // fails, the activator (and this member's other grains) go on.
        std::string what = "an exception that is no std::exception";
        try {
          throw;
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        count(impl_->refused_);
        ctx.respond(Activated{false, {}, "the grain could not be made: " + what, view.epoch});
        return;
      }
      if (r) {
        const std::string name = ctx.system().name_of(r.pid);
        by_key_[key] = Entry{name, r.pid};
        by_pid_[r.pid.id()] = key;
        count(impl_->activations_);
        count(impl_->active_);
        ctx.respond(Activated{true, name, {}, view.epoch});
        return;
      }
      refused = "the activation could not be spawned";
    }
    count(impl_->refused_);
    ctx.respond(Activated{false, {}, refused, view.epoch});
  }

  void on(Context&, Terminated& t) {
    auto it = by_pid_.find(t.who.id());
    if (it == by_pid_.end()) return;
    by_key_.erase(it->second);
    by_pid_.erase(it);
    // relaxed: a statistic; pairs with no other access.
    impl_->active_.fetch_sub(1, std::memory_order_relaxed);
    count(impl_->passivations_);
  }

 private:
  struct Entry {
    std::string name;
    Pid pid;
  };
  std::shared_ptr<Cluster::Impl> impl_;
  std::unordered_map<std::string, Entry> by_key_;
  std::unordered_map<std::uint64_t, std::string> by_pid_;
};

/// Watches the activations in the cache and forgets each when it stops.
/// Keyed by the watched process (a remote grain's Pid is a proxy whose id
/// is 0 — its node's — so ids would mix them up), one entry per grain.
class CacheWatcher
    : public Handles<CacheWatcher, WatchGrain, UnwatchGrain, FlushGrain, Terminated> {
 public:
  explicit CacheWatcher(std::shared_ptr<Cluster::Impl> impl) : impl_(std::move(impl)) {}
  void on(Context&, FlushGrain& f) { impl_->flush(f.grain, f.key, f.pid, f.member, f.epoch, 0); }
  void on(Context& ctx, UnwatchGrain& u) {
    auto it = watched_.find(u.pid.process());
    if (it == watched_.end()) return;
    std::erase(it->second, u.grain);
    if (!it->second.empty()) return;
    ctx.unwatch(u.pid);
    pids_.erase(it->first);
    watched_.erase(it);
  }
  void on(Context& ctx, WatchGrain& w) {
    auto& grains = watched_[w.pid.process()];
    if (grains.empty()) ctx.watch(w.pid);
    if (std::find(grains.begin(), grains.end(), w.grain) == grains.end()) grains.push_back(w.grain);
    pids_.try_emplace(w.pid.process(), w.pid);
  }
  void on(Context&, Terminated& t) {
    auto it = watched_.find(t.who.process());
    if (it == watched_.end()) return;
    const Pid& pid = pids_.at(it->first);
    for (const GrainId& g : it->second) impl_->cache_.remove(g, &pid);
    pids_.erase(it->first);
    watched_.erase(it);
  }

 private:
  std::shared_ptr<Cluster::Impl> impl_;
  std::unordered_map<const Process*, std::vector<GrainId>> watched_;
  std::unordered_map<const Process*, Pid> pids_;  // holds each watched process
};

}  // namespace

void Cluster::Impl::flush(const GrainId& grain, const std::string& key, const Pid& pid,
                          const std::string& member, std::uint64_t epoch, int rounds) {
  std::unique_lock lock(mu_);
  for (;;) {
    auto it = pending_.find(key);
    if (it == pending_.end()) return;  // failed meanwhile (stop)
    if (it->second.empty()) {
      pending_.erase(it);
      break;
    }
    if (rounds == 8 && !watcher_.empty()) {
      // Later calls keep the list full: go on as a message of the watcher
      // (the list stays, so calls still queue behind, in order).
      const Pid watcher = watcher_;
      lock.unlock();
      system_.send(watcher, FlushGrain{grain, key, pid, member, epoch});
      return;
    }
    std::vector<Envelope*> calls = std::move(it->second);
    it->second.clear();
    lock.unlock();
    for (Envelope* e : calls) system_.post(pid, e);
    ++rounds;
    lock.lock();
  }
  if (stopped_) return;
  std::optional<detail::PidCache::Evicted> evicted = cache_.put(grain, {pid, member, epoch});
  const Pid watcher = watcher_;
  lock.unlock();
  system_.send(watcher, WatchGrain{grain, pid});
  if (evicted) system_.send(watcher, UnwatchGrain{grain_of(evicted->key), evicted->entry.pid});
}

void Cluster::register_types(wire::TypeRegistry& types) {
  types.add<Activate, schema::Activate>(
      "shoal.cluster.Activate",
      [](const Activate& a, schema::Activate::Builder b) {
        b.setKind(a.kind);
        b.setIdentity(a.identity);
        b.setEpoch(a.epoch);
      },
      [](schema::Activate::Reader r) {
        return Activate{r.getKind(), r.getIdentity(), r.getEpoch()};
      });
  types.add<Activated, schema::Activated>(
      "shoal.cluster.Activated",
      [](const Activated& a, schema::Activated::Builder b) {
        b.setOk(a.ok);
        b.setName(a.name);
        b.setReason(a.reason);
        b.setEpoch(a.epoch);
      },
      [](schema::Activated::Reader r) {
        return Activated{r.getOk(), r.getName(), r.getReason(), r.getEpoch()};
      });
}

Cluster::Cluster(ActorSystem& system, io::Node& node, std::unique_ptr<MemberProvider> provider,
                 ClusterConfig config)
    : system_(system), impl_(std::make_shared<Impl>(system, node, std::move(provider), config)) {
  if (!impl_->provider_) throw std::invalid_argument("shoal: a Cluster needs a member provider");
  if (config.activation_timeout <= std::chrono::nanoseconds::zero()) {
    throw std::invalid_argument("shoal: ClusterConfig::activation_timeout must be positive");
  }
}

Cluster::~Cluster() { stop(); }

void Cluster::register_kind(std::string kind, GrainFactory factory, KindOptions options) {
  std::lock_guard lock(impl_->mu_);
  if (impl_->start_claimed_) throw std::logic_error("shoal: register_kind after Cluster::start");
  // A grain's actor name is "grain:<kind>/<identity>": no '/' in a kind
  // keeps it one name per grain.
  if (kind.empty() || kind.find('\0') != std::string::npos || kind.find('/') != std::string::npos) {
    throw std::invalid_argument("shoal: a kind needs a name, without '/' or NUL");
  }
  if (!factory) throw std::invalid_argument("shoal: register_kind needs a factory");
  impl_->kinds_[std::move(kind)] = Impl::Kind{std::move(factory), options};  // under the lock
}

void Cluster::register_kind(std::string kind, Props props, KindOptions options) {
  register_kind(
      std::move(kind), [props](const GrainId&) { return props; }, options);
}

void Cluster::start() {
  Impl& i = *impl_;
  {
    std::lock_guard lock(i.mu_);
    if (i.start_claimed_) throw std::logic_error("shoal: Cluster::start called twice");
    i.start_claimed_ = true;  // started_ only once all below is in place
  }
  i.self_ = Member{i.node_.address(), i.node_.incarnation(), {}};
  for (auto& [kind, k] : i.kinds_) i.self_.kinds.push_back(kind);
  std::sort(i.self_.kinds.begin(), i.self_.kinds.end());
  // The view before the activator: it reads it for every activation.
  i.membership_ = std::make_unique<Membership>(system_, i.self_, std::move(i.provider_));
  SpawnResult a = system_.spawn_named(Props::of<Activator>(impl_), std::string(activator_name));
  if (!a) {
    throw std::runtime_error("shoal: the cluster's activator could not start (one per system)");
  }
  Pid watcher;
  try {
    watcher = system_.spawn<CacheWatcher>(impl_);
  } catch (...) {
    system_.stop(a.pid);  // its name is free again
    throw;
  }
  // A member that left takes its grains' locations with it. (The weak
  // reference: a subscription must not keep the cluster alive.)
  std::weak_ptr<Impl> weak = impl_;
  i.left_token_ = system_.events().subscribe<MemberLeft>([weak](const MemberLeft& e) {
    if (auto s = weak.lock()) s->cache_.remove_member(e.member.id());
  });
  {
    std::lock_guard lock(i.mu_);
    i.activator_ = a.pid;
    i.watcher_ = std::move(watcher);
    i.started_ = true;
  }
  i.membership_->start();
}

void Cluster::stop() {
  Impl& i = *impl_;
  Pid activator;
  Pid watcher;
  {
    std::lock_guard lock(i.mu_);
    if (!i.started_ || i.stopped_) return;
    i.stopped_ = true;  // calls from now on are undeliverable
    // The two actors' Props hold the Impl (to make them anew on a restart),
    // and the Impl held their Pids, which keep their cells: let go of ours.
    activator = std::exchange(i.activator_, Pid());
    watcher = std::exchange(i.watcher_, Pid());
  }
  // Calls waiting for a lookup: undeliverable now (a flush under way finds
  // its list gone and stops).
  std::unordered_map<std::string, std::vector<Envelope*>> waiting;
  {
    std::lock_guard lock(i.mu_);
    waiting.swap(i.pending_);
  }
  for (auto& [key, calls] : waiting) {
    for (Envelope* e : calls) i.undeliverable(e, grain_of(key), "this cluster member stopped");
  }
  i.membership_->stop();
  system_.events().unsubscribe(i.left_token_);
  // The activator's children are this member's grains: they stop with it.
  system_.stop(activator);
  system_.stop(watcher);
}

Membership& Cluster::membership() noexcept { return *impl_->membership_; }
const Member& Cluster::self() const noexcept { return impl_->self_; }

ClusterStats Cluster::stats() const {
  const Impl& i = *impl_;
  return ClusterStats{.activations = read(i.activations_),
                      .passivations = read(i.passivations_),
                      .activations_refused = read(i.refused_),
                      .lookups = read(i.lookups_),
                      .undeliverable = read(i.undeliverable_),
                      .active_grains = static_cast<std::size_t>(read(i.active_)),
                      .pid_cache_size = i.cache_.size(),
                      .pid_cache_evictions = i.cache_.evictions()};
}

void Cluster::check_hosted(const GrainId& grain) const {
  {
    std::lock_guard lock(impl_->mu_);
    if (!impl_->started_) throw std::logic_error("shoal: a cluster call before Cluster::start");
    if (impl_->stopped_) throw ClusterError("shoal: a cluster call after Cluster::stop");
  }
  // The activation's name, as a peer reads it, within a frame's limit.
  if (grain.identity.empty() || grain.identity.find('\0') != std::string::npos ||
      activator_name.size() + 8 + grain.kind.size() + grain.identity.size() >
          wire::max_name_bytes) {
    throw ClusterError("shoal: a grain identity must be non-empty, without NUL, and at most " +
                       std::to_string(wire::max_name_bytes - activator_name.size() - 8) +
                       " bytes with its kind's name");
  }
  // A snapshot, not a copy: this runs on every call.
  const std::shared_ptr<const Topology> snap = impl_->membership_->snapshot();
  const Topology& view = *snap;
  for (const Member& m : view.members) {
    if (m.hosts(grain.kind)) return;
  }
  throw ClusterError("shoal: no member of the cluster (epoch " + std::to_string(view.epoch) + ", " +
                     std::to_string(view.members.size()) + " members) hosts kind " + grain.kind);
}

void Cluster::route(GrainId grain, Envelope* msg) { impl_->route(std::move(grain), msg); }

}  // namespace shoal::cluster
