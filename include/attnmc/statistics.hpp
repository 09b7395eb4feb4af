// Ensemble statistics of the token Gram matrix V and correlations rho at
// every recorded layer, built to stream and to merge exactly
// (shared/design/architecture.md, property 4):
//  - counts (members, non-finite, overflow, blow-ups) and histograms are
//    integers;
//  - moments are exact sums (ExactSum: fixed-point integers), so mean and
//    variance do not depend on the order, chunking, threading or splitting
//    of the members;
//  - quantiles come from integer-count sketches (attnmc/sketch.hpp): a fine
//    grid on [-1, 1] for rho, signed logarithmic buckets (DDSketch) for V;
//  - exact quantiles from stored samples only on request (exact_quantiles).
// Merging two statistics is integer addition: any order, same bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attnmc/exact_sum.hpp"
#include "attnmc/sketch.hpp"

namespace attnmc {
namespace kernels {
struct GramAggregate;
struct GramStatisticsJob;
}  // namespace kernels

// Mean and variance of one scalar from exact sums of x and x^2.
struct Moments {
  std::int64_t count = 0;
  ExactSum sum;     // sum of x
  ExactSum sum_sq;  // sum of x^2 (exact square, as two doubles)

  void add(double x);
  void merge(const Moments& other);  // exact, commutative, associative
  double mean() const;               // NaN when count == 0
  double variance() const;           // unbiased; NaN when count < 2
  double stddev() const;             // sqrt(variance()); NaN when count < 2
  bool operator==(const Moments& o) const {
    return count == o.count && sum == o.sum && sum_sq == o.sum_sq;
  }
};

// What the statistics keep, beside counts and moments.
struct StatisticsOptions {
  int histogram_bins = 200;          // rho histogram (output) bins over [-1, 1]
  double overflow_threshold = 1e30;  // |V_ab| above: overflow (excluded from moments)
  double quantile_accuracy = 1e-3;   // relative accuracy a of the V sketches
  int rho_quantile_bins = 1 << 15;   // grid cells over [-1, 1] of the rho sketches
  bool exact_quantiles = false;      // also keep every member's V (memory ~ members)
  bool operator==(const StatisticsOptions& o) const;
  bool operator!=(const StatisticsOptions& o) const { return !(*this == o); }
};

struct LayerStatistics {
  int layer = 0;
  std::int64_t members = 0;    // all members seen
  std::int64_t nonfinite = 0;  // members with a NaN/inf entry in V (excluded everywhere)
  std::int64_t overflow = 0;   // finite members with |V_ab| > threshold (excluded from moments)
  std::int64_t blowup = 0;     // SDE paths blown up by this record: +inf in quantiles, no moments
  std::vector<Moments> gram;   // m*m entries of V
  std::vector<Moments> rho;    // m*m entries of rho (diagonal is 1)
  std::vector<std::int64_t> rho_histogram;  // pairs x bins, pairs a<b row-major
  std::vector<LogSketch> gram_sketch;       // entries a <= b (upper_index), finite + blown-up
  std::vector<GridSketch> rho_sketch;       // pairs a < b (pair_index)
  // Only with exact_quantiles: finite and blown-up (all +inf) members' V,
  // members x m x m, in the order they were added (merge appends).
  std::vector<float> samples;

  // Members with a finite V at this record (all but the non-finite and
  // blown-up ones): those that enter the quantiles.
  std::int64_t finite_members() const { return members - nonfinite - blowup; }
  // Members whose V entered the moments and histograms (finite and not
  // overflowing). 0: every mean and variance of this record reads NaN.
  std::int64_t moment_members() const { return finite_members() - overflow; }
};

class EnsembleStatistics {
 public:
  EnsembleStatistics() = default;
  EnsembleStatistics(int tokens, std::vector<int> layers, const StatisticsOptions& options);
  // Compatibility form: default sketches and no stored samples.
  EnsembleStatistics(int tokens, std::vector<int> layers, int histogram_bins,
                     double overflow_threshold);

  // The most these statistics can occupy when fed `members` members, part
  // by part (for the memory cap): a sketch fed B values touches at most B
  // count pages, whatever its worst case over all inputs; samples are kept
  // for every member only with exact_quantiles.
  struct MemoryParts {
    std::size_t moments = 0, v_sketches = 0, rho_sketches = 0, histograms = 0, samples = 0;
    std::size_t total() const { return moments + v_sketches + rho_sketches + histograms + samples; }
  };
  static MemoryParts max_bytes_parts(int tokens, std::size_t records,
                                     const StatisticsOptions& options, std::uint64_t members);
  static std::size_t max_bytes(int tokens, std::size_t records, const StatisticsOptions& options,
                               std::uint64_t members) {
    return max_bytes_parts(tokens, records, options, members).total();
  }

