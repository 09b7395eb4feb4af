// Bartlett coordinates of the Wishart chain (see wishart_chain.hpp).
#include "host/paths/theory/wishart_chain.hpp"

#include <algorithm>
#include <cmath>

#include "attnmc/error.hpp"
#include "attnmc/rng.hpp"

namespace attnmc::paths::detail {

namespace {
// Trigamma psi_1(x) (variance of ln chi2(k) is psi_1(k / 2)): recurrence to
// x >= 6, then the asymptotic series.
double trigamma(double x) {
  double r = 0.0;
  while (x < 6.0) r += 1.0 / (x * x), x += 1.0;
  const double x2 = 1.0 / (x * x);
  return r + 1.0 / x + x2 / 2.0 + (1.0 / x) * x2 * (1.0 / 6.0 - x2 * (1.0 / 30.0 - x2 / 42.0));
}
}  // namespace

WishartChain::WishartChain(const PathsTheoryModel& model, int df_shift) {
  const int L = model.depth();
  readout_width = double(model.widths[std::size_t(L)]);
  readout_df = readout_width + df_shift;
  readout_scale = model.variances[std::size_t(L) + 1];
  dim = 1;
  levels.resize(std::size_t(L));
  int r_above = 1;
  for (int l = L - 1; l >= 0; --l) {
    Level& lv = levels[std::size_t(l)];
    lv.dim = model.level_dim(l);
    lv.heads = model.heads[std::size_t(l)];
    lv.m = lv.heads * r_above;
    lv.width = double(model.widths[std::size_t(l)]);
    lv.rank = int(std::min<long>(model.widths[std::size_t(l)], lv.m));
    lv.scale = model.variances[std::size_t(l) + 1];
    lv.offset = dim;
    for (int i = 0; i < lv.rank; ++i) {
      const int k = int(model.widths[std::size_t(l)]) - i + df_shift;
      if (k < 1) throw InputError("posterior", "degrees of freedom below 1");
      lv.df.push_back(k);
    }
    // rank diagonals + the strictly lower part of an m x rank trapezoid
    int count = lv.rank;
    for (int j = 0; j < lv.rank; ++j) count += lv.m - 1 - j;
    dim += count;
    r_above = lv.rank;
  }
}

void WishartChain::map(const Vec& theta, std::vector<Mat>& u) const {
  const int L = int(levels.size());
  u.resize(std::size_t(L) + 1);
  const double ua = readout_scale * std::exp(theta(0)) / readout_width;
  u[std::size_t(L)] = Mat::Constant(1, 1, ua);
  Mat f = Mat::Constant(1, 1, std::sqrt(ua));
  for (int l = L - 1; l >= 0; --l) {
    const Level& lv = levels[std::size_t(l)];
    const int da = int(f.rows()), ra = int(f.cols());
    Mat a = Mat::Zero(lv.m, lv.rank);
    int k = lv.offset;
    for (int j = 0; j < lv.rank; ++j) {
      a(j, j) = std::exp(0.5 * theta(k++));
      for (int i = j + 1; i < lv.m; ++i) a(i, j) = theta(k++);
    }
    // F_l = sqrt(s / N) (I_H (x) F_{l+1}) A, block by block.
    Mat next = Mat::Zero(lv.dim, lv.rank);
    const double c = std::sqrt(lv.scale / lv.width);
    for (int h = 0; h < lv.heads; ++h)
      next.middleRows(h * da, da).noalias() += c * f * a.middleRows(h * ra, ra);
    f = next;
    u[std::size_t(l)] = f * f.transpose();
  }
}

double WishartChain::log_prior(const Vec& theta) const {
  // ln c = v, c ~ chi2(k): density in v is proportional to exp(k v / 2 - e^v / 2).
  double lp = 0.5 * readout_df * theta(0) - 0.5 * std::exp(theta(0));
  for (const Level& lv : levels) {
    int k = lv.offset;
    for (int j = 0; j < lv.rank; ++j) {
      const double v = theta(k++);
      lp += 0.5 * lv.df[std::size_t(j)] * v - 0.5 * std::exp(v);
      for (int i = j + 1; i < lv.m; ++i, ++k) lp -= 0.5 * theta(k) * theta(k);
    }
  }
  return lp;
}

bool WishartChain::is_log_chi2(int index, double* df) const {
  if (index == 0) return *df = readout_df, true;
  for (const Level& lv : levels) {
    int k = lv.offset;
    for (int j = 0; j < lv.rank; ++j) {
      if (k == index) return *df = lv.df[std::size_t(j)], true;
      k += 1 + (lv.m - 1 - j);
    }
  }
  return false;
}

Vec WishartChain::prior_sd() const {
  Vec sd = Vec::Ones(dim);
  for (int i = 0; i < dim; ++i) {
    double k = 0.0;
    if (is_log_chi2(i, &k)) sd(i) = std::sqrt(trigamma(0.5 * k));
  }
  return sd;
}

Vec WishartChain::center() const {
  Vec c = Vec::Zero(dim);
  for (int i = 0; i < dim; ++i) {
    double k = 0.0;
    if (is_log_chi2(i, &k)) c(i) = std::log(k);
  }
  return c;
}

namespace {
// Keyed gamma(shape, 1) by Marsaglia and Tsang (2000): attempt i takes the
// normal of block i of one stream and the uniform of block i of another.
// Shapes below 1 use gamma(shape + 1) U^(1 / shape).
double keyed_gamma(double shape, std::uint64_t seed, std::uint32_t sample, std::uint32_t index) {
  const auto normals = rng::make_key(seed, rng::Purpose::paths_posterior, sample, index, 3);
  const auto uniforms = rng::make_key(seed, rng::Purpose::paths_posterior, sample, index, 4);
  double boost = 1.0;
  std::uint32_t block = 0;
  if (shape < 1.0) {
    const double u = rng::uniform_open_d(rng::philox_block(uniforms, block++).w[0]);
    boost = std::pow(u, 1.0 / shape);
    shape += 1.0;
  }
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;; ++block) {
    const double x = rng::gaussian4d(rng::philox_block(normals, block)).z[0];
    const double v1 = 1.0 + c * x;
    if (v1 <= 0.0) continue;
    const double v = v1 * v1 * v1;
    const double u = rng::uniform_open_d(rng::philox_block(uniforms, block).w[1]);
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return boost * d * v;
  }
}
}  // namespace

Vec WishartChain::draw_prior(std::uint64_t seed, std::uint32_t sample) const {
  Vec theta(dim);
  const auto normals =
      rng::make_key(seed, rng::Purpose::paths_posterior, std::uint32_t(sample), 0, 5);
  for (int i = 0; i < dim; ++i) {
    double k = 0.0;
    // chi2(k) = 2 gamma(k / 2); theta = ln c
    theta(i) =
        is_log_chi2(i, &k)
            ? std::log(2.0 * keyed_gamma(0.5 * k, seed, std::uint32_t(sample), std::uint32_t(i)))
            : rng::gaussian_d(normals, std::uint64_t(i));
  }
  return theta;
}

}  // namespace attnmc::paths::detail
