// Cluster: virtual actors (grains) on the members of a cluster, as in
// Proto.Actor's cluster. A grain is (kind, identity); it is activated by the
// first call on the member that owns it (rendezvous hashing over the members
// hosting its kind, shoal/cluster/placement.hpp), kept while it is used, and
// passivated (stopped) after an idle time; the next call activates it again.
//
//   wire::TypeRegistry types;
//   shoal::cluster::Cluster::register_types(types);   // the cluster's own messages
//   types.add<TurnOn, schema::TurnOn>(...);            // the grains' messages
//   shoal::io::Node node(system, types, {.listen = "127.0.0.1:0"});
//   shoal::cluster::Cluster cluster(system, node, etcd_provider({...}));
//   cluster.register_kind("SmartBulb", [](const GrainId& g) { return Props::of<Bulb>(g.identity);
//   }); cluster.start(); auto state = cluster.request<BulbState>("SmartBulb", "kitchen",
//   GetState{}, 1s).get();
//
// What a caller can rely on (this part of the cluster is young; what comes
// next is in cluster/README.md):
// - The owner activates only grains it owns in its own view, and refuses
//   the rest (the call fails; it is not run elsewhere). Not yet: handover
//   when a member joins — a caller that cached a grain's location keeps
//   using that activation while a caller that had not may activate it on
//   the new owner (two activations) until the old one passivates.
// - Calls from one thread or actor to one activation are delivered in the
//   order they were made, also while the grain's location is looked up.
// - Each call is delivered at most once and never retried yet. A call the
//   cluster cannot deliver (no owner, a refused or failed activation, the
//   member stopped) is a counted dead letter (ClusterStats::undeliverable;
//   a request's future fails with dead_letter) and its reason is logged; a
//   call that reaches a grain just stopped is an ordinary dead letter there.
// - A grain idle for its kind's time is sent a PoisonPill: calls queued
//   before it still run; one that arrives after it is a dead letter.
// - The location cache is bounded (ClusterConfig::pid_cache_capacity) and
//   forgets a grain when its activation stops (it is watched) and a
//   member's grains when the member leaves.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "shoal/actor_system.hpp"
#include "shoal/cluster/membership.hpp"
#include "shoal/cluster/placement.hpp"
#include "shoal/future.hpp"
#include "shoal/props.hpp"

namespace shoal::io {
class Node;
}
namespace shoal::wire {
class TypeRegistry;
}

namespace shoal::cluster {

/// How a kind's grains live.
struct KindOptions {
  /// A grain that handled no message this long is passivated (a
  /// PoisonPill); a later call activates it again, with fresh state. Zero:
  /// never. This uses the grain's receive timeout: a grain of a kind with an
  /// idle time must not set its own (its ReceiveTimeout never reaches it).
  std::chrono::nanoseconds idle_timeout{std::chrono::seconds(30)};
};

/// Makes the Props of one activation; the grain's identity is given so
/// that the actor may know it.
using GrainFactory = std::function<Props(const GrainId&)>;

struct ClusterConfig {
  /// Grain locations remembered by this member (least recently used out).
  std::size_t pid_cache_capacity = 100'000;
  /// How long the owner may take to activate a grain (> 0).
  std::chrono::nanoseconds activation_timeout{std::chrono::seconds(5)};
};

/// A call the cluster cannot place: no member hosts its kind (now).
class ClusterError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ClusterStats {
  std::uint64_t activations = 0;          ///< grains activated on this member
  std::uint64_t passivations = 0;         ///< this member's grains that stopped
  std::uint64_t activations_refused = 0;  ///< asked of this member, not its to activate
  std::uint64_t lookups = 0;              ///< calls that had to find their grain
  std::uint64_t undeliverable = 0;        ///< calls dead-lettered by the cluster
  std::size_t active_grains = 0;          ///< live activations on this member
  std::size_t pid_cache_size = 0;
  std::uint64_t pid_cache_evictions = 0;
};

class Cluster {
 public:
  /// Adds the cluster's own messages to a node's registry (before the
  /// node is made from it).
  static void register_types(wire::TypeRegistry& types);

  /// A member on `node`: registers with `provider` at start(), as
  /// {node.address(), node.incarnation(), the kinds registered}. The node
  /// and the system outlive the cluster (stop it, or destroy it, first).
  Cluster(ActorSystem& system, io::Node& node, std::unique_ptr<MemberProvider> provider,
          ClusterConfig config = {});
  /// stop().
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  /// Hosts the kind on this member. Before start(). A kind's name has no
  /// '/'; a factory that throws fails that activation only.
  void register_kind(std::string kind, GrainFactory factory, KindOptions options = {});
  void register_kind(std::string kind, Props props, KindOptions options = {});

  /// Joins the cluster. Once.
  void start();
  /// Leaves: deregisters, stops this member's grains; calls waiting for a
  /// lookup are undeliverable (a round of them being sent still goes), later
  /// calls throw ClusterError. Idempotent. Not from a membership callback of
  /// this cluster's own provider thread while another thread destroys it.
  void stop();

  /// After start().
  Membership& membership() noexcept;
  const Member& self() const noexcept;
  ClusterStats stats() const;

  /// Sends `msg` to the grain as a request answered with R; the future
  /// fails as a request future does (timeout, dead_letter, ...). Throws
  /// ClusterError if no member of the current view hosts `kind`, after
  /// stop(), or for an identity that is empty, holds a NUL or is too long
  /// for a peer to address (with its kind, a little under 226 bytes). Any
  /// thread; inside an actor, take the answer with Context::reenter_after.
  template <class R, AnsweredWith<R> T>
  Future<R> request(std::string_view kind, std::string_view identity, T&& msg,
                    std::chrono::nanoseconds timeout) {
    GrainId grain{std::string(kind), std::string(identity)};
    check_hosted(grain);
    auto* core = new shoal::detail::FutureCore(system_);
    Future<R> f(core);
    if (timeout > std::chrono::nanoseconds::zero()) core->arm(timeout);
    route(std::move(grain), make_request_envelope(std::forward<T>(msg), f.pid(), 0));
    core->sent();
    return f;
  }
  /// request<R> for a message that declares its reply type R.
  template <DeclaresReply T>
  Future<reply_type_of<T>> request(std::string_view kind, std::string_view identity, T&& msg,
                                   std::chrono::nanoseconds timeout) {
    return request<reply_type_of<T>>(kind, identity, std::forward<T>(msg), timeout);
  }
  /// Sends `msg` to the grain, no answer expected (in order with this
  /// thread's other calls to it). Throws ClusterError as request does.
  template <class T>
  void send(std::string_view kind, std::string_view identity, T&& msg) {
    GrainId grain{std::string(kind), std::string(identity)};
    check_hosted(grain);
    route(std::move(grain), make_envelope(std::forward<T>(msg)));
  }

  class Impl;

 private:
  void check_hosted(const GrainId& grain) const;
  /// Delivers `msg` (owned) to the grain's activation, finding (and
  /// activating) it first if needed.
  void route(GrainId grain, Envelope* msg);

  ActorSystem& system_;
  std::shared_ptr<Impl> impl_;  // shared with callbacks that may outlive a call
};

}  // namespace shoal::cluster
