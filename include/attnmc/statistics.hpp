// Ensemble statistics of the token Gram matrix V and correlations rho at
// every recorded layer: count, mean, variance (Welford per member, Chan to
// merge), exact quantiles, rho histograms, and counts of members whose V is
// non-finite or overflows. Members must be added in member order, so a run's
// statistics do not depend on how it was chunked or threaded.
#pragma once

#include <cstdint>
#include <vector>

namespace attnmc {

// Streaming mean/variance of one scalar. Mergeable with Chan's formulas.
struct Moments {
  std::int64_t count = 0;
  double mean = 0.0;
  double m2 = 0.0;  // sum of squared deviations from the mean

  void add(double x);
  void merge(const Moments& other);  // as if other's values came after ours
  double variance() const;           // unbiased; NaN when count < 2
  double stddev() const;
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
  std::vector<float> samples;               // finite members' V, members x m x m (for quantiles)
};

class EnsembleStatistics {
 public:
  EnsembleStatistics() = default;
  EnsembleStatistics(int tokens, std::vector<int> layers, int histogram_bins,
                     double overflow_threshold);

  // One member's Gram matrices at every recorded layer: layers x m x m.
  void add_member(const float* grams);
  // Same, with blown_up[r] != 0 marking record r of an SDE path that blew
  // up (its V is ignored): counted, excluded from moments and histograms,
  // and +inf in every quantile. blown_up may be null.
  void add_member(const float* grams, const unsigned char* blown_up);
  // Appends `later` (a run over the members after ours) to this one.
  void merge(const EnsembleStatistics& later);

  int tokens() const { return m_; }
  int histogram_bins() const { return bins_; }
  int pairs() const { return m_ * (m_ - 1) / 2; }
  const std::vector<int>& layers() const { return layers_; }
  const std::vector<LayerStatistics>& per_layer() const { return stats_; }
  std::int64_t members() const;

  // Quantile q (numpy's default linear interpolation) over finite members at
  // recorded layer index r, of V_ab (correlation=false) or rho_ab (true).
  // NaN when no finite member exists; blown-up SDE paths count as +inf.
  double quantile(int r, int a, int b, double q, bool correlation) const;

 private:
  int m_ = 0;
  int bins_ = 0;
  double overflow_threshold_ = 0.0;
  std::vector<int> layers_;
  std::vector<LayerStatistics> stats_;
};

// Correlation rho_ab = V_ab / sqrt(V_aa V_bb), clipped to [-1, 1].
double correlation(const float* gram, int m, int a, int b);

// Index of pair (a, b), a < b, in row-major upper-triangle order.
inline int pair_index(int m, int a, int b) { return a * m - a * (a + 1) / 2 + (b - a - 1); }

}  // namespace attnmc
