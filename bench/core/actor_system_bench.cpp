// Micro-benchmarks of whole-runtime operations: a send that schedules and
// runs (deterministic mode, one thread), a batch into one mailbox, spawn+stop.
#include <benchmark/benchmark.h>

#include "shoal/actor_system.hpp"

namespace {

using namespace shoal;

struct Tick {
  std::uint64_t n;
};

struct Sink : Handles<Sink, Tick> {
  void on(Context&, Tick& t) { sum += t.n; }
  std::uint64_t sum = 0;
};

struct Nothing : Actor {
  void receive(Context&, Envelope&) override {}
};

SystemConfig deterministic() {
  SystemConfig c;
  c.scheduler.deterministic = true;
  return c;
}

// send → schedule → run → idle, all on one thread: the mailbox round trip.
void BM_Mailbox_SendRunOne(benchmark::State& state) {
  ActorSystem system(deterministic());
  Pid sink = system.spawn<Sink>();
  for (auto _ : state) {
    system.send(sink, Tick{1});
    system.run_one();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Mailbox_SendRunOne);

// `batch` sends, then one run drains them (throughput permitting).
void BM_Mailbox_SendRunBatch(benchmark::State& state) {
  const auto batch = static_cast<std::uint64_t>(state.range(0));
  ActorSystem system(deterministic());
  Pid sink = system.spawn<Sink>();
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < batch; ++i) system.send(sink, Tick{i});
    system.run_until_idle();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}
BENCHMARK(BM_Mailbox_SendRunBatch)->ArgNames({"batch"})->Arg(64)->Arg(1024);

// spawn, stop, and run the stop: the life of an actor that does nothing.
void BM_Spawn_SpawnStop(benchmark::State& state) {
  ActorSystem system(deterministic());
  for (auto _ : state) {
    Pid p = system.spawn<Nothing>();
    system.stop(p);
    system.run_one();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Spawn_SpawnStop);

}  // namespace
