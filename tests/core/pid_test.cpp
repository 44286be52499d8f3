// Pid: an intrusively counted address. The process lives exactly as long as
// the last Pid to it; copies are cheap and thread-safe; identity is the id.
#include "shoal/pid.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>
#include <unordered_set>
#include <vector>

#include "tests/core/test_support.hpp"

namespace shoal {
namespace {

/// A process that records its destruction.
class ProbeProcess final : public Process {
 public:
  ProbeProcess(std::uint64_t id, std::atomic<int>* destroyed)
      : Process(id, Kind::local_actor), destroyed_(destroyed) {}

 private:
  ~ProbeProcess() override { destroyed_->fetch_add(1); }
  std::atomic<int>* destroyed_;
};

TEST(Pid, DefaultPidIsEmptyWithIdZero) {
  Pid p;
  EXPECT_TRUE(p.empty());
  EXPECT_FALSE(p);
  EXPECT_EQ(p.id(), 0u);
  EXPECT_EQ(p.process(), nullptr);
  EXPECT_TRUE(Pid(nullptr).empty());
}

TEST(Pid, TheLastReferenceDestroysTheProcess) {
  std::atomic<int> destroyed{0};
  auto* proc = new ProbeProcess(7, &destroyed);
  {
    Pid a(proc);
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a.id(), 7u);
    EXPECT_EQ(a.process(), proc);
    {
      Pid b = a;
      Pid c;
      c = b;
      EXPECT_EQ(c.process(), proc);
    }
    EXPECT_EQ(destroyed.load(), 0) << "copies released, but `a` still refers to it";
  }
  EXPECT_EQ(destroyed.load(), 1);
}

TEST(Pid, MovingTransfersTheReference) {
  std::atomic<int> destroyed{0};
  Pid a(new ProbeProcess(1, &destroyed));
  Pid b = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(b.id(), 1u);
  Pid c;
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(destroyed.load(), 0);
  c.reset();
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(destroyed.load(), 1);
}

TEST(Pid, SwapExchangesTargets) {
  std::atomic<int> destroyed{0};
  Pid a(new ProbeProcess(1, &destroyed));
  Pid b(new ProbeProcess(2, &destroyed));
  a.swap(b);
  EXPECT_EQ(a.id(), 2u);
  EXPECT_EQ(b.id(), 1u);
  a = b;  // drops process 2
  EXPECT_EQ(destroyed.load(), 1);
}

TEST(Pid, EqualityAndHashFollowTheId) {
  std::atomic<int> destroyed{0};
  Pid a(new ProbeProcess(11, &destroyed));
  Pid a2 = a;
  Pid b(new ProbeProcess(12, &destroyed));
  EXPECT_EQ(a, a2);
  EXPECT_FALSE(a == b);
  EXPECT_EQ(Pid(), Pid());
  std::unordered_set<Pid> set{a, a2, b};
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(std::hash<Pid>{}(a), std::hash<Pid>{}(a2));
}

TEST(Pid, ConcurrentCopiesKeepTheProcessAliveUntilTheLastRelease) {
  std::atomic<int> destroyed{0};
  Pid original(new ProbeProcess(3, &destroyed));
  const int threads = 4;
  const int copies = static_cast<int>(test::scaled(200'000, 20'000));
  std::latch start(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      start.arrive_and_wait();
      std::vector<Pid> held;
      for (int i = 0; i < copies; ++i) {
        held.push_back(original);
        if (held.size() == 16) held.clear();
      }
    });
  }
  for (auto& t : pool) t.join();
  EXPECT_EQ(destroyed.load(), 0);
  original.reset();
  EXPECT_EQ(destroyed.load(), 1);
}

TEST(Pid, ConcurrentLastReleasesDestroyExactlyOnce) {
  // Many threads drop the last few references at once: exactly one of them
  // must see the count reach zero (TSan checks the hand-off to `delete`).
  const int rounds = static_cast<int>(test::scaled(2'000, 200));
  std::atomic<int> destroyed{0};
  for (int r = 0; r < rounds; ++r) {
    std::vector<Pid> refs(4, Pid(new ProbeProcess(4, &destroyed)));
    std::latch start(4);
    std::vector<std::thread> pool;
    for (int t = 0; t < 4; ++t) {
      pool.emplace_back([&, t] {
        Pid mine = std::move(refs[static_cast<std::size_t>(t)]);
        start.arrive_and_wait();
        mine.reset();
      });
    }
    for (auto& t : pool) t.join();
    ASSERT_EQ(destroyed.load(), r + 1) << "round " << r;
  }
}

}  // namespace
}  // namespace shoal
