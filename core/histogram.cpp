#include "shoal/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace shoal {

// -- Histogram --------------------------------------------------------------

HistogramSnapshot Histogram::snapshot() const {
  HistogramSnapshot s;
  std::size_t first = bucket_count;
  std::size_t last = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    // relaxed: no data is published through the counters (see record_n);
    // read-read coherence alone keeps each counter, and so count(), from
    // going backwards across successive snapshots on this thread.
    const std::uint64_t c = counts_[i].load(std::memory_order_relaxed);
    s.buckets_[i] = c;
    s.count_ += c;
    if (c != 0) {
      first = std::min(first, i);
      last = i;
    }
  }
  if (s.count_ == 0) return s;  // values in flight may show in min_/max_: ignore them
  // relaxed: as above. These are read after the buckets, so they may lead
  // them (the writer went on recording) or, on weakly ordered hardware, lag
  // them. Clamping into the first and last non-empty buckets changes nothing
  // when they agree (the exact min and max lie there) and keeps the snapshot
  // self-consistent when they do not.
  s.sum_ = sum_.load(std::memory_order_relaxed);
  s.min_ = std::clamp(min_.load(std::memory_order_relaxed), lowest_of(first), highest_of(first));
  s.max_ = std::clamp(max_.load(std::memory_order_relaxed), std::max(lowest_of(last), s.min_),
                      highest_of(last));
  return s;
}

void Histogram::reset() noexcept {
  // relaxed: owner only, no concurrent writer; a snapshot racing with reset
  // gets a mix of old and zeroed counters, as documented.
  for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
  min_.store(UINT64_MAX, std::memory_order_relaxed);
  max_.store(0, std::memory_order_relaxed);
  sum_.store(0, std::memory_order_relaxed);
}

// -- HistogramSnapshot ------------------------------------------------------

HistogramSnapshot::HistogramSnapshot() : buckets_(Histogram::bucket_count, 0) {}

HistogramSnapshot HistogramSnapshot::from_buckets(std::vector<std::uint64_t> buckets,
                                                  std::uint64_t sum) {
  HistogramSnapshot s;
  s.buckets_ = std::move(buckets);
  s.buckets_.resize(Histogram::bucket_count, 0);
  for (std::size_t i = 0; i < Histogram::bucket_count; ++i) {
    if (s.buckets_[i] == 0) continue;
    if (s.count_ == 0) s.min_ = Histogram::lowest_of(i);
    s.max_ = Histogram::highest_of(i) == UINT64_MAX ? Histogram::lowest_of(i)
                                                    : Histogram::highest_of(i);
    s.count_ += s.buckets_[i];
  }
  s.sum_ = sum;
  return s;
}

double HistogramSnapshot::mean() const noexcept {
  if (count_ == 0) return 0;
  return static_cast<double>(sum_) / static_cast<double>(count_);
}

std::uint64_t HistogramSnapshot::value_at_percentile(double p) const noexcept {
  if (count_ == 0) return 0;
  if (!(p > 0)) p = 0;  // also NaN
  if (p > 100) p = 100;
  // p * count / 100 rather than p / 100 * count: exact for the usual
  // integral percentiles of modest counts (99 * 1000 / 100 is 990, not 990.0…01).
  const double want = std::ceil(p * static_cast<double>(count_) / 100.0);
  std::uint64_t rank = count_;
  if (want < static_cast<double>(count_))
    rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(want));
  // The extremes are known exactly.
  if (rank == 1) return min_;
  if (rank == count_) return max_;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::clamp(Histogram::highest_of(i), min_, max_);
  }
  return max_;  // not reached: count_ is the buckets' sum
}

void HistogramSnapshot::merge(const HistogramSnapshot& other) noexcept {
  for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  // An empty side has min_ = UINT64_MAX and max_ = 0, which combine as no-ops.
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

HistogramSummary HistogramSnapshot::summary(double scale) const noexcept {
  HistogramSummary s;
  s.count = count_;
  if (count_ == 0) return s;
  auto at = [&](double p) { return static_cast<double>(value_at_percentile(p)) * scale; };
  s.min = static_cast<double>(min_) * scale;
  s.mean = mean() * scale;
  s.p50 = at(50);
  s.p90 = at(90);
  s.p99 = at(99);
  s.p999 = at(99.9);
  s.max = static_cast<double>(max_) * scale;
  return s;
}

}  // namespace shoal
