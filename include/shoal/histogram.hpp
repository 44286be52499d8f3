// Histogram: a log-linear (HDR-style) histogram of unsigned 64-bit values,
// for latencies (TSC ticks, nanoseconds) and sizes.
//
// Layout (sub_bucket_bits = 5, so 32 sub-buckets per power of two):
//
//     v < 32:   bucket = v                                    (exact)
//     v >= 32:  e = msb(v) - 5;  bucket = 32 + 32*e + ((v >> e) - 32)
//               = 32*e + (v >> e), where v >> e is in [32, 64)
//
// So values below 64 have a bucket each, and from 64 on every power of two
// [2^k, 2^(k+1)) is cut into 32 equal sub-buckets of width 2^(k-5). A bucket
// [lo, lo + 2^e) has lo >= 32 * 2^e, so any value in it is within 1/32 of
// the bucket's bounds (relative error <= 1/32, about 3 %). Values up to
// 2^44 - 1 (about 4.9 hours of 1 GHz ticks) get 40 * 32 = 1280 buckets,
// 10 KiB of counters; larger values clamp into the last bucket, which is
// therefore open-ended (highest_of() is UINT64_MAX). min, max and sum are
// kept exactly beside the buckets, so max() is exact whatever the value.
//
// Concurrency: one writer at a time records (an actor, a worker); any thread
// may take a snapshot() at any time. The writer does a relaxed load and a
// relaxed store per counter: no lock, no read-modify-write instruction, so
// record() costs a few plain moves. A snapshot is a copy that may be a
// little inconsistent while the writer runs (see snapshot()); queries and
// merging work on snapshots.
//
// Why our own: Debian ships no C/C++ HDR histogram (HdrHistogram_c is not
// packaged), and what we need is this small: fixed precision, no
// auto-resizing, no coordinated-omission correction.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "shoal/detail/config.hpp"

namespace shoal {

class HistogramSnapshot;

/// The usual percentiles of a snapshot, scaled (e.g. TSC ticks to ns).
struct HistogramSummary {
  std::uint64_t count = 0;
  double min = 0, mean = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};

/// Log-linear histogram of unsigned 64-bit values. One writer at a time;
/// snapshot() from any thread. Does not allocate (10 KiB inline).
class alignas(detail::cache_line_size) Histogram {
 public:
  /// 32 linear sub-buckets per power of two: relative error <= 1/32.
  static constexpr unsigned sub_bucket_bits = 5;
  /// Values >= 2^44 go to the last bucket (max() is still exact).
  static constexpr unsigned max_value_bits = 44;
  static constexpr std::uint64_t sub_buckets = std::uint64_t{1} << sub_bucket_bits;
  /// Buckets in all: 32 exact ones, then 32 per power of two up to 2^44.
  static constexpr std::size_t bucket_count = sub_buckets * (max_value_bits - sub_bucket_bits + 1);

  /// The bucket counting `v`; values < 32 (in fact < 64) map to themselves.
  static constexpr std::size_t bucket_of(std::uint64_t v) noexcept {
    if ((v >> max_value_bits) != 0) return bucket_count - 1;
    // e = msb(v) - sub_bucket_bits for v >= 64; 0 below, where v is its own bucket.
    const auto width = static_cast<unsigned>(std::bit_width(v));
    const unsigned e = width > sub_bucket_bits + 1 ? width - (sub_bucket_bits + 1) : 0;
    return static_cast<std::size_t>(sub_buckets * e + (v >> e));
  }
  /// The lowest value that maps to `bucket` (< bucket_count).
  static constexpr std::uint64_t lowest_of(std::size_t bucket) noexcept {
    if (bucket < sub_buckets) return bucket;
    const auto e = static_cast<unsigned>(bucket / sub_buckets - 1);
    return (sub_buckets + bucket % sub_buckets) << e;
  }
  /// The highest value that maps to `bucket`; UINT64_MAX for the last one.
  static constexpr std::uint64_t highest_of(std::size_t bucket) noexcept {
    if (bucket + 1 >= bucket_count) return UINT64_MAX;
    return lowest_of(bucket + 1) - 1;
  }

  Histogram() noexcept = default;
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  /// Records one value. One writer at a time (successive writers must be
  /// ordered by a happens-before, e.g. an actor's mailbox run); snapshot()
  /// may run concurrently. Does not block, does not allocate.
  void record(std::uint64_t v) noexcept { record_n(v, 1); }
  /// Records `v` `n` times (nothing if n is 0); same contract as record().
  /// The sum wraps modulo 2^64 (2^64 TSC ticks are two centuries).
  void record_n(std::uint64_t v, std::uint64_t n) noexcept;

