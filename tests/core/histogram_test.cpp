// Histogram: the bucket layout (exact below 32, every boundary round-trips,
// relative error <= 1/32), percentiles on known inputs, clamping of huge
// values with an exact max, merging and scaling of snapshots, and one writer
// recording while another thread takes snapshots (run under TSan in CI).
#include "shoal/histogram.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <cstdint>
#include <latch>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

namespace shoal {
namespace {

using H = Histogram;

// The layout is usable at compile time.
static_assert(H::bucket_count == 1280);
static_assert(H::bucket_of(31) == 31);
static_assert(H::bucket_of(UINT64_MAX) == H::bucket_count - 1);
static_assert(H::lowest_of(H::bucket_of(1000)) <= 1000 &&
              1000 <= H::highest_of(H::bucket_of(1000)));

/// The layout as the design states it, written independently.
std::size_t reference_bucket(std::uint64_t v) {
  if (v < 32) return v;
  if (v >= (std::uint64_t{1} << H::max_value_bits)) return H::bucket_count - 1;
  const unsigned e = static_cast<unsigned>(std::bit_width(v) - 1) - 5;
  return 32 + 32 * e + ((v >> e) - 32);
}

void expect_equal(const HistogramSnapshot& a, const HistogramSnapshot& b) {
  EXPECT_EQ(a.count(), b.count());
  EXPECT_EQ(a.min(), b.min());
  EXPECT_EQ(a.max(), b.max());
  EXPECT_EQ(a.sum(), b.sum());
  EXPECT_EQ(a.buckets(), b.buckets());
  for (double p : {0.0, 1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 100.0})
    EXPECT_EQ(a.value_at_percentile(p), b.value_at_percentile(p)) << "p" << p;
}

TEST(Histogram, ValuesBelow32HaveABucketEach) {
  for (std::uint64_t v = 0; v < 32; ++v) {
    EXPECT_EQ(H::bucket_of(v), v);
    EXPECT_EQ(H::lowest_of(v), v);
    EXPECT_EQ(H::highest_of(v), v);
  }
}

TEST(Histogram, EveryBucketBoundaryRoundTrips) {
  EXPECT_EQ(H::lowest_of(0), 0u);
  EXPECT_EQ(H::highest_of(H::bucket_count - 1), UINT64_MAX) << "the last bucket is open-ended";
  for (std::size_t b = 0; b < H::bucket_count; ++b) {
    const std::uint64_t lo = H::lowest_of(b);
    const std::uint64_t hi = H::highest_of(b);
    ASSERT_LE(lo, hi) << "bucket " << b;
    EXPECT_EQ(H::bucket_of(lo), b) << "bucket " << b;
    EXPECT_EQ(H::bucket_of(hi), b) << "bucket " << b;
    EXPECT_EQ(reference_bucket(lo), b) << "bucket " << b;
    EXPECT_EQ(reference_bucket(hi), b) << "bucket " << b;
    if (b > 0) {
      EXPECT_EQ(lo, H::highest_of(b - 1) + 1) << "buckets " << b - 1 << " and " << b << " touch";
      EXPECT_EQ(H::bucket_of(lo - 1), b - 1) << "bucket " << b;
    }
  }
}

TEST(Histogram, BucketOfMatchesTheDesignOnRandomValues) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 100'000; ++i) {
    // Spread over every magnitude, not just the top bits.
    const std::uint64_t v = rng() >> (rng() % 64);
    ASSERT_EQ(H::bucket_of(v), reference_bucket(v)) << v;
  }
}

TEST(Histogram, EveryBucketIsWithinOneThirtySecond) {
  // (hi - lo) / lo <= 1/32: any value in the bucket is within 1/32 of the
  // value percentiles report for it. The last bucket by its nominal top.
  for (std::size_t b = 1; b < H::bucket_count; ++b) {
    const std::uint64_t lo = H::lowest_of(b);
    const std::uint64_t hi =
        b + 1 < H::bucket_count ? H::highest_of(b) : (std::uint64_t{1} << H::max_value_bits) - 1;
    EXPECT_LE((hi - lo) * 32, lo) << "bucket " << b << " [" << lo << ", " << hi << "]";
  }
}

