// The oversmoothing family on the driver (host/driver.hpp): validates a
// spec, picks the backend, checks the memory cap before any work, and folds
// each chunk's per-network metrics (and, for fixed A and H, the eigenvalue
// prediction of each network, computed on the host in double with Eigen:
// host/oversmoothing/prediction.cpp) into the statistics in member order,
// so chunking and threading never change the result.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "attnmc/error.hpp"
#include "attnmc/oversmoothing.hpp"
#include "host/backend.hpp"
#include "host/chunking.hpp"
#include "host/driver.hpp"
#include "host/oversmoothing/oversmoothing_inputs.hpp"
#include "kernels/oversmoothing/oversmoothing_job.hpp"

namespace attnmc {
namespace {

using Clock = std::chrono::steady_clock;

void require(bool ok, const char* parameter, const std::string& message) {
  if (!ok) throw InputError(parameter, message);
}

bool all_finite(const std::vector<double>& v) {
  for (double x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

}  // namespace

const char* metric_name(int metric) {
  static const char* const names[] = {"cosine",         "nonconstant_fraction", "hc_over_dc",
                                      "effective_rank", "dirichlet_energy",     "log_growth"};
  return metric >= 0 && metric < kMetricCount ? names[metric] : "?";
}

const char* regime_name(Regime r) {
  switch (r) {
    case Regime::smoothing:
      return "smoothing";
    case Regime::sharpening:
      return "sharpening";
    case Regime::oscillating:
      return "oscillating";
    case Regime::other:
      return "other";
  }
  return "?";
}

OversmoothingSpec resolve_oversmoothing(const OversmoothingSpec& in) {
  OversmoothingSpec s = in;
  require(s.tokens >= 2 && s.tokens <= 1024, "model.tokens", "must be in [2, 1024]");
  require(s.width >= 1 && s.width <= 4096, "model.width", "must be in [1, 4096]");
  require(s.depth >= 1 && s.depth <= (1 << 20), "model.depth", "must be in [1, 2^20]");
  if (s.head_dim == 0) s.head_dim = s.width;
  require(s.head_dim >= 1 && s.head_dim <= 4096, "model.head_dim", "must be in [1, 4096]");
  const int n = s.width, m = s.tokens;
  const std::size_t nn = std::size_t(n) * n, mm = std::size_t(m) * m;
  switch (s.spectrum) {
    case SpectrumKind::list:
      require(s.lambdas.size() == 1 || s.lambdas.size() == std::size_t(n), "model.lambdas",
              "expected 1 or model.width = " + std::to_string(n) + " values, got " +
                  std::to_string(s.lambdas.size()));
      require(all_finite(s.lambdas), "model.lambdas", "contains a non-finite value");
      if (s.lambdas.size() == 1) s.lambdas.assign(std::size_t(n), s.lambdas[0]);
      break;
    case SpectrumKind::range:
      require(std::isfinite(s.lambda_lo), "model.lambda_lo", "must be finite");
      require(std::isfinite(s.lambda_hi), "model.lambda_hi", "must be finite");
      s.lambdas.resize(std::size_t(n));
      for (int j = 0; j < n; ++j)
        s.lambdas[j] =
            n == 1 ? s.lambda_lo : s.lambda_lo + (s.lambda_hi - s.lambda_lo) * double(j) / (n - 1);
      break;
    case SpectrumKind::uniform:
      require(std::isfinite(s.lambda_lo), "model.lambda_lo", "must be finite");
      require(std::isfinite(s.lambda_hi) && s.lambda_hi > s.lambda_lo, "model.lambda_hi",
              "must be finite and > model.lambda_lo");
      s.lambdas.clear();
      break;
    case SpectrumKind::minus:
    case SpectrumKind::plus:
      require(std::isfinite(s.psi_scale) && s.psi_scale > 0, "model.psi_scale",
              "must be finite and > 0");
      s.lambdas.clear();
      break;
    case SpectrumKind::file:
      require(s.h_matrix.size() == nn, "model.h_file",
              "H must be model.width x model.width = " + std::to_string(n) + " x " +
                  std::to_string(n) + " (" + std::to_string(s.h_matrix.size()) + " values)");
      require(all_finite(s.h_matrix), "model.h_file", "contains a non-finite value");
      s.lambdas.clear();
      break;
  }
  if (s.spectrum != SpectrumKind::file && s.eigvecs == EigvecKind::file) {
    require(s.u_matrix.size() == nn, "model.u_file",
            "U must be model.width x model.width = " + std::to_string(n) + " x " +
                std::to_string(n) + " (" + std::to_string(s.u_matrix.size()) + " values)");
    require(all_finite(s.u_matrix), "model.u_file", "contains a non-finite value");
    std::vector<double> work(nn), inv(nn);
    require(kernels::os_invert(s.u_matrix.data(), work.data(), inv.data(), n), "model.u_file",
            "U is not invertible (a pivot below 1e-12 of its largest entry): H = U Lambda U^-1 "
            "is undefined");
  }
  require(std::isfinite(s.temperature) && s.temperature > 0, "model.temperature",
          "must be finite and > 0");
  require(std::isfinite(s.a_scale) && s.a_scale >= 0, "model.a_scale", "must be finite and >= 0");
  if (s.attention == OsAttentionKind::file) {
    require(s.a_matrix.size() == mm, "model.a_file",
            "A must be model.tokens x model.tokens = " + std::to_string(m) + " x " +
                std::to_string(m) + " (" + std::to_string(s.a_matrix.size()) + " values)");
    require(all_finite(s.a_matrix), "model.a_file", "contains a non-finite value");
    for (int k = 0; k < m; ++k) {
      double sum = 0.0;
      for (int q = 0; q < m; ++q) {
        require(s.a_matrix[k * m + q] >= 0, "model.a_file",
                "A is not row-stochastic: entry (" + std::to_string(k) + ", " + std::to_string(q) +
                    ") is negative");
        sum += s.a_matrix[k * m + q];
      }
      require(
          std::fabs(sum - 1.0) <= 1e-6, "model.a_file",
          "A is not row-stochastic: row " + std::to_string(k) + " sums to " + std::to_string(sum));
    }
  }
  require(s.gain.size() == 1 || s.gain.size() == std::size_t(n), "model.gain",
          "expected 1 or model.width = " + std::to_string(n) + " values, got " +
              std::to_string(s.gain.size()));
  require(all_finite(s.gain), "model.gain", "contains a non-finite value");
  if (s.gain.size() == 1) s.gain.assign(std::size_t(n), s.gain[0]);
  require(std::isfinite(s.bias), "model.bias", "must be finite");
  require(std::isfinite(s.norm_eps) && s.norm_eps > 0, "model.norm_eps", "must be finite and > 0");
  if (s.input == OversmoothInputKind::given) {
    ModelSpec shape;
    shape.tokens = m;
    shape.width = n;
    (void)initial_tokens(s.given_input, shape);  // throws InputError naming the input key
  }
  require(s.members >= 1 && s.members <= std::numeric_limits<std::uint32_t>::max(),
          "ensemble.members", "must be in [1, 2^32)");
  require(s.member_end <= s.members, "ensemble.member_end", "must be <= ensemble.members");
  require(s.member_begin < s.end_member(), "ensemble.member_begin", "must be < member_end");
  require(s.record_every >= 0, "ensemble.record_every", "must be >= 0");
  std::vector<int> rec = s.record_layers;
  for (std::size_t i = 1; i < rec.size(); ++i)
    require(rec[i] > rec[i - 1], "ensemble.record_layers", "must be strictly increasing");
  for (int k : rec)
    require(k >= 0 && k <= s.depth, "ensemble.record_layers", "must lie in [0, model.depth]");
  if (rec.empty()) {
    const int every = s.record_every > 0 ? s.record_every : std::max(1, s.depth / 32);
    for (int k = 0; k < s.depth; k += every) rec.push_back(k);
  }
  rec.push_back(0);
  rec.push_back(s.depth);
  std::sort(rec.begin(), rec.end());
  rec.erase(std::unique(rec.begin(), rec.end()), rec.end());
  s.record_layers = rec;
  if (s.gram_statistics < 0) s.gram_statistics = m <= 16 ? 1 : 0;
  require(
      std::isfinite(s.quantile_accuracy) && s.quantile_accuracy > 0 && s.quantile_accuracy < 0.5,
      "ensemble.quantile_accuracy", "must be in (0, 0.5)");
  require(s.histogram_bins >= 1, "ensemble.histogram_bins", "must be >= 1");
  for (double q : s.quantiles)
    require(std::isfinite(q) && q >= 0 && q <= 1, "ensemble.quantiles", "must lie in [0, 1]");
  require(std::isfinite(s.smooth_tol) && s.smooth_tol > 0 && s.smooth_tol < 1,
          "ensemble.smooth_tol", "must be in (0, 1)");
  require(std::isfinite(s.rank_tol) && s.rank_tol > 0, "ensemble.rank_tol", "must be > 0");
  require(s.memory_cap > 0, "ensemble.memory_cap", "must be positive");
  host::check_threads(s.threads, "run.threads");
  return s;
}

// ---------------------------------------------------------------- scalar statistics

void ScalarStatistics::add(double x) {
  if (std::isnan(x)) {
    ++nonfinite;
    return;
  }
  if (std::isinf(x)) {  // e.g. ||HC|| / ||DC|| with DC = 0: a value, but no moments
    ++infinite;
    sketch.add(x);
    return;
  }
  ++count;
  sum.add(x);
  sum_sq.add_square(x);
  sketch.add(x);
}

void ScalarStatistics::merge(const ScalarStatistics& o) {
  count += o.count;
  nonfinite += o.nonfinite;
  infinite += o.infinite;
  sum.merge(o.sum);
  sum_sq.merge(o.sum_sq);
  sketch.merge(o.sketch);
}

double ScalarStatistics::mean() const {
  return count > 0 ? sum.value() / double(count) : std::numeric_limits<double>::quiet_NaN();
}
double ScalarStatistics::stddev() const {
  return std::sqrt(ExactSum::variance(count, sum, sum_sq));
}

// ---------------------------------------------------------------- the engine

namespace {

struct OsBuffer {
  bool keep_grams = false, keep_tokens = false;
  std::size_t per_gram = 0, per_metrics = 0, per_tokens = 0;
  OversmoothNetworks nets;
  kernels::GramAggregate aggregate;
  void resize(std::uint64_t count) {
    nets.grams.resize(keep_grams ? count * per_gram : 0);
    nets.metrics.resize(count * per_metrics);
    nets.log_norm.resize(count);
    nets.final_tokens.resize(keep_tokens ? count * per_tokens : 0);
  }
};

struct OsPlan {
  host::Backend backend;
  bool host_grams = false, device_grams = false, tokens = false;
  host::ChunkPlan chunks;
};

OsPlan plan_os(const OversmoothingSpec& s, std::uint64_t first, std::uint64_t end,
               std::vector<host::MemoryCost> fixed, bool host_grams, bool tokens) {
  OsPlan p;
  p.backend = host::select_backend(s.device);
  p.host_grams = host_grams;
  p.device_grams = s.gram_statistics == 1 && !fixed.empty();
  p.tokens = tokens;
  const kernels::OsCoefficients c = os_coefficients(s);
  const std::size_t records = s.record_layers.size(), m = s.tokens, n = s.width;
  host::MemoryRule rule;
  rule.memory_cap = s.memory_cap;
  rule.free_memory = p.backend.free_memory;
  const bool grams = p.host_grams || p.device_grams;
  const host::GramDeliveryCosts delivery =
      host::gram_delivery_costs(p.backend, s.tokens, int(records), p.device_grams, host_grams);
  const std::size_t metrics = records * kMetricCount * sizeof(double);
  rule.per_item = omp::oversmoothing_bytes_per_network(c) + 3 * metrics +
                  (grams ? records * m * m * sizeof(float) + delivery.per_item : 0) +
                  (tokens ? 3 * m * n * sizeof(float) : 0) + 3 * sizeof(double);
  rule.fixed = std::move(fixed);
  if (p.device_grams) rule.fixed.push_back(delivery.fixed);
  rule.fixed.push_back({2 * sizeof(double) * (3 * n * n + m * m + m * n + 2 * n),
                        "H, U, A, input and gain arrays", "model.width"});
  rule.requested = s.chunk;
  p.chunks = host::plan_chunks(std::move(rule), first, end, s.threads);
  return p;
}

template <typename Sink>
void run_os_chunks(const OversmoothingSpec& s, const OsPlan& p,
                   const kernels::GramStatisticsJob* reduction, Sink sink) {
  const OsHostInputs host_inputs(s);
  std::vector<std::int64_t> rec(s.record_layers.begin(), s.record_layers.end());
  kernels::OsJob job;
  job.model = os_coefficients(s);
  job.inputs = host_inputs.view();
  job.seed = s.seed;
  job.record_layers = rec.data();
  job.records = int(rec.size());
  const auto chunk = host::on_backend(p.backend, &attnmc::omp::oversmoothing_chunk,
#if defined(ATTNMC_WITH_CUDA)
                                      &attnmc::cuda::oversmoothing_chunk
#else
                                      &attnmc::omp::oversmoothing_chunk
#endif
  );
  OsBuffer proto;
  proto.keep_grams = p.host_grams;
  proto.keep_tokens = p.tokens;
  proto.per_gram = rec.size() * std::size_t(s.tokens) * s.tokens;
  proto.per_metrics = rec.size() * kMetricCount;
  proto.per_tokens = std::size_t(s.tokens) * s.width;
  host::drive(
      p.backend, p.chunks, proto,
      [&](const kernels::ExecContext& cx, std::uint64_t first, std::uint64_t count, OsBuffer& b) {
        kernels::OsJob j = job;
        j.first_member = first;
        j.count = count;
        kernels::OsChunkOut out;
        out.want_grams = p.host_grams || p.device_grams;
        out.gram = kernels::gram_output(p.host_grams, b.nets.grams.data(),
                                        p.device_grams ? reduction : nullptr, b.aggregate);
        out.metrics = b.nets.metrics.data();
        out.log_norm = b.nets.log_norm.data();
        out.final_tokens = p.tokens ? b.nets.final_tokens.data() : nullptr;
        chunk(cx, j, out);
      },
      [&](const OsBuffer& b, std::uint64_t first, std::uint64_t count) { sink(b, first, count); });
}

}  // namespace

OversmoothNetworks simulate_oversmoothing(const OversmoothingSpec& s, std::uint64_t first,
                                          std::uint64_t count) {
  const OsPlan p = plan_os(s, first, first + count, {}, s.gram_statistics == 1, true);
  OversmoothNetworks all;
  const std::size_t R = s.record_layers.size(), mm = std::size_t(s.tokens) * s.tokens;
  const std::size_t mn = std::size_t(s.tokens) * s.width;
  run_os_chunks(s, p, nullptr, [&](const OsBuffer& buf, std::uint64_t, std::uint64_t k) {
    const OversmoothNetworks& b = buf.nets;
    all.metrics.insert(all.metrics.end(), b.metrics.begin(),
                       b.metrics.begin() + k * R * kMetricCount);
    all.log_norm.insert(all.log_norm.end(), b.log_norm.begin(), b.log_norm.begin() + k);
    all.final_tokens.insert(all.final_tokens.end(), b.final_tokens.begin(),
                            b.final_tokens.begin() + k * mn);
    if (!b.grams.empty())
      all.grams.insert(all.grams.end(), b.grams.begin(), b.grams.begin() + k * R * mm);
  });
  return all;
}

Regime observed_regime(const OversmoothingSpec& s, const double* last) {
  if (last[kNonConstant] < s.smooth_tol) return Regime::smoothing;
  if (last[kEffectiveRank] < 1.0 + s.rank_tol) return Regime::sharpening;
  return Regime::other;
}

namespace {

// What a prediction says the network's last record should look like.
Regime expected_observation(const Prediction& p) {
  if (p.regime == Regime::smoothing || p.regime == Regime::sharpening) return p.regime;
  return Regime::other;  // oscillating or degenerate: not rank one, not constant
}

void init_result(OversmoothingResult& r) {
  const OversmoothingSpec& s = r.spec;
  r.layers = s.record_layers;
  r.metrics.assign(r.layers.size(), std::vector<ScalarStatistics>(
                                        kMetricCount, ScalarStatistics(s.quantile_accuracy)));
  r.nonfinite.assign(r.layers.size(), 0);
  r.growth_error = ScalarStatistics(s.quantile_accuracy);
  r.cosine_error = ScalarStatistics(s.quantile_accuracy);
}

}  // namespace

OversmoothingResult run_oversmoothing(const OversmoothingSpec& in, const Progress& progress) {
  const auto t0 = Clock::now();
  OversmoothingResult r;
  r.spec = resolve_oversmoothing(in);
  const OversmoothingSpec& s = r.spec;
  init_result(r);
  const std::size_t R = r.layers.size();
  const std::uint64_t members = s.end_member() - s.member_begin;
  StatisticsOptions options;
  options.histogram_bins = s.histogram_bins;
  options.quantile_accuracy = s.quantile_accuracy;
  options.overflow_threshold = 1e30;
  std::vector<host::MemoryCost> fixed;
  // The metric sketches: at most one count page per member each.
  const std::size_t sketch_bytes =
      std::min(LogSketch::max_bytes(s.quantile_accuracy),
               std::size_t(members) * CountStore::kPageSpan * sizeof(std::int64_t) + 4096);
  fixed.push_back(
      {(R * kMetricCount + 2) * sketch_bytes, "metric quantile sketches", "ensemble.record_every"});
  r.has_gram = s.gram_statistics == 1;
  if (r.has_gram) {
    for (const host::MemoryCost& c :
         host::statistics_costs(s.tokens, R, options, members, {"ensemble.histogram_bins", "", ""}))
      fixed.push_back(c);
  }
  const OsPlan p = plan_os(s, s.member_begin, s.end_member(), fixed, false, false);
  r.device = device_name(p.backend.device);
  r.threads = p.chunks.threads;
  r.chunk = p.chunks.chunk;
  if (r.has_gram) {
    r.gram = EnsembleStatistics(s.tokens, r.layers, options);
    r.gram.reserve_for(members);
  }
  const kernels::GramStatisticsJob reduction =
      r.has_gram ? r.gram.device_job() : kernels::GramStatisticsJob{};
  const bool predict = s.predictable();
  std::vector<Prediction> predictions;
  std::uint64_t done = 0;
  run_os_chunks(s, p, r.has_gram ? &reduction : nullptr,
                [&](const OsBuffer& buf, std::uint64_t first, std::uint64_t k) {
                  const OversmoothNetworks& b = buf.nets;
                  if (r.has_gram) r.gram.add_aggregate(buf.aggregate, nullptr, k);
                  if (predict) {
                    predictions.resize(k);
#pragma omp parallel for schedule(dynamic) num_threads(r.threads)
                    for (std::int64_t t = 0; t < std::int64_t(k); ++t)
                      predictions[t] = predict_oversmoothing(s, first + std::uint64_t(t));
                  }
                  for (std::uint64_t t = 0; t < k; ++t) {
                    const double* net = b.metrics.data() + t * R * kMetricCount;
                    bool finite = true;
                    for (std::size_t rr = 0; rr < R; ++rr) {
                      const double* row = net + rr * kMetricCount;
                      // ||HC|| / ||DC|| is +inf when the tokens' mean is 0 (e.g. x and -x):
                      // a value, not numerical trouble.
                      bool row_finite = finite;
                      for (int q = 0; q < kMetricCount; ++q)
                        row_finite = row_finite &&
                                     (q == kHcOverDc ? !std::isnan(row[q]) : std::isfinite(row[q]));
                      finite = row_finite;  // once non-finite, always (X stays NaN)
                      if (!row_finite) {
                        ++r.nonfinite[rr];
                        for (int q = 0; q < kMetricCount; ++q) r.metrics[rr][q].nonfinite++;
                        continue;
                      }
                      for (int q = 0; q < kMetricCount; ++q) r.metrics[rr][q].add(row[q]);
                    }
                    if (!predict) continue;
                    const Prediction& pr = predictions[t];
                    ++r.predicted[int(pr.regime)];
                    if (pr.regime == Regime::other) ++r.degenerate;
                    if (!finite) continue;
                    const double* last = net + (R - 1) * kMetricCount;
                    const Regime obs = observed_regime(s, last);
                    ++r.observed[int(obs)];
                    ++r.compared;
                    if (obs == expected_observation(pr)) ++r.agree;
                    if (s.norm == NormPlacement::none)
                      r.growth_error.add(std::fabs(last[kLogGrowth] - std::log(pr.dominant)));
                    if (std::isfinite(pr.limit_cosine))
                      r.cosine_error.add(std::fabs(last[kCosine] - pr.limit_cosine));
                  }
                  done += k;
                  if (progress) progress(done, members);
                });
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

void merge_oversmoothing(OversmoothingResult& a, const OversmoothingResult& b) {
  if (a.layers != b.layers || a.has_gram != b.has_gram)
    throw Error("oversmoothing: cannot merge results of different configurations");
  for (std::size_t r = 0; r < a.layers.size(); ++r) {
    a.nonfinite[r] += b.nonfinite[r];
    for (int q = 0; q < kMetricCount; ++q) a.metrics[r][q].merge(b.metrics[r][q]);
  }
  if (a.has_gram) a.gram.merge(b.gram);
  for (int i = 0; i < 4; ++i) {
    a.predicted[i] += b.predicted[i];
    a.observed[i] += b.observed[i];
  }
  a.agree += b.agree;
  a.compared += b.compared;
  a.degenerate += b.degenerate;
  a.growth_error.merge(b.growth_error);
  a.cosine_error.merge(b.cosine_error);
  a.spec.member_end = std::max(a.spec.end_member(), b.spec.end_member());
  a.spec.member_begin = std::min(a.spec.member_begin, b.spec.member_begin);
  a.seconds += b.seconds;
}

}  // namespace attnmc
