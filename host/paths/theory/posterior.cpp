// The exact width-free posterior over order parameters (design/attention-paths.md
// section 5): p(U | y) proportional to N(y; 0, K_{U_1} + T I) p_chain(U),
// sampled in the Bartlett coordinates of wishart_chain.hpp by random-walk
// Metropolis, many independent chains in parallel (OpenMP over chains).
//
// Each chain adapts during burn-in only: first half, a global step scale
// (Robbins-Monro towards acceptance 0.234) on the prior's per-coordinate
// scale; second half, the same on the chain's own empirical covariance from
// the first half. After burn-in the proposal is frozen, so the kept steps
// are an exact Metropolis chain. Every random number is keyed
// (purpose paths_posterior, member = chain, layer = step, slot 0 the
// proposal, 1 the acceptance, 2 the start), so results do not depend on the
// thread count. The predictor at the test points is the GP predictive given
// U_1, averaged over the chain (Rao-Blackwellised); standard errors come from
// the spread of the independent chains' means. The cost per step depends on
// the number of paths and sequences, not on the widths.
#include <omp.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "attnmc/error.hpp"
#include "attnmc/rng.hpp"
#include "host/paths/theory/wishart_chain.hpp"

namespace attnmc::paths {

using detail::Mat;
using detail::Vec;

namespace {

struct ChainSums {
  Vec f_mean, f_second;  // averages over the chain's predictor evaluations
  std::vector<Mat> u;    // averages over kept steps
  std::vector<Mat> u2;   // averages of the squares (for the within-chain variance)
  std::uint64_t accepted = 0, proposed = 0, evaluations = 0;
};

rng::StreamKey key(const PosteriorOptions& o, int chain, std::uint32_t step, std::uint32_t slot) {
  return rng::make_key(o.seed, rng::Purpose::paths_posterior, std::uint32_t(chain), step, slot);
}

Vec gaussians(const rng::StreamKey& k, int n) {
  Vec z(n);
  for (int i = 0; i < n; i += 4) {
    const rng::Gauss4d g = rng::gaussian4d(rng::philox_block(k, std::uint32_t(i / 4)));
    for (int j = 0; j < 4 && i + j < n; ++j) z(i + j) = g.z[j];
  }
  return z;
}

ChainSums run_chain(const detail::Problem& pb, const detail::WishartChain& wc,
                    const PosteriorOptions& o, int chain) {
  const int d = wc.dim;
  const double minus_inf = -std::numeric_limits<double>::infinity();
  std::vector<Mat> u;
  std::uint64_t evaluations = 0;
  auto log_post = [&](const Vec& th) {
    wc.map(th, u);
    ++evaluations;
    const detail::Gp gp(pb, u[0]);
    if (!gp.ok) return minus_inf;
    return gp.log_likelihood(pb) + wc.log_prior(th);
  };

  const Vec sd = wc.prior_sd();
  Vec theta = wc.center() + 0.1 * sd.cwiseProduct(gaussians(key(o, chain, 0, 2), d));
  double lp = log_post(theta);
  Mat chol = sd.asDiagonal();
  double log_scale = std::log(2.38 / std::sqrt(double(d)));

  const int half = o.burn_in / 2;
  Vec first_sum = Vec::Zero(d);
  Mat second_sum = Mat::Zero(d, d);
  int collected = 0;

  ChainSums s;
  s.f_mean = Vec::Zero(pb.n_test);
  s.f_second = Vec::Zero(pb.n_test);
  int f_count = 0, u_count = 0;
  const int total = o.burn_in + o.steps;
  for (int step = 0; step < total; ++step) {
    const std::uint32_t layer = std::uint32_t(step) + 1;
    const Vec prop = theta + std::exp(log_scale) * (chol * gaussians(key(o, chain, layer, 0), d));
    const double lq = log_post(prop);
    const double log_u =
        std::log(rng::uniform_open_d(rng::philox_block(key(o, chain, layer, 1), 0).w[0]));
    const bool accept = std::isfinite(lq) && log_u < lq - lp;
    if (accept) theta = prop, lp = lq;
    if (step < o.burn_in) {
      const int t = step < half ? step : step - half;
      log_scale += (double(accept) - 0.234) / std::pow(1.0 + t, 0.6);
      if (step >= half / 2 && step < half) {
        first_sum += theta;
        second_sum.noalias() += theta * theta.transpose();
        ++collected;
      }
      if (step + 1 == half && collected > 2 * d) {
        const Vec mean = first_sum / collected;
        Mat cov = second_sum / collected - mean * mean.transpose();
        cov.diagonal() += 1e-8 * sd.cwiseAbs2();
        Eigen::LLT<Mat> llt(cov);
        if (llt.info() == Eigen::Success) {
          chol = llt.matrixL();
          log_scale = std::log(2.38 / std::sqrt(double(d)));
        }
      }
      continue;
    }
    ++s.proposed;
    s.accepted += accept;
    wc.map(theta, u);
    if (s.u.empty())
      for (const Mat& m : u) s.u.push_back(Mat::Zero(m.rows(), m.cols()));
    if (s.u2.empty()) s.u2 = s.u;
    for (std::size_t l = 0; l < u.size(); ++l) s.u[l] += u[l], s.u2[l] += u[l].cwiseAbs2();
    ++u_count;
    if ((step - o.burn_in) % o.thin == 0 && pb.n_test > 0) {
      const detail::Gp gp(pb, u[0]);
      Vec mean, var;
      detail::gp_predict(pb, u[0], gp, mean, var);
      s.f_mean += mean;
      s.f_second += var + mean.cwiseAbs2();
      ++f_count;
    }
  }
  for (Mat& m : s.u) m /= double(u_count);
  for (Mat& m : s.u2) m /= double(u_count);
  if (f_count) s.f_mean /= f_count, s.f_second /= f_count;
  s.evaluations = evaluations;
  return s;
}

void mean_and_se(const std::vector<Vec>& per_chain, std::vector<double>& mean,
                 std::vector<double>& se) {
  const int c = int(per_chain.size()), n = int(per_chain[0].size());
  mean.assign(std::size_t(n), 0.0);
  se.assign(std::size_t(n), 0.0);
  for (int i = 0; i < n; ++i) {
    double m = 0.0, v = 0.0;
    for (int k = 0; k < c; ++k) m += per_chain[std::size_t(k)](i);
    m /= c;
    for (int k = 0; k < c; ++k)
      v += (per_chain[std::size_t(k)](i) - m) * (per_chain[std::size_t(k)](i) - m);
    mean[std::size_t(i)] = m;
    se[std::size_t(i)] =
        c > 1 ? std::sqrt(v / (c - 1) / c) : std::numeric_limits<double>::quiet_NaN();
  }
}

}  // namespace

PosteriorResult sample_posterior(const PathsTheoryModel& model, const PathOverlapData& data,
                                 const PosteriorOptions& options) {
  validate(model, data);
  if (options.chains < 2)
    throw InputError("posterior.chains", "need at least 2 chains (error bars)");
  if (options.burn_in < 100) throw InputError("posterior.burn_in", "need at least 100 steps");
  if (options.steps < 1) throw InputError("posterior.steps", "need at least 1 step");
  if (options.thin < 1) throw InputError("posterior.thin", "must be >= 1");
  const auto t0 = std::chrono::steady_clock::now();
  const detail::Problem pb(model, data);
  const detail::WishartChain wc(model, options.planted_df_shift);
  std::vector<ChainSums> chains(std::size_t(options.chains));
  const int threads = options.threads > 0 ? options.threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int c = 0; c < options.chains; ++c) chains[std::size_t(c)] = run_chain(pb, wc, options, c);

