// Ensemble statistics: Welford per member in member order, Chan to merge.
#include "attnmc/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "attnmc/error.hpp"

namespace attnmc {

void Moments::add(double x) {
  ++count;
  const double delta = x - mean;
  mean += delta / double(count);
  m2 += delta * (x - mean);
}

void Moments::merge(const Moments& o) {
  if (o.count == 0) return;
  if (count == 0) {
    *this = o;
    return;
  }
  const double n = double(count + o.count);
  const double delta = o.mean - mean;
  mean += delta * double(o.count) / n;
  m2 += o.m2 + delta * delta * double(count) * double(o.count) / n;
  count += o.count;
}

double Moments::variance() const {
  return count < 2 ? std::numeric_limits<double>::quiet_NaN() : m2 / double(count - 1);
}

double Moments::stddev() const { return std::sqrt(variance()); }

double correlation(const float* g, int m, int a, int b) {
  const double r = double(g[a * m + b]) / std::sqrt(double(g[a * m + a]) * double(g[b * m + b]));
  return std::clamp(r, -1.0, 1.0);
}

EnsembleStatistics::EnsembleStatistics(int tokens, std::vector<int> layers, int bins,
                                       double overflow_threshold)
    : m_(tokens), bins_(bins), overflow_threshold_(overflow_threshold), layers_(std::move(layers)) {
  stats_.resize(layers_.size());
  for (std::size_t r = 0; r < layers_.size(); ++r) {
    stats_[r].layer = layers_[r];
    stats_[r].gram.resize(std::size_t(m_) * m_);
    stats_[r].rho.resize(std::size_t(m_) * m_);
    stats_[r].rho_histogram.assign(std::size_t(pairs()) * bins_, 0);
  }
}

std::int64_t EnsembleStatistics::members() const {
  return stats_.empty() ? 0 : stats_.front().members;
}

void EnsembleStatistics::add_member(const float* grams) { add_member(grams, nullptr); }

void EnsembleStatistics::add_member(const float* grams, const unsigned char* blown_up) {
  const std::size_t mm = std::size_t(m_) * m_;
  for (std::size_t r = 0; r < stats_.size(); ++r) {
    LayerStatistics& s = stats_[r];
    const float* g = grams + r * mm;
    ++s.members;
    if (blown_up != nullptr && blown_up[r] != 0) {
      ++s.blowup;  // kept as an all-+inf sample: quantiles above the finite mass are +inf
      s.samples.insert(s.samples.end(), mm, std::numeric_limits<float>::infinity());
      continue;
    }
    bool finite = true, overflow = false;
    for (std::size_t e = 0; e < mm; ++e) {
      if (!std::isfinite(g[e]))
        finite = false;
      else if (std::abs(double(g[e])) > overflow_threshold_)
        overflow = true;
    }
    // A degenerate token (V_aa = 0) makes rho undefined: count it as non-finite.
    for (int a = 0; a < m_ && finite; ++a)
      if (!(g[a * m_ + a] > 0)) finite = false;
    if (!finite) {
      ++s.nonfinite;
      continue;
    }
    s.samples.insert(s.samples.end(), g, g + mm);
    if (overflow) {
      ++s.overflow;
      continue;
    }
    for (int a = 0; a < m_; ++a)
      for (int b = 0; b < m_; ++b) {
        s.gram[a * m_ + b].add(g[a * m_ + b]);
        const double rho = a == b ? 1.0 : correlation(g, m_, a, b);
        s.rho[a * m_ + b].add(rho);
        if (a < b) {
          int bin = int((rho + 1.0) * 0.5 * bins_);
          bin = std::clamp(bin, 0, bins_ - 1);
          ++s.rho_histogram[std::size_t(pair_index(m_, a, b)) * bins_ + bin];
        }
      }
  }
}

void EnsembleStatistics::merge(const EnsembleStatistics& later) {
  if (later.m_ != m_ || later.layers_ != layers_ || later.bins_ != bins_)
    throw Error("EnsembleStatistics::merge: incompatible statistics");
  for (std::size_t r = 0; r < stats_.size(); ++r) {
    LayerStatistics& s = stats_[r];
    const LayerStatistics& o = later.stats_[r];
    s.members += o.members;
    s.nonfinite += o.nonfinite;
    s.overflow += o.overflow;
    s.blowup += o.blowup;
    for (std::size_t e = 0; e < s.gram.size(); ++e) {
      s.gram[e].merge(o.gram[e]);
      s.rho[e].merge(o.rho[e]);
    }
    for (std::size_t k = 0; k < s.rho_histogram.size(); ++k)
      s.rho_histogram[k] += o.rho_histogram[k];
    s.samples.insert(s.samples.end(), o.samples.begin(), o.samples.end());
  }
}

double EnsembleStatistics::quantile(int r, int a, int b, double q, bool corr) const {
  const LayerStatistics& s = stats_.at(std::size_t(r));
  const std::size_t mm = std::size_t(m_) * m_;
  const std::size_t count = s.samples.size() / mm;
  if (count == 0) return std::numeric_limits<double>::quiet_NaN();
  std::vector<double> v(count);
  for (std::size_t i = 0; i < count; ++i) {
    const float* g = s.samples.data() + i * mm;
    if (std::isinf(g[0]))  // a blown-up SDE path (other samples are finite)
      v[i] = std::numeric_limits<double>::infinity();
    else
      v[i] = corr ? (a == b ? 1.0 : correlation(g, m_, a, b)) : double(g[a * m_ + b]);
  }
  // numpy's default ("linear"): position q (count - 1), interpolate neighbours.
  const double pos = q * double(count - 1);
  const std::size_t lo = std::size_t(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, count - 1);
  std::nth_element(v.begin(), v.begin() + lo, v.end());
  const double vlo = v[lo];
  double vhi = vlo;
  if (hi != lo) vhi = *std::min_element(v.begin() + lo + 1, v.end());
  if (vhi == vlo) return vlo;  // also keeps inf - inf (two blown-up neighbours) out
  return vlo + (pos - double(lo)) * (vhi - vlo);
}

}  // namespace attnmc
