// RemoteProcess: what a Pid to an actor on another node points at. A send
// to it (ActorSystem::deliver → Process::post) hands the envelope to the
// peer's Endpoint; nothing else about the send differs from a local one.
//
// Proxies are interned per endpoint (Endpoint::proxy): one per remote
// actor and way of naming it (by id, or by name), so Pids to it compare
// equal. A proxy keeps its endpoint alive, never the Node: after the Node
// is gone, sends through it become dead letters.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "shoal/pid.hpp"
#include "wire/frame_codec.hpp"

namespace shoal::io {

class Endpoint;

class RemoteProcess final : public Process {
 public:
  RemoteProcess(std::shared_ptr<Endpoint> endpoint, std::uint64_t remote_id, std::string name,
                std::uint64_t incarnation)
      : Process(remote_id, Kind::remote),
        endpoint_(std::move(endpoint)),
        name_(std::move(name)),
        incarnation_(incarnation) {}

  /// Queues `e` for the peer (owned). Any thread; never blocks; a full
  /// queue or a closed node makes it a dead letter.
  void post(Envelope* e) noexcept override;
  /// A sender's burst (owned): one reference step and one queueing for all.
  void post_chain(Envelope* first, Envelope* last, std::uint32_t count) noexcept override;

  Endpoint& endpoint() const noexcept { return *endpoint_; }
  /// The actor's id on its node (0 when it is named).
  std::uint64_t remote_id() const noexcept { return id(); }
  const std::string& name() const noexcept { return name_; }
  /// The peer incarnation an id was learnt from (0: a name, or unknown):
  /// an actor id means nothing to another incarnation of its node.
  std::uint64_t incarnation() const noexcept { return incarnation_; }
  /// How the wire names it, from the peer's point of view.
  wire::OutboundRef ref() const noexcept { return {id(), name_, {}}; }

 private:
  std::shared_ptr<Endpoint> endpoint_;
  std::string name_;
  std::uint64_t incarnation_;
};

/// The proxy a queued envelope is for (set by RemoteProcess::post, with a
/// reference the holder of the envelope must drop: Pid::adopt).
RemoteProcess& target_of(Envelope& queued) noexcept;

}  // namespace shoal::io
