// Membership: who is in the cluster, as one view every member agrees on
// eventually, behind one small seam (MemberProvider) with two real sides:
// an embedded one (InProcessRegistry, StaticProvider: one machine, tests,
// nothing to install) and etcd v3 (EtcdProvider: leases, a watch, and the
// revision as the topology epoch).
//
//   shoal::cluster::EtcdConfig etcd{.endpoints = {"http://127.0.0.1:2379"}, .cluster = "bulbs"};
//   shoal::cluster::Membership members(system, self, shoal::cluster::etcd_provider(etcd));
//   system.events().subscribe<shoal::cluster::MemberJoined>([](const auto& e) { ... });
//   members.start();
//   members.wait_until([](const Topology& t) { return t.members.size() == 3; }, 10s);
//
// What a user can rely on:
// - Views come with an epoch that never decreases (etcd: the store's
//   revision when the view was read or last changed); a view with an older
//   epoch than the current one is never applied. Two members holding the
//   same members may show different epochs for a while (a revision counts
//   every change in etcd, not only this cluster's).
// - A member that is gone stays gone: its id (address and the node's
//   incarnation) is registered at most once — etcd keys are created only if
//   absent and count only while their lease lives; the in-process registry
//   remembers ids that left — and each Membership also blocks the ids it saw
//   leave. A restarted node is a new incarnation, a new id.
// - Changes are published on the system's event stream, in epoch order:
//   a MemberLeft per member gone, a MemberJoined per member new, then one
//   TopologyChanged; and MembershipStatus when the provider's state
//   changes (up; unreachable: the last view is kept, retrying; expelled:
//   this member's registration is gone or refused and it must not serve as
//   a member any more; left). A Membership starts in `joining`.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "shoal/actor_system.hpp"

namespace shoal::cluster {

/// One member: a node (the address peers reach it at, and its start's
/// incarnation) and the kinds of grain it hosts.
struct Member {
  std::string address;
  std::uint64_t incarnation = 0;
  std::vector<std::string> kinds{};

  /// "address#incarnation" (hex): unique per start of a node.
  std::string id() const;
  bool hosts(std::string_view kind) const noexcept;
  friend bool operator==(const Member&, const Member&) = default;
};

/// The members at one epoch, sorted by id.
struct Topology {
  std::uint64_t epoch = 0;
  std::vector<Member> members{};

  const Member* find(std::string_view id) const noexcept;
};

// -- events (published on the system's event stream) ---------------------------

struct MemberJoined {
  Member member;
  std::uint64_t epoch;
};
struct MemberLeft {
  Member member;
  std::uint64_t epoch;
};
/// After the MemberJoined / MemberLeft of one change.
struct TopologyChanged {
  std::uint64_t epoch;
  std::size_t members;
};

enum class MembershipState : std::uint8_t {
  joining,      ///< started; no view yet
  up,           ///< registered and following the provider
  unreachable,  ///< the provider cannot be reached; the last view is kept, retrying
  expelled,     ///< this member's registration is gone (lease expired): it is no member now
  left,         ///< stopped
};
std::string_view to_string(MembershipState s) noexcept;

/// The provider's state changed; `detail` says why (an error text when
/// unreachable).
struct MembershipStatus {
  MembershipState state;
  std::string detail;
};

// -- the seam -------------------------------------------------------------------

/// What a provider calls, one call at a time: from start() and then from a
/// thread of the provider's (etcd: its own; in-process: the registry's,
/// shared by its providers; static: start() only).
class MemberListener {
 public:
  virtual ~MemberListener() = default;
  /// A whole view (every member, this one included once it is registered).
  virtual void on_view(Topology view) = 0;
  virtual void on_status(MembershipState state, std::string detail) = 0;
};

/// Finds the members of a cluster. start() begins registering `self`
/// (etcd: on the provider's thread, retried until etcd answers) and keeps
/// the listener informed until stop(), which deregisters (a clean leave;
/// etcd: best effort, else the lease runs out) and returns once no call to
/// the listener is running or will follow — unless it is called from that
/// listener's own call, which it then lets finish.
class MemberProvider {
 public:
  virtual ~MemberProvider() = default;
  virtual void start(const Member& self, MemberListener& listener) = 0;
  virtual void stop() = 0;
};

/// A fixed list of members (this one among them or not: it is added). The
/// view is given once, at epoch 1, from start(); nothing ever leaves.
std::unique_ptr<MemberProvider> static_provider(std::vector<Member> members);

/// Members of one process (tests, one machine): providers made by one
/// registry see each other. Views are delivered in epoch order on the
/// registry's own thread. Outlives its providers.
class InProcessRegistry {
 public:
  InProcessRegistry();
  ~InProcessRegistry();
  InProcessRegistry(const InProcessRegistry&) = delete;
  InProcessRegistry& operator=(const InProcessRegistry&) = delete;

