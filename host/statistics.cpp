// Ensemble statistics: integer counts, exact moment sums and integer-count
// sketches, so that adding members in any grouping and merging give the
// same bits (see attnmc/statistics.hpp).
#include "attnmc/statistics.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "attnmc/error.hpp"
#include "kernels/gram_statistics.hpp"

namespace attnmc {

void Moments::add(double x) {
  ++count;
  sum.add(x);
  sum_sq.add_square(x);
}

void Moments::merge(const Moments& o) {
  count += o.count;
  sum.merge(o.sum);
  sum_sq.merge(o.sum_sq);
}

double Moments::mean() const {
  return count == 0 ? std::numeric_limits<double>::quiet_NaN() : sum.value() / double(count);
}

double Moments::variance() const { return ExactSum::variance(count, sum, sum_sq); }

double Moments::stddev() const { return std::sqrt(variance()); }

bool StatisticsOptions::operator==(const StatisticsOptions& o) const {
  return histogram_bins == o.histogram_bins && overflow_threshold == o.overflow_threshold &&
         quantile_accuracy == o.quantile_accuracy && rho_quantile_bins == o.rho_quantile_bins &&
         exact_quantiles == o.exact_quantiles;
}

int first_all_nonfinite_layer(const EnsembleStatistics& stats) {
  for (const LayerStatistics& s : stats.per_layer())
    if (s.members > 0 && s.finite_members() == 0) return s.layer;
  return -1;
}

bool all_members_nonfinite(const EnsembleStatistics& stats) {
  return first_all_nonfinite_layer(stats) >= 0;
}

double correlation(const float* g, int m, int a, int b) {
  return kernels::gram_correlation(g, m, a, b);
}

EnsembleStatistics::EnsembleStatistics(int tokens, std::vector<int> layers,
                                       const StatisticsOptions& options)
    : m_(tokens), options_(options), layers_(std::move(layers)) {
  const std::size_t mm = std::size_t(m_) * m_;
  const std::size_t upper = std::size_t(m_) * (m_ + 1) / 2;
  const LogSketch v_proto(options_.quantile_accuracy);
  const GridSketch rho_proto(options_.rho_quantile_bins);
  stats_.resize(layers_.size());
  for (std::size_t r = 0; r < layers_.size(); ++r) {
    LayerStatistics& s = stats_[r];
    s.layer = layers_[r];
    s.gram.resize(mm);
    s.rho.resize(mm);
    s.rho_histogram.assign(std::size_t(pairs()) * options_.histogram_bins, 0);
    s.gram_sketch.assign(upper, v_proto);
    s.rho_sketch.assign(std::size_t(pairs()), rho_proto);
  }
}

EnsembleStatistics::EnsembleStatistics(int tokens, std::vector<int> layers, int histogram_bins,
                                       double overflow_threshold)
    : EnsembleStatistics(tokens, std::move(layers), [&] {
        StatisticsOptions o;
        o.histogram_bins = histogram_bins;
        o.overflow_threshold = overflow_threshold;
        return o;
      }()) {}

EnsembleStatistics::MemoryParts EnsembleStatistics::max_bytes_parts(int m, std::size_t records,
                                                                    const StatisticsOptions& o,
                                                                    std::uint64_t members) {
  const std::size_t mm = std::size_t(m) * m, pairs = std::size_t(m) * (m - 1) / 2;
  const std::size_t upper = std::size_t(m) * (m + 1) / 2;
  const std::size_t touched =
      std::size_t(std::min<std::uint64_t>(members, std::uint64_t(1) << 40)) *
      CountStore::max_bytes(CountStore::kPage);
  const std::size_t v = std::min(LogSketch::max_bytes(o.quantile_accuracy), touched);
  const std::size_t rho = std::min(GridSketch::max_bytes(o.rho_quantile_bins), touched);
  MemoryParts p;
  p.moments = records * (sizeof(LayerStatistics) + 2 * mm * sizeof(Moments) +
                         upper * sizeof(LogSketch) + pairs * sizeof(GridSketch));
  p.v_sketches = records * upper * v;
  p.rho_sketches = records * pairs * rho;
  p.histograms = records * pairs * std::size_t(o.histogram_bins) * sizeof(std::int64_t);
  if (o.exact_quantiles) p.samples = records * std::size_t(members) * mm * sizeof(float);
  return p;
}

std::size_t EnsembleStatistics::bytes() const {
  std::size_t b = 0;
  for (const LayerStatistics& s : stats_) {
    b += sizeof(LayerStatistics) + (s.gram.size() + s.rho.size()) * sizeof(Moments) +
         s.rho_histogram.size() * sizeof(std::int64_t) + s.samples.size() * sizeof(float);
    for (const LogSketch& k : s.gram_sketch) b += sizeof(LogSketch) + k.store().bytes();
    for (const GridSketch& k : s.rho_sketch) b += sizeof(GridSketch) + k.store().bytes();
  }
  return b;
}

std::int64_t EnsembleStatistics::members() const {
  return stats_.empty() ? 0 : stats_.front().members;
}

void EnsembleStatistics::add_member(const float* grams) { add_member(grams, nullptr); }

void EnsembleStatistics::add_member(const float* grams, const unsigned char* blown_up) {
  const std::size_t mm = std::size_t(m_) * m_;
  for (std::size_t r = 0; r < stats_.size(); ++r)
    add_record(r, grams + r * mm, blown_up != nullptr && blown_up[r] != 0);
}

void EnsembleStatistics::add_members(const float* grams, std::uint64_t count,
                                     const unsigned char* blown_up, int threads) {
  const std::size_t mm = std::size_t(m_) * m_, R = stats_.size();
  const long records = long(R);
  // Records are independent: each is filled by one thread in member order.
#pragma omp parallel for schedule(dynamic, 1) num_threads(std::max(1, threads))
  for (long r = 0; r < records; ++r)
    for (std::uint64_t i = 0; i < count; ++i)
      add_record(std::size_t(r), grams + (i * R + std::size_t(r)) * mm,
                 blown_up != nullptr && blown_up[i * R + std::size_t(r)] != 0);
}

void EnsembleStatistics::add_record(std::size_t r, const float* g, bool blown) {
  const std::size_t mm = std::size_t(m_) * m_;
  const double inf = std::numeric_limits<double>::infinity();
  LayerStatistics& s = stats_[r];
  ++s.members;
  if (blown) {
    ++s.blowup;  // +inf in every quantile, nothing else
    for (LogSketch& k : s.gram_sketch) k.add(inf);
    for (GridSketch& k : s.rho_sketch) k.add_inf();
    if (options_.exact_quantiles)
      s.samples.insert(s.samples.end(), mm, std::numeric_limits<float>::infinity());
    return;
  }
  bool finite = true, overflow = false;
  for (std::size_t e = 0; e < mm; ++e) {
    if (!std::isfinite(g[e]))
      finite = false;
    else if (std::abs(double(g[e])) > options_.overflow_threshold)
      overflow = true;
  }
  // A degenerate token (V_aa = 0) makes rho undefined: count it as non-finite.
  for (int a = 0; a < m_ && finite; ++a)
    if (!(g[a * m_ + a] > 0)) finite = false;
  if (!finite) {
    ++s.nonfinite;
    return;
  }
  // Quantiles include overflowing members (a quantile is still meaningful).
  double rho[64 * 64 / 2];  // pairs, kept for the moments below
  for (int a = 0, u = 0, p = 0; a < m_; ++a)
    for (int b = a; b < m_; ++b, ++u) {
      s.gram_sketch[std::size_t(u)].add(double(g[a * m_ + b]));
      if (b > a) {
        rho[p] = correlation(g, m_, a, b);
        s.rho_sketch[std::size_t(p)].add(rho[p]);
        ++p;
      }
    }
  if (options_.exact_quantiles) s.samples.insert(s.samples.end(), g, g + mm);
  if (overflow) {
    ++s.overflow;
    return;
  }
  const int bins = options_.histogram_bins;
  for (int a = 0; a < m_; ++a)
    for (int b = 0; b < m_; ++b) {
      s.gram[a * m_ + b].add(g[a * m_ + b]);
      // a < b: the value the sketch pass computed (same function, same bits).
      const double c = a == b ? 1.0 : a < b ? rho[pair_index(m_, a, b)] : correlation(g, m_, a, b);
      s.rho[a * m_ + b].add(c);
      if (a < b) {
        const int bin = std::clamp(int((c + 1.0) * 0.5 * bins), 0, bins - 1);
        ++s.rho_histogram[std::size_t(pair_index(m_, a, b)) * bins + bin];
      }
    }
}

kernels::GramStatisticsJob EnsembleStatistics::device_job() const {
  kernels::GramStatisticsJob j;
  j.m = m_;
  j.records = int(layers_.size());
  j.overflow_threshold = options_.overflow_threshold;
  j.histogram_bins = options_.histogram_bins;
  j.rho = kernels::GridBuckets{options_.rho_quantile_bins};
  j.v = LogSketch(options_.quantile_accuracy).buckets();
  j.keep_status = options_.exact_quantiles;
  return j;
}

void EnsembleStatistics::add_aggregate(const kernels::GramAggregate& g, const float* grams,
                                       std::uint64_t count) {
  using kernels::MemberStatus;
  const kernels::GramSlots slots(m_);
  const std::uint64_t per = std::uint64_t(slots.per_record());
  const std::size_t mm = std::size_t(m_) * m_, R = stats_.size();
  const std::size_t bins = std::size_t(options_.histogram_bins);
  if (g.counts.size() != g.keys.size() || g.segments.size() != R * 2 * mm)
    throw Error("EnsembleStatistics::add_aggregate: aggregate of other statistics");
  for (std::size_t k = 0; k < g.keys.size(); ++k) {
    const std::uint64_t record_slot = g.keys[k] >> 32, bucket = g.keys[k] & 0xffffffffu;
    const std::size_t r = std::size_t(record_slot / per);
    const int slot = int(record_slot % per);
    if (r >= R) throw Error("EnsembleStatistics::add_aggregate: key beyond the records");
    LayerStatistics& s = stats_[r];
    const std::int64_t n = g.counts[k];
    auto add_to = [&](CountStore& store) {
      if (bucket >= store.size()) throw Error("EnsembleStatistics::add_aggregate: bad bucket");
      store.add(std::size_t(bucket), n);
    };
    if (slot < slots.upper) {
      add_to(s.gram_sketch[std::size_t(slot)].store());
    } else if (slot < slots.histogram(0)) {
      add_to(s.rho_sketch[std::size_t(slot - slots.upper)].store());
    } else if (slot < slots.status()) {
      if (bucket >= bins) throw Error("EnsembleStatistics::add_aggregate: bad histogram bin");
      s.rho_histogram[std::size_t(slot - slots.histogram(0)) * bins + bucket] += n;
    } else {
      s.members += n;
      switch (MemberStatus(bucket)) {
        case MemberStatus::ok:
          break;
        case MemberStatus::overflow:
          s.overflow += n;
          break;
        case MemberStatus::nonfinite:
          s.nonfinite += n;
          break;
        case MemberStatus::blown:
          s.blowup += n;
          break;
        default:
          throw Error("EnsembleStatistics::add_aggregate: bad member status");
      }
    }
  }
  for (std::size_t r = 0; r < R; ++r) {
    LayerStatistics& s = stats_[r];
    for (int kind = 0; kind < 2; ++kind)
      for (std::size_t e = 0; e < mm; ++e) {
        const kernels::SegmentSums& t = g.segments[(r * 2 + std::size_t(kind)) * mm + e];
        Moments& mo = kind == 0 ? s.gram[e] : s.rho[e];
        ExactSum::Limbs sum, sum_sq;
        std::copy(t.sum, t.sum + ExactSum::kLimbs, sum.begin());
        std::copy(t.sum_sq, t.sum_sq + ExactSum::kLimbs, sum_sq.begin());
        mo.count += t.count;
        mo.sum.merge_limbs(sum, t.sum_overflow != 0);
        mo.sum_sq.merge_limbs(sum_sq, t.sum_sq_overflow != 0);
        const int a = int(e) / m_, b = int(e) % m_;
        auto widen = [&](auto& sketch) {
          sketch.set_range(std::min(sketch.min(), t.min), std::max(sketch.max(), t.max));
        };
        if (kind == 0 && a <= b) widen(s.gram_sketch[std::size_t(upper_index(m_, a, b))]);
        if (kind == 1 && a < b) widen(s.rho_sketch[std::size_t(pair_index(m_, a, b))]);
      }
  }
  if (!options_.exact_quantiles) return;
  if (grams == nullptr || g.status.size() != count * R)
    throw Error("EnsembleStatistics::add_aggregate: stored samples need the chunk's grams");
  for (std::uint64_t i = 0; i < count; ++i)
    for (std::size_t r = 0; r < R; ++r) {
      const MemberStatus st = MemberStatus(g.status[i * R + r]);
      std::vector<float>& out = stats_[r].samples;
      if (st == MemberStatus::blown)
        out.insert(out.end(), mm, std::numeric_limits<float>::infinity());
      else if (st != MemberStatus::nonfinite)
        out.insert(out.end(), grams + (i * R + r) * mm, grams + (i * R + r + 1) * mm);
    }
}

void EnsembleStatistics::reserve_for(std::uint64_t members) {
  auto reserve = [&](CountStore& store) {
    const std::uint64_t pages = (store.size() + CountStore::kPage - 1) / CountStore::kPage;
    if (members >= pages) store.allocate_all();
  };
  for (LayerStatistics& s : stats_) {
    for (LogSketch& k : s.gram_sketch) reserve(k.store());
    for (GridSketch& k : s.rho_sketch) reserve(k.store());
  }
}

void EnsembleStatistics::merge(const EnsembleStatistics& o) {
  if (o.m_ != m_ || o.layers_ != layers_ || o.options_ != options_)
    throw Error("EnsembleStatistics::merge: incompatible statistics");
  for (std::size_t r = 0; r < stats_.size(); ++r) {
    LayerStatistics& s = stats_[r];
    const LayerStatistics& x = o.stats_[r];
    s.members += x.members;
    s.nonfinite += x.nonfinite;
    s.overflow += x.overflow;
    s.blowup += x.blowup;
    for (std::size_t e = 0; e < s.gram.size(); ++e) {
      s.gram[e].merge(x.gram[e]);
      s.rho[e].merge(x.rho[e]);
    }
    for (std::size_t k = 0; k < s.rho_histogram.size(); ++k)
      s.rho_histogram[k] += x.rho_histogram[k];
    for (std::size_t k = 0; k < s.gram_sketch.size(); ++k) s.gram_sketch[k].merge(x.gram_sketch[k]);
    for (std::size_t k = 0; k < s.rho_sketch.size(); ++k) s.rho_sketch[k].merge(x.rho_sketch[k]);
    s.samples.insert(s.samples.end(), x.samples.begin(), x.samples.end());
  }
}

bool EnsembleStatistics::operator==(const EnsembleStatistics& o) const {
  if (m_ != o.m_ || layers_ != o.layers_ || options_ != o.options_) return false;
  for (std::size_t r = 0; r < stats_.size(); ++r) {
    const LayerStatistics &a = stats_[r], &b = o.stats_[r];
    if (a.members != b.members || a.nonfinite != b.nonfinite || a.overflow != b.overflow ||
        a.blowup != b.blowup || a.gram != b.gram || a.rho != b.rho ||
        a.rho_histogram != b.rho_histogram || a.gram_sketch != b.gram_sketch ||
        a.rho_sketch != b.rho_sketch || a.samples != b.samples)
      return false;
  }
  return true;
}

double EnsembleStatistics::sketch_quantile(int r, int a, int b, double q, bool corr) const {
  const LayerStatistics& s = stats_.at(std::size_t(r));
  if (a > b) std::swap(a, b);
  if (corr && a == b) return s.gram_sketch.front().count() > 0 ? 1.0 : std::nan("");
  if (corr) return s.rho_sketch.at(std::size_t(pair_index(m_, a, b))).quantile(q);
  return s.gram_sketch.at(std::size_t(upper_index(m_, a, b))).quantile(q);
}

double EnsembleStatistics::quantile(int r, int a, int b, double q, bool corr) const {
  if (!options_.exact_quantiles) return sketch_quantile(r, a, b, q, corr);
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
  // Rank lo by nth_element; rank lo + 1 is then the least of the rest.
  std::int64_t selected = -1;
  return linear_quantile(std::int64_t(count), q, [&](std::int64_t k) {
    if (selected < 0) {
      selected = k;
      std::nth_element(v.begin(), v.begin() + k, v.end());
      return v[std::size_t(k)];
    }
    return *std::min_element(v.begin() + selected + 1, v.end());
  });
}

}  // namespace attnmc