  // The host reference: the engines add each chunk's device aggregate
  // (add_aggregate below); these add members' matrices directly, one
  // independent implementation of the same rules that the reduction is
  // tested against (tests/test_gram_reduction.cpp).
  // One member's Gram matrices at every recorded layer: layers x m x m.
  void add_member(const float* grams);
  // Same, with blown_up[r] != 0 marking record r of an SDE path that blew
  // up (its V is ignored): counted, excluded from moments and histograms,
  // and +inf in every quantile. blown_up may be null.
  void add_member(const float* grams, const unsigned char* blown_up);
  // `count` members at once: grams count x layers x m x m, blown_up null or
  // count x layers. Parallel over records with up to `threads` threads
  // (0 = one); the result is the same for any thread count.
  void add_members(const float* grams, std::uint64_t count, const unsigned char* blown_up,
                   int threads = 0);
  // The device reduction's parameters for these statistics
  // (kernels/gram_statistics.hpp), and a chunk's aggregate added: the same
  // bits as add_members on the chunk's matrices. `grams` (host, count x
  // layers x m x m) is read only for stored samples (exact_quantiles),
  // with the aggregate's per-member status.
  kernels::GramStatisticsJob device_job() const;
  void add_aggregate(const kernels::GramAggregate& aggregate, const float* grams,
                     std::uint64_t count);
  // Allocates now every sketch page that `members` members could touch
  // (all of them once members >= pages), so that memory stays flat, at the
  // worst case max_bytes already counts for them, however the data spread.
  void reserve_for(std::uint64_t members);
  // Adds `other` (statistics of other members): exact and order-independent
  // except for stored samples, which are appended. Throws Error when the
  // shapes or options differ.
  void merge(const EnsembleStatistics& other);

  int tokens() const { return m_; }
  int histogram_bins() const { return options_.histogram_bins; }
  int pairs() const { return m_ * (m_ - 1) / 2; }
  const StatisticsOptions& options() const { return options_; }
  const std::vector<int>& layers() const { return layers_; }
  const std::vector<LayerStatistics>& per_layer() const { return stats_; }
  std::vector<LayerStatistics>& mutable_per_layer() { return stats_; }  // state I/O
  std::int64_t members() const;

  // Quantile q over finite members (and blown-up ones, as +inf) at recorded
  // layer index r, of V_ab (correlation=false) or rho_ab (true). With
  // exact_quantiles: numpy's default linear interpolation of the samples.
  // Otherwise from the sketches, the same interpolation between the
  // representatives of the buckets of the two neighbouring order statistics:
  //   rho: |error| <= 1 / rho_quantile_bins (half a grid cell);
  //   V:   |error| <= quantile_accuracy * max(|x_lo|, |x_hi|) (relative a
  //        when both neighbours have the same sign; see attnmc/sketch.hpp
  //        for zero, under- and overflow buckets).
  // NaN when no member is counted.
  double quantile(int r, int a, int b, double q, bool correlation) const;
  double sketch_quantile(int r, int a, int b, double q, bool correlation) const;

  // The stated absolute (rho) and relative (V) quantile error bounds.
  double rho_quantile_error() const { return 1.0 / double(options_.rho_quantile_bins); }
  double gram_quantile_error() const { return options_.quantile_accuracy; }

  // Bytes held now (sketch pages touched so far, histograms, samples...):
  // at most max_bytes(), growing only as the data reach new sketch buckets.
  std::size_t bytes() const;

  // Same counts, moments, sketches and histograms (and samples).
  bool operator==(const EnsembleStatistics& o) const;

 private:
  void add_record(std::size_t r, const float* g, bool blown);
  int m_ = 0;
  StatisticsOptions options_;
  std::vector<int> layers_;
  std::vector<LayerStatistics> stats_;
};

// The first recorded layer (LayerStatistics::layer) at which the statistics
// hold members but none with a finite V (all non-finite or blown up), so
// that every mean, variance and quantile there reads NaN; -1 when there is
// none (or no members at all).
int first_all_nonfinite_layer(const EnsembleStatistics& stats);

// True when at some recorded layer every member is non-finite or blown up
// (first_all_nonfinite_layer(stats) >= 0): what a command warns about, since
// its tables then print nan rather than numbers.
bool all_members_nonfinite(const EnsembleStatistics& stats);

// Correlation rho_ab = V_ab / sqrt(V_aa V_bb), clipped to [-1, 1].
double correlation(const float* gram, int m, int a, int b);

// Index of pair (a, b), a < b, in row-major upper-triangle order.
inline int pair_index(int m, int a, int b) { return a * m - a * (a + 1) / 2 + (b - a - 1); }
// Index of entry (a, b), a <= b, in row-major upper-triangle order (diagonal included).
inline int upper_index(int m, int a, int b) { return a * m - a * (a - 1) / 2 + (b - a); }

}  // namespace attnmc
