// The cluster workloads, shoal side: a grain call made by an actor and
// answered by a grain on the same member (one node on loopback, a static
// member list), through Cluster::request and reenter_after — the
// request-future row plus what the cluster adds (its location cache, its
// lock) on a warm grain.
#include <chrono>
#include <cstdint>
#include <latch>
#include <memory>
#include <stdexcept>
#include <vector>

#include "bench/workloads/shoal_workloads.hpp"
#include "shoal/cluster/cluster.hpp"
#include "shoal/handles.hpp"
#include "shoal/node.hpp"
#include "shoal/type_registry.hpp"

namespace shoal::bench::native {

namespace {

using clock = std::chrono::steady_clock;

struct Ping {
  using reply_type = std::uint64_t;
  std::uint64_t n;
};

struct EchoGrain : Handles<EchoGrain, Ping> {
  void on(Context& ctx, Ping& p) { ctx.respond(p.n); }
};

struct Go {};

struct GrainCaller : Handles<GrainCaller, Go> {
  GrainCaller(cluster::Cluster* c, std::vector<std::uint32_t>* samples, std::latch* done)
      : cluster_(c), samples_(samples), done_(done) {}
  void on(Context& ctx, Go&) { ask(ctx); }
  void ask(Context& ctx) {
    t0_ = clock::now();
    auto f = cluster_->request("Echo", "one", Ping{i_}, std::chrono::seconds(10));
    ctx.reenter_after(f, [this](Context& c, Result<std::uint64_t>& r) {
      if (!r.ok() || r.value() != i_) throw std::runtime_error("grain-call: a wrong answer");
      (*samples_)[i_++] = static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0_).count());
      if (i_ == samples_->size()) {
        done_->count_down();
        return;
      }
      ask(c);
    });
  }
  cluster::Cluster* cluster_;
  std::vector<std::uint32_t>* samples_;
  std::latch* done_;
  clock::time_point t0_;
  std::uint64_t i_ = 0;
};

}  // namespace

Timing grain_call(unsigned workers, std::uint64_t calls) {
  ActorSystem system(system_config(workers));
  wire::TypeRegistry types;
  cluster::Cluster::register_types(types);
  io::Node node(system, types, io::NodeConfig{});
  cluster::Cluster c(system, node, cluster::static_provider({}));
  c.register_kind("Echo", Props::of<EchoGrain>(), {.idle_timeout = std::chrono::nanoseconds::zero()});
  c.start();
  // Warm: the grain is active and its location cached (not measured).
  if (c.request("Echo", "one", Ping{7}, std::chrono::seconds(10)).get() != 7) {
    throw std::runtime_error("grain-call: the warm-up call failed");
  }
  std::vector<std::uint32_t> samples(calls);
  std::latch done(1);
  Pid caller = system.spawn<GrainCaller>(&c, &samples, &done);
  const auto t0 = clock::now();
  system.send(caller, Go{});
  done.wait();
  Timing t{std::chrono::duration<double>(clock::now() - t0).count()};
  c.stop();
  system.shutdown();
  set_percentiles(t, samples);
  return t;
}

}  // namespace shoal::bench::native
