// Integer-count quantile sketches that merge exactly (count addition):
//  - GridSketch: a fixed grid of cells on [-1, 1] (for correlations) plus a
//    +inf bucket (blown-up SDE paths). The representative of a cell is its
//    midpoint: |x - rep| <= 1 / cells.
//  - LogSketch: signed logarithmic buckets, the DDSketch construction
//    (Masson, Rim, Lee, VLDB 2019): bucket j = ceil(log_g |x|) holds
//    (g^(j-1), g^j], g = (1 + a) / (1 - a), representative 2 g^j / (1 + g),
//    so |x - rep| <= a |x| for every x in the bucket. Buckets cover
//    [min_magnitude, max_magnitude] on each side of zero; beside them sit
//    explicit buckets for -inf, negative overflow (x < -max), negative
//    underflow (-min > x < 0), exact zero, positive underflow, positive
//    overflow and +inf. Underflow buckets read as 0 (|error| < min),
//    overflow buckets as +-inf, +-inf as themselves.
// Both also keep the exact least and largest value added; estimates are
// clamped into that range (the true quantile lies in it, so the bound holds).
// Counts live in pages allocated on first use (CountStore), so memory
// follows the range the data actually cover; max_bytes() is the worst case
// the memory cap counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

namespace attnmc {
namespace kernels {
struct LogBuckets;
}

// Integer counts over bucket indices [0, size), in pages of kPage buckets
// allocated on first use. Pages are small because the tails of a sketch are
// sparse: a rare value should cost a few hundred bytes, not kilobytes.
class CountStore {
 public:
  static constexpr std::size_t kPage = 64;
  static constexpr std::size_t kPageSpan = kPage + 1;  // a page's counts and their total
  CountStore() = default;
  explicit CountStore(std::size_t size);
  CountStore(const CountStore& o);
  CountStore& operator=(const CountStore& o);
  CountStore(CountStore&&) noexcept = default;
  CountStore& operator=(CountStore&&) noexcept = default;

  void add(std::size_t index, std::int64_t count = 1) {
    std::int64_t*& page = pages_[index / kPage];
    if (!page) page = new_page();
    page[index % kPage] += count;
    page[kPage] += count;  // the page's total
    total_ += count;
  }
  std::int64_t at(std::size_t index) const;
  std::int64_t total() const { return total_; }
  std::size_t size() const { return size_; }
  void merge(const CountStore& other);  // sizes must match
  // The bucket holding the order statistic of 0-based rank `rank` < total().
  std::size_t bucket_of_rank(std::int64_t rank) const;
  // Non-zero buckets in index order (the canonical serialised form).
  std::vector<std::pair<std::uint64_t, std::int64_t>> nonzero() const;
  std::size_t nonzero_count() const;  // nonzero().size(), without the list
  std::size_t bytes() const;          // allocated now
  // Allocates every page now (memory flat from here on, at max_bytes), as
  // one block: one allocation and one free instead of one per page.
  void allocate_all();
  static std::size_t max_bytes(std::size_t size);
  bool operator==(const CountStore& o) const;

 private:
  std::int64_t* new_page();  // a zeroed page of its own
  std::size_t size_ = 0;
  std::int64_t total_ = 0;
  // kPage counts and, after them, their total (rank searches and nonzero()
  // skip whole pages by it: most reserved pages stay zero). Null page = all
  // zero; each lies in one of blocks_.
  std::vector<std::int64_t*> pages_;
  // The storage: a page of its own, or many together (allocate_all, copies).
  std::vector<std::unique_ptr<std::int64_t[]>> blocks_;
};

class GridSketch {
 public:
  GridSketch() = default;
  explicit GridSketch(int cells);
  void add(double x);  // x in [-1, 1] (clamped) or +inf
  void add_inf() { add(std::numeric_limits<double>::infinity()); }
  // The least and largest value added (exact): estimates are clamped into
  // [min, max], which keeps the bound and makes q = 0, 1 and constant data exact.
  double min() const { return min_; }
  double max() const { return max_; }
  void set_range(double mn, double mx) { min_ = mn, max_ = mx; }  // state I/O
  std::size_t bucket(double x) const;
  double representative(std::size_t bucket) const;
  double quantile(double q) const;  // numpy-linear on representatives; NaN when empty
  int cells() const { return cells_; }
  std::int64_t count() const { return store_.total(); }
  CountStore& store() { return store_; }
  const CountStore& store() const { return store_; }
  void merge(const GridSketch& o);
  static std::size_t max_bytes(int cells) { return CountStore::max_bytes(std::size_t(cells) + 1); }
  bool operator==(const GridSketch& o) const {
    return cells_ == o.cells_ && store_ == o.store_ && min_ == o.min_ && max_ == o.max_;
  }

 private:
  int cells_ = 0;
  CountStore store_;
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = -std::numeric_limits<double>::infinity();
};

class LogSketch {
 public:
  // Default range: 2^-64 .. 2^64 (5.4e-20 .. 1.8e19).
  static constexpr double kMinMagnitude = 5.421010862427522e-20;
  static constexpr double kMaxMagnitude = 1.8446744073709552e19;

  LogSketch() = default;
  explicit LogSketch(double accuracy, double min_magnitude = kMinMagnitude,
                     double max_magnitude = kMaxMagnitude);
  void add(double x);                  // any value but NaN
  double min() const { return min_; }  // as for GridSketch
  double max() const { return max_; }
  void set_range(double mn, double mx) { min_ = mn, max_ = mx; }
  std::size_t bucket(double x) const;
  // The bucket mapping alone (kernels/sketch_buckets.hpp), for device reductions.
  kernels::LogBuckets buckets() const;
  double representative(std::size_t bucket) const;
  double quantile(double q) const;  // numpy-linear on representatives; NaN when empty
  double accuracy() const { return accuracy_; }
  std::int64_t count() const { return store_.total(); }
  CountStore& store() { return store_; }
  const CountStore& store() const { return store_; }
  void merge(const LogSketch& o);
  static std::size_t max_bytes(double accuracy, double min_magnitude = kMinMagnitude,
                               double max_magnitude = kMaxMagnitude);
  bool operator==(const LogSketch& o) const {
    return accuracy_ == o.accuracy_ && lo_ == o.lo_ && hi_ == o.hi_ && store_ == o.store_ &&
           min_ == o.min_ && max_ == o.max_;
  }

 private:
  static std::size_t buckets_for(double accuracy, double min_magnitude, double max_magnitude);
  std::int64_t log_index(double magnitude) const;  // ceil(log_g magnitude)
  double accuracy_ = 0.0;
  double gamma_ = 0.0, log_gamma_ = 0.0;
  std::int64_t lo_ = 0, hi_ = 0;  // bucket indices j covered: [lo_, hi_]
  std::size_t k_ = 0;             // hi_ - lo_ + 1 buckets per sign
  CountStore store_;
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = -std::numeric_limits<double>::infinity();
};

// numpy's default ("linear") quantile of the values of a sorted multiset
// given by rank -> value: position q (n - 1), interpolate the neighbours.
template <typename ValueOfRank>
double linear_quantile(std::int64_t n, double q, ValueOfRank value_of_rank) {
  const double pos = q * double(n - 1);
  const std::int64_t lo = std::int64_t(pos);
  const std::int64_t hi = lo + 1 < n ? lo + 1 : lo;
  const double vlo = value_of_rank(lo);
  if (hi == lo) return vlo;
  const double vhi = value_of_rank(hi);
  if (vhi == vlo) return vlo;  // also keeps inf - inf out
  return vlo + (pos - double(lo)) * (vhi - vlo);
}

}  // namespace attnmc
