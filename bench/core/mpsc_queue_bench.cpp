// Micro-benchmarks of the per-message queue operations (shoal/detail/mpsc_queue.hpp,
// shoal/detail/bounded_queue.hpp, core/run_queue.hpp). Compare with DESIGN.md's
// floors: one locked atomic ≈ 5.3 ns; MPSC push+pop+dispatch ≈ 7 ns batched.
#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/run_queue.hpp"
#include "shoal/detail/bounded_queue.hpp"
#include "shoal/detail/mpsc_queue.hpp"

namespace {

using shoal::Envelope;

struct Msg {
  std::uint64_t n;
};

// Push then pop one message at a time on one thread (queue stays near empty).
void BM_MpscQueue_PushPopOne(benchmark::State& state) {
  shoal::detail::MpscQueue q;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    q.push(shoal::make_envelope(Msg{1}));
    Envelope* e = q.try_pop();
    sum += e->get<Msg>()->n;
    e->destroy_payload();
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MpscQueue_PushPopOne);

// Push a batch, then drain it: the shape of a mailbox run.
void BM_MpscQueue_PushPopBatch(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  shoal::detail::MpscQueue q;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < batch; ++i) q.push(shoal::make_envelope(Msg{i}));
    while (Envelope* e = q.try_pop()) {
      sum += e->get<Msg>()->n;
      e->destroy_payload();
    }
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}
BENCHMARK(BM_MpscQueue_PushPopBatch)->ArgNames({"batch"})->Arg(64)->Arg(1024);

// One producer thread, one consumer thread spinning: cross-core hand-off.
void BM_MpscQueue_CrossThread(benchmark::State& state) {
  constexpr std::uint64_t per_iteration = 1 << 16;
  for (auto _ : state) {
    shoal::detail::MpscQueue q;
    std::thread producer([&] {
      for (std::uint64_t i = 0; i < per_iteration; ++i) q.push(shoal::make_envelope(Msg{i}));
    });
    std::uint64_t got = 0;
    while (got < per_iteration) {
      if (Envelope* e = q.try_pop()) {
        e->destroy_payload();
        ++got;
      }
    }
    producer.join();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(per_iteration));
}
BENCHMARK(BM_MpscQueue_CrossThread)->UseRealTime();

// The bounded mailbox's ring: push then pop on one thread.
void BM_BoundedQueue_PushPopOne(benchmark::State& state) {
  shoal::detail::BoundedQueue q(1000);
  Envelope* e = shoal::make_envelope(Msg{1});
  for (auto _ : state) {
    benchmark::DoNotOptimize(q.try_push(e));
    benchmark::DoNotOptimize(q.try_pop());
  }
  shoal::destroy_envelope(e);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BoundedQueue_PushPopOne);

// A worker's run queue: owner push then pop.
void BM_RunQueue_PushPop(benchmark::State& state) {
  shoal::detail::RunQueue<int> q;
  int x = 0;
  for (auto _ : state) {
    q.try_push(&x);
    benchmark::DoNotOptimize(q.try_pop());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RunQueue_PushPop);

}  // namespace