  std::unique_ptr<MemberProvider> provider();
  /// Removes a member as if its lease expired: the others see it leave,
  /// it is told it was expelled. False if no such member is registered.
  bool expel(std::string_view member_id);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// Where a member finds etcd (v3, its JSON gateway over HTTP via libcurl).
struct EtcdConfig {
  /// Client URLs, tried in turn: "http://127.0.0.1:2379".
  std::vector<std::string> endpoints{"http://127.0.0.1:2379"};
  /// Members register under /shoal/<cluster>/members/.
  std::string cluster = "shoal";
  /// The registration's lease: a member silent (frozen, crashed, cut off)
  /// this long is removed by etcd. Kept alive every third of it. At least 2 s.
  std::chrono::seconds lease_ttl{10};
  /// One HTTP call's limit (the watch excepted); at most a third of
  /// lease_ttl, so one slow keep-alive cannot outlast the lease.
  std::chrono::milliseconds request_timeout{2000};
  /// Retry after a failure: doubles from min to max.
  std::chrono::milliseconds retry_min{100};
  std::chrono::milliseconds retry_max{2000};
};
std::unique_ptr<MemberProvider> etcd_provider(EtcdConfig config);

// -- what a member keeps --------------------------------------------------------

/// A member's view of the cluster: applies the provider's views (epoch
/// order, gone members blocked), publishes the changes, and answers
/// topology() from any thread. Stop (or destroy) it before the system.
class Membership final : private MemberListener {
 public:
  Membership(ActorSystem& system, Member self, std::unique_ptr<MemberProvider> provider);
  ~Membership() override;
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  /// Starts the provider (registers this member). Once.
  void start();
  /// Leaves: deregisters and stops following. Idempotent.
  void stop();

  const Member& self() const noexcept { return self_; }
  /// A copy of the current view.
  Topology topology() const;
  /// The current view without a copy: one lock and a reference count. It
  /// stays as it was when taken (a change makes a new one). Any thread.
  std::shared_ptr<const Topology> snapshot() const;
  MembershipState state() const;
  /// Blocks until `pred(topology())` holds (checked at each change) or
  /// `timeout` passes; the last check's result.
  bool wait_until(const std::function<bool(const Topology&)>& pred,
                  std::chrono::nanoseconds timeout) const;
  /// Blocks until state() is `s` or `timeout` passes; whether it is.
  bool wait_for_state(MembershipState s, std::chrono::nanoseconds timeout) const;

 private:
  void on_view(Topology view) override;
  void on_status(MembershipState state, std::string detail) override;

  ActorSystem& system_;
  const Member self_;
  std::unique_ptr<MemberProvider> provider_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::shared_ptr<const Topology> view_ = std::make_shared<const Topology>();
  MembershipState state_ = MembershipState::joining;
  std::unordered_set<std::string> gone_;  // ids that left: never members again
  void finish_stop();

  bool started_ = false;
  bool stop_claimed_ = false;          // stop() ran (or is running)
  bool stop_deferred_ = false;         // asked for inside start(): done after it
  std::thread::id starting_thread_{};  // inside provider_->start()
  bool stopped_ = false;               // views dropped from here on
};

}  // namespace shoal::cluster