  /// Copies the counts into a snapshot. Thread-safe, concurrent with the
  /// writer; allocates (the bucket vector). While a writer runs the copy may
  /// be a little inconsistent: min, max and sum may lag or lead the buckets
  /// by the few values in flight (count() is the buckets' sum, and min/max
  /// are clamped into the first/last non-empty bucket, so percentiles stay
  /// within the buckets). Successive snapshots on one thread never see a
  /// count decrease.
  HistogramSnapshot snapshot() const;

  /// Forgets every value. Owner only: no concurrent writer (a concurrent
  /// snapshot() sees a mix of old and zeroed counters). Does not allocate.
  void reset() noexcept;

 private:
  // All written by the one writer only; readers only load. The class is
  // aligned so that no object written by another thread shares its lines.
  std::atomic<std::uint64_t> min_{UINT64_MAX};  // UINT64_MAX while empty
  std::atomic<std::uint64_t> max_{0};
  std::atomic<std::uint64_t> sum_{0};
  std::atomic<std::uint64_t> counts_[bucket_count] = {};
};

/// Plain copy of a histogram, for queries and merging. Not thread-safe (a
/// value type); the queries do not allocate.
class HistogramSnapshot {
 public:
  /// An empty snapshot (all buckets zero), to merge others into. Allocates.
  HistogramSnapshot();

  /// Values recorded (the sum of buckets()).
  std::uint64_t count() const noexcept { return count_; }
  /// The smallest value recorded, exactly; 0 if empty.
  std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  /// The largest value recorded, exactly; 0 if empty.
  std::uint64_t max() const noexcept { return max_; }
  /// The sum of the values recorded (modulo 2^64).
  std::uint64_t sum() const noexcept { return sum_; }
  /// sum() / count(); 0 if empty.
  double mean() const noexcept;

  /// The value at percentile `p` in [0, 100] (clamped): the highest value
  /// equivalent to the bucket holding the ceil(p/100 * count)-th smallest
  /// value (at least the 1st), clamped to [min(), max()]; the 1st is min()
  /// and the count-th max(), exactly. 0 if empty. O(bucket_count).
  std::uint64_t value_at_percentile(double p) const noexcept;

  /// Adds `other`'s values: counts and sums add, min and max combine. As if
  /// both histograms' values had been recorded into one. Does not allocate.
  void merge(const HistogramSnapshot& other) noexcept;

  /// count, min, mean, p50, p90, p99, p99.9 and max, each value multiplied
  /// by `scale` (e.g. ns per TSC tick). Does not allocate.
  HistogramSummary summary(double scale = 1.0) const noexcept;

  /// A snapshot of counts kept without min, max and sum (a writer that
  /// only counts): min and max are the first and last non-empty buckets'
  /// bounds (exact below 64, where each value has its own bucket); `sum`
  /// as given. `buckets` must have Histogram::bucket_count entries.
  static HistogramSnapshot from_buckets(std::vector<std::uint64_t> buckets, std::uint64_t sum);

  /// Per-bucket counts, Histogram::bucket_count of them (for rendering);
  /// bucket i holds [Histogram::lowest_of(i), Histogram::highest_of(i)].
  const std::vector<std::uint64_t>& buckets() const noexcept { return buckets_; }

 private:
  friend class Histogram;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;  // UINT64_MAX while empty
  std::uint64_t max_ = 0;
  std::uint64_t sum_ = 0;
  std::vector<std::uint64_t> buckets_;
};

// -- fast path --------------------------------------------------------------

inline void Histogram::record_n(std::uint64_t v, std::uint64_t n) noexcept {
  // relaxed everywhere: each counter has one writer at a time (successive
  // writers are ordered by the caller's happens-before), so a plain load and
  // store cannot lose an update, and a relaxed atomic store never tears.
  // Readers (snapshot) only want eventually consistent statistics: no other
  // data is published through these counters, so there is no partner
  // acquire and nothing to order.
  if (n == 0) return;
  auto& c = counts_[bucket_of(v)];
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  sum_.store(sum_.load(std::memory_order_relaxed) + v * n, std::memory_order_relaxed);
  // relaxed: as above; only this writer stores min_ and max_.
  if (v < min_.load(std::memory_order_relaxed)) min_.store(v, std::memory_order_relaxed);
  if (v > max_.load(std::memory_order_relaxed)) max_.store(v, std::memory_order_relaxed);
}

}  // namespace shoal