TEST(Histogram, PercentilesOfOneToAThousand) {
  H h;
  for (std::uint64_t v = 1; v <= 1000; ++v) h.record(v);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.count(), 1000u);
  EXPECT_EQ(s.min(), 1u);
  EXPECT_EQ(s.max(), 1000u);
  EXPECT_EQ(s.sum(), 500'500u);
  EXPECT_DOUBLE_EQ(s.mean(), 500.5);

  for (auto [p, want] : {std::pair{50.0, 500.0}, {90.0, 900.0}, {99.0, 990.0}}) {
    const auto got = static_cast<double>(s.value_at_percentile(p));
    EXPECT_GE(got, want) << "p" << p << ": the bucket's highest value, never below";
    EXPECT_NEAR(got, want, want / 32) << "p" << p;
  }
  EXPECT_EQ(s.value_at_percentile(100), 1000u);
  EXPECT_EQ(s.value_at_percentile(0), 1u);
  EXPECT_EQ(s.value_at_percentile(-5), 1u) << "p is clamped to [0, 100]";
  EXPECT_EQ(s.value_at_percentile(250), 1000u) << "p is clamped to [0, 100]";
}

TEST(Histogram, PercentilesAreClampedToMinAndMax) {
  H h;
  for (int i = 0; i < 10; ++i) h.record(1000);  // bucket [992, 1007]
  h.record(2000);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.value_at_percentile(0), 1000u) << "the 1st value is min(), exactly";
  EXPECT_EQ(s.value_at_percentile(50), H::highest_of(H::bucket_of(1000)));
  EXPECT_EQ(s.value_at_percentile(100), 2000u) << "the last value is max(), exactly";

  H one;
  for (int i = 0; i < 10; ++i) one.record(1000);
  EXPECT_EQ(one.snapshot().value_at_percentile(50), 1000u) << "not above max()";
}