  PosteriorResult r;
  r.latent_dim = wc.dim;
  std::vector<Vec> fm, fs;
  std::uint64_t acc = 0, prop = 0;
  for (const ChainSums& s : chains) {
    fm.push_back(s.f_mean), fs.push_back(s.f_second);
    acc += s.accepted, prop += s.proposed, r.likelihood_evaluations += s.evaluations;
  }
  r.acceptance = double(acc) / double(prop);
  if (pb.n_test > 0) {
    mean_and_se(fm, r.f_mean, r.f_mean_se);
    mean_and_se(fs, r.f_second, r.f_second_se);
    if (pb.y_test.size() == pb.n_test) {
      int right = 0;
      for (int i = 0; i < pb.n_test; ++i)
        right += (r.f_mean[std::size_t(i)] > 0.0) == (pb.y_test(i) > 0.0);
      r.test_accuracy = double(right) / pb.n_test;
    }
  }
  const int L = model.depth();
  r.u_mean.u.resize(std::size_t(L)), r.u_mean_se.u.resize(std::size_t(L));
  for (int l = 0; l <= L; ++l) {
    std::vector<Vec> per;
    for (const ChainSums& s : chains)
      per.push_back(Eigen::Map<const Vec>(s.u[std::size_t(l)].data(), s.u[std::size_t(l)].size()));
    std::vector<double> m, se;
    mean_and_se(per, m, se);  // column-major flattening of a symmetric matrix = row-major
    if (l == L) {
      r.u_mean.u_a = m[0], r.u_mean_se.u_a = se[0];
    } else {
      r.u_mean.u[std::size_t(l)] = m, r.u_mean_se.u[std::size_t(l)] = se;
    }
  }
  // Gelman-Rubin potential scale reduction of every U entry (n kept steps,
  // between-chain B / n and within-chain W variances), the largest reported.
  {
    const double n = double(options.steps), c = double(options.chains);
    for (int l = 0; l <= L; ++l) {
      const Eigen::Index size = chains[0].u[std::size_t(l)].size();
      for (Eigen::Index i = 0; i < size; ++i) {
        double mean = 0.0, w = 0.0;
        for (const ChainSums& s : chains) mean += s.u[std::size_t(l)](i);
        mean /= c;
        double b = 0.0;
        for (const ChainSums& s : chains) {
          const double m = s.u[std::size_t(l)](i);
          b += (m - mean) * (m - mean);
          w += (s.u2[std::size_t(l)](i) - m * m) * n / std::max(1.0, n - 1.0);
        }
        b /= (c - 1.0);
        w /= c;
        if (w <= 0.0) continue;  // a constant entry (zero in a singular chain)
        const double rhat = std::sqrt(((n - 1.0) / n * w + b) / w);
        r.max_rhat = std::max(r.max_rhat, rhat);
      }
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

PosteriorResult importance_posterior(const PathsTheoryModel& model, const PathOverlapData& data,
                                     const ImportanceOptions& options) {
  validate(model, data);
  if (options.samples < 2) throw InputError("posterior.samples", "need at least 2 samples");
  const auto t0 = std::chrono::steady_clock::now();
  const detail::Problem pb(model, data);
  const detail::WishartChain wc(model, options.planted_df_shift);
  const int L = model.depth(), nt = pb.n_test;
  int k = 2 * nt;  // statistics per sample: E[f*|U], E[f*^2|U], every U entry
  for (int l = 0; l <= L; ++l) k += l < L ? model.level_dim(l) * model.level_dim(l) : 1;
  // Per block of samples: sums of w, w^2, w g, w^2 g, w^2 g^2 with w = exp(log w - ref),
  // ref the block's largest log-weight; merged in block order after rescaling.
  struct Sums {
    double ref = -std::numeric_limits<double>::infinity(), w = 0, w2 = 0;
    Vec wg, w2g, w2g2;
    std::uint64_t failed = 0;
  };
  const std::uint32_t block = 1024;
  const std::uint32_t blocks = (options.samples + block - 1) / block;
  std::vector<Sums> parts(blocks);
  const int threads = options.threads > 0 ? options.threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (std::int64_t b = 0; b < std::int64_t(blocks); ++b) {
    Sums& s = parts[std::size_t(b)];
    s.wg = s.w2g = s.w2g2 = Vec::Zero(k);
    const std::uint32_t lo = std::uint32_t(b) * block;
    const std::uint32_t hi = std::min<std::uint64_t>(options.samples, std::uint64_t(lo) + block);
    std::vector<double> logw;
    std::vector<Vec> stats;
    std::vector<Mat> u;
    for (std::uint32_t i = lo; i < hi; ++i) {
      wc.map(wc.draw_prior(options.seed, i), u);
      const detail::Gp gp(pb, u[0]);
      if (!gp.ok) {
        ++s.failed;
        continue;
      }
      Vec g(k), mean, var;
      if (nt > 0) {
        detail::gp_predict(pb, u[0], gp, mean, var);
        g.head(nt) = mean;
        g.segment(nt, nt) = var + mean.cwiseAbs2();
      }
      int at = 2 * nt;
      for (const Mat& m : u)
        g.segment(at, m.size()) = Eigen::Map<const Vec>(m.data(), m.size()), at += int(m.size());
      logw.push_back(gp.log_likelihood(pb));
      stats.push_back(g);
      s.ref = std::max(s.ref, logw.back());
    }
    for (std::size_t j = 0; j < logw.size(); ++j) {
      const double w = std::exp(logw[j] - s.ref);
      s.w += w, s.w2 += w * w;
      s.wg += w * stats[j], s.w2g += w * w * stats[j], s.w2g2 += w * w * stats[j].cwiseAbs2();
    }
  }
  double ref = -std::numeric_limits<double>::infinity();
  for (const Sums& s : parts) ref = std::max(ref, s.ref);
  double w = 0, w2 = 0;
  Vec wg = Vec::Zero(k), w2g = wg, w2g2 = wg;
  std::uint64_t failed = 0;
  for (const Sums& s : parts) {
    failed += s.failed;
    if (!std::isfinite(s.ref)) continue;
    const double c = std::exp(s.ref - ref);
    w += c * s.w, w2 += c * c * s.w2;
    wg += c * s.wg, w2g += c * c * s.w2g, w2g2 += c * c * s.w2g2;
  }
  if (failed)
    throw Error("paths importance sampling: " + std::to_string(failed) +
                " draws with K_U + T I not positive definite");
  PosteriorResult r;
  r.latent_dim = wc.dim;
  r.likelihood_evaluations = options.samples;
  r.ess = w * w / w2;
  r.acceptance = std::numeric_limits<double>::quiet_NaN();
  r.max_rhat = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> mean, se;
  for (int i = 0; i < k; ++i) {
    const double gh = wg(i) / w;
    const double var = w2g2(i) - 2 * gh * w2g(i) + gh * gh * w2;
    mean.push_back(gh), se.push_back(std::sqrt(std::max(var, 0.0)) / w);
  }
  r.f_mean.assign(mean.begin(), mean.begin() + nt), r.f_mean_se.assign(se.begin(), se.begin() + nt);
  r.f_second.assign(mean.begin() + nt, mean.begin() + 2 * nt);
  r.f_second_se.assign(se.begin() + nt, se.begin() + 2 * nt);
  if (pb.y_test.size() == nt && nt > 0) {
    int right = 0;
    for (int i = 0; i < nt; ++i) right += (r.f_mean[std::size_t(i)] > 0.0) == (pb.y_test(i) > 0.0);
    r.test_accuracy = double(right) / nt;
  }
  r.u_mean.u.resize(std::size_t(L)), r.u_mean_se.u.resize(std::size_t(L));
  int at = 2 * nt;
  for (int l = 0; l <= L; ++l) {
    const int size = l < L ? model.level_dim(l) * model.level_dim(l) : 1;
    // column-major flattening of a symmetric matrix = row-major
    std::vector<double> m(mean.begin() + at, mean.begin() + at + size),
        e(se.begin() + at, se.begin() + at + size);
    if (l == L) {
      r.u_mean.u_a = m[0], r.u_mean_se.u_a = e[0];
    } else {
      r.u_mean.u[std::size_t(l)] = m, r.u_mean_se.u[std::size_t(l)] = e;
    }
    at += size;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace attnmc::paths