TEST(Histogram, ASingleValueIsEveryPercentile) {
  H h;
  h.record(123'456);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.count(), 1u);
  EXPECT_EQ(s.min(), 123'456u);
  EXPECT_EQ(s.max(), 123'456u);
  EXPECT_DOUBLE_EQ(s.mean(), 123'456.0);
  for (double p : {0.0, 0.1, 50.0, 99.9, 100.0}) EXPECT_EQ(s.value_at_percentile(p), 123'456u);
}

TEST(Histogram, AnEmptyHistogramGivesZeros) {
  H h;
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.count(), 0u);
  EXPECT_EQ(s.min(), 0u);
  EXPECT_EQ(s.max(), 0u);
  EXPECT_EQ(s.sum(), 0u);
  EXPECT_EQ(s.mean(), 0.0);
  EXPECT_EQ(s.value_at_percentile(50), 0u);
  EXPECT_EQ(s.value_at_percentile(100), 0u);
  EXPECT_EQ(s.buckets().size(), H::bucket_count);
  const HistogramSummary sum = s.summary(3.0);
  EXPECT_EQ(sum.count, 0u);
  for (double d : {sum.min, sum.mean, sum.p50, sum.p90, sum.p99, sum.p999, sum.max})
    EXPECT_EQ(d, 0.0);
  EXPECT_EQ(HistogramSnapshot().count(), 0u);
}

TEST(Histogram, HugeValuesClampIntoTheLastBucketButMaxIsExact) {
  const std::uint64_t top = std::uint64_t{1} << H::max_value_bits;
  EXPECT_EQ(H::bucket_of(top - 1), H::bucket_count - 1);
  EXPECT_EQ(H::bucket_of(top), H::bucket_count - 1);
  EXPECT_EQ(H::bucket_of(UINT64_MAX), H::bucket_count - 1);

  H h;
  h.record(std::uint64_t{1} << 50);
  h.record(UINT64_MAX);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.count(), 2u);
  EXPECT_EQ(s.buckets().back(), 2u);
  EXPECT_EQ(s.max(), UINT64_MAX);
  EXPECT_EQ(s.min(), std::uint64_t{1} << 50);
  EXPECT_EQ(s.value_at_percentile(100), UINT64_MAX);
  EXPECT_EQ(s.value_at_percentile(50), std::uint64_t{1} << 50);
}

TEST(Histogram, RecordNCountsNTimes) {
  H h;
  h.record_n(7, 5);
  h.record_n(3, 0);  // nothing: not even min()
  h.record_n(1000, 3);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.count(), 8u);
  EXPECT_EQ(s.sum(), 5u * 7 + 3u * 1000);
  EXPECT_EQ(s.min(), 7u);
  EXPECT_EQ(s.max(), 1000u);
  EXPECT_EQ(s.buckets()[H::bucket_of(7)], 5u);
  EXPECT_EQ(s.buckets()[H::bucket_of(1000)], 3u);
  EXPECT_EQ(s.buckets()[3], 0u);
  EXPECT_EQ(s.value_at_percentile(62.5), 7u);  // the 5th of 8
  EXPECT_EQ(s.value_at_percentile(63), 1000u) << "the bucket's top (1007), clamped to max()";

  H one_by_one;
  for (int i = 0; i < 5; ++i) one_by_one.record(7);
  for (int i = 0; i < 3; ++i) one_by_one.record(1000);
  expect_equal(s, one_by_one.snapshot());
}

TEST(Histogram, MergingSnapshotsEqualsRecordingBoth) {
  std::mt19937_64 rng(7);
  H a, b, both;
  for (int i = 0; i < 10'000; ++i) {
    const std::uint64_t v = rng() >> (rng() % 64);
    (i % 3 == 0 ? a : b).record(v);
    both.record(v);
  }
  HistogramSnapshot merged = a.snapshot();
  merged.merge(b.snapshot());
  expect_equal(merged, both.snapshot());

  HistogramSnapshot from_empty;
  from_empty.merge(a.snapshot());
  from_empty.merge(HistogramSnapshot());
  from_empty.merge(b.snapshot());
  expect_equal(from_empty, both.snapshot());
}

TEST(Histogram, SummaryScalesEveryValue) {
  H h;
  for (std::uint64_t v = 1; v <= 1000; ++v) h.record(v * 3);
  const HistogramSnapshot s = h.snapshot();
  const HistogramSummary one = s.summary();
  const HistogramSummary half = s.summary(0.5);
  EXPECT_EQ(one.count, 1000u);
  EXPECT_EQ(half.count, 1000u) << "the count is not scaled";
  EXPECT_EQ(one.min, 3.0);
  EXPECT_EQ(one.max, 3000.0);
  EXPECT_DOUBLE_EQ(one.mean, 1501.5);
  EXPECT_EQ(one.p50, static_cast<double>(s.value_at_percentile(50)));
  EXPECT_EQ(one.p90, static_cast<double>(s.value_at_percentile(90)));
  EXPECT_EQ(one.p99, static_cast<double>(s.value_at_percentile(99)));
  EXPECT_EQ(one.p999, static_cast<double>(s.value_at_percentile(99.9)));
  EXPECT_DOUBLE_EQ(half.min, one.min * 0.5);
  EXPECT_DOUBLE_EQ(half.mean, one.mean * 0.5);
  EXPECT_DOUBLE_EQ(half.p50, one.p50 * 0.5);
  EXPECT_DOUBLE_EQ(half.p90, one.p90 * 0.5);
  EXPECT_DOUBLE_EQ(half.p99, one.p99 * 0.5);
  EXPECT_DOUBLE_EQ(half.p999, one.p999 * 0.5);
  EXPECT_DOUBLE_EQ(half.max, one.max * 0.5);
}

TEST(Histogram, ResetForgetsEverything) {
  H h;
  h.record(5);
  h.record(5'000'000);
  h.reset();
  EXPECT_EQ(h.snapshot().count(), 0u);
  EXPECT_EQ(h.snapshot().max(), 0u);
  h.record(40);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.count(), 1u);
  EXPECT_EQ(s.min(), 40u) << "min starts over";
  EXPECT_EQ(s.max(), 40u) << "max starts over";
  EXPECT_EQ(s.sum(), 40u);
}

TEST(Histogram, SnapshotsWhileOneWriterRecords) {
  // One writer, one reader that snapshots until the writer is done. Each
  // snapshot must be self-consistent and no count may go backwards; the
  // final one is exact. TSan checks that every shared access is atomic.
  constexpr std::uint64_t n = 1'000'000;
  constexpr std::uint64_t spread = 100'000;  // values 1..spread, many buckets
  H h;
  std::latch start(2);
  std::atomic<bool> done{false};
  std::uint64_t snapshots = 0, decreases = 0, inconsistent = 0;

  std::thread writer([&] {
    start.arrive_and_wait();
    for (std::uint64_t i = 0; i < n; ++i) h.record(1 + i % spread);
    // release: pairs with the reader's acquire load; orders nothing the
    // test reads (the final check runs after join), only ends its loop.
    done.store(true, std::memory_order_release);
  });
  std::thread reader([&] {
    std::uint64_t last = 0;
    start.arrive_and_wait();
    do {
      const HistogramSnapshot s = h.snapshot();
      ++snapshots;
      if (s.count() < last) ++decreases;
      last = s.count();
      const std::uint64_t total =
          std::accumulate(s.buckets().begin(), s.buckets().end(), std::uint64_t{0});
      if (total != s.count()) ++inconsistent;
      if (s.count() != 0) {
        const std::uint64_t p50 = s.value_at_percentile(50);
        if (s.min() < 1 || s.max() > spread || s.min() > s.max() || p50 < s.min() ||
            p50 > s.max()) {
          ++inconsistent;
        }
      }
      // acquire: pairs with the writer's release store of done.
    } while (!done.load(std::memory_order_acquire));
  });
  writer.join();
  reader.join();

  EXPECT_GE(snapshots, 1u);
  EXPECT_EQ(decreases, 0u);
  EXPECT_EQ(inconsistent, 0u);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.count(), n);
  EXPECT_EQ(s.min(), 1u);
  EXPECT_EQ(s.max(), spread);
  EXPECT_EQ(s.sum(), (n / spread) * (spread * (spread + 1) / 2));
}

}  // namespace
}  // namespace shoal

namespace shoal {
namespace {

TEST(HistogramSnapshotFromBuckets, CountsAndExactBoundsBelow64) {
  std::vector<std::uint64_t> b(Histogram::bucket_count, 0);
  b[Histogram::bucket_of(1)] = 10;
  b[Histogram::bucket_of(7)] = 3;
  b[Histogram::bucket_of(40)] = 1;
  const HistogramSnapshot s = HistogramSnapshot::from_buckets(b, 10 * 1 + 3 * 7 + 40);
  EXPECT_EQ(s.count(), 14u);
  EXPECT_EQ(s.min(), 1u);
  EXPECT_EQ(s.max(), 40u);
  EXPECT_EQ(s.sum(), 71u);
  EXPECT_EQ(s.value_at_percentile(50), 1u);
  EXPECT_EQ(s.value_at_percentile(100), 40u);
  const HistogramSnapshot empty =
      HistogramSnapshot::from_buckets(std::vector<std::uint64_t>(Histogram::bucket_count, 0), 0);
  EXPECT_EQ(empty.count(), 0u);
  EXPECT_EQ(empty.max(), 0u);
}

}  // namespace
}  // namespace shoal
