// One-step moments: the SDE's drift b(V) and diffusion Sigma(V) (as the
// kernels compute them) against the mean and covariance of one finite
// layer's increment V' - V, times n, at large n (attention, MLP, both).
//
// The finite layer is sampled exactly in law, in double precision, by a
// plain implementation of the reduced-sampler identities
// (docs: shared/design/reduced-sampler.md), written here independently of
// the engine: with X = sqrt(n) c B (c = chol(V), B orthonormal rows),
//   attention: logits Y_h = c G_h R_h^T c^T (G iid m x m, R_h Bartlett with
//     n_k dof); K = [A_1 c .. A_H c] (m x Hm);
//     V' = lambda^2 V + lambda gamma / sqrt(H n) (c M^T K^T + K M c^T)
//          + gamma^2 / (H n) K (M M^T + W) K^T,
//     M iid Hm x m, W ~ Wishart_{Hm}(n - m);
//   MLP: u_j = c z_j, h_j = sigma_s(u_j) (j < n), D = chol(sum h h^T),
//     V'' = lambda^2 V + lambda a / sqrt(n) (c M^T D^T + D M c^T)
//           + a^2 / n D (M M^T + W) D^T,  a = gamma sqrt(c_s / n).
// Variance reduction for the mean (not for the covariance): the terms
// linear in M and W - n I, and gamma^2 (sum u u^T / n - V), have mean zero
// exactly and are subtracted (control variates); the attention logits are
// used in antithetic pairs (G, -G).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "attnmc/rng.hpp"
#include "attnmc/sde.hpp"
#include "kernels/sde_job.hpp"
#include "kernels/sde_math.hpp"

namespace attnmc {
namespace {

using Mat = std::vector<double>;  // row-major, sizes passed alongside

// Keyed normals and uniforms (rng.hpp), consumed in order.
class Stream {
 public:
  Stream(std::uint64_t seed, std::uint32_t member)
      : g_(rng::make_key(seed, rng::Purpose::input, member, 0, 900)),
        u_(rng::make_key(seed, rng::Purpose::input, member, 0, 901)) {}
  double normal() {
    if (gi_ % 4 == 0) gb_ = rng::gaussian4d(rng::philox_block(g_, std::uint32_t(gi_ / 4)));
    return gb_.z[gi_++ % 4];
  }
  double uniform() {
    if (ui_ % 4 == 0) ub_ = rng::philox_block(u_, std::uint32_t(ui_ / 4));
    return rng::uniform_open_d(ub_.w[ui_++ % 4]);
  }
  // chi^2(k) = 2 Gamma(k / 2) by Marsaglia-Tsang (k >= 2).
  double chi2(double k) {
    const double d = k / 2 - 1.0 / 3.0, c = 1.0 / std::sqrt(9 * d);
    for (;;) {
      const double x = normal(), v0 = 1 + c * x;
      if (v0 <= 0) continue;
      const double v = v0 * v0 * v0, u = uniform();
      if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return 2 * d * v;
    }
  }

 private:
  rng::StreamKey g_, u_;
  std::uint64_t gi_ = 0, ui_ = 0;
  rng::Gauss4d gb_{};
  rng::Words4 ub_{};
};

Mat mul(const Mat& A, const Mat& B, int r, int k, int c) {  // (r x k)(k x c)
  Mat C(std::size_t(r) * c, 0.0);
  for (int i = 0; i < r; ++i)
    for (int j = 0; j < c; ++j) {
      double s = 0;
      for (int q = 0; q < k; ++q) s += A[i * k + q] * B[q * c + j];
      C[i * c + j] = s;
    }
  return C;
}
Mat tr(const Mat& A, int r, int c) {
  Mat T(A.size());
  for (int i = 0; i < r; ++i)
    for (int j = 0; j < c; ++j) T[j * r + i] = A[i * c + j];
  return T;
}
Mat chol(const Mat& A, int m) {
  Mat L(A.size(), 0.0);
  EXPECT_TRUE((kernels::sde_cholesky<0, kernels::kMaxSdeTokens>(A.data(), m, L.data())));
  return L;
}
Mat gaussian(Stream& s, int r, int c) {
  Mat G(std::size_t(r) * c);
  for (double& x : G) x = s.normal();
  return G;
}
// Bartlett factor: R R^T ~ Wishart_p(k, I).
Mat bartlett(Stream& s, int p, double k) {
  Mat R(std::size_t(p) * p, 0.0);
  for (int i = 0; i < p; ++i) {
    R[i * p + i] = std::sqrt(s.chi2(k - i));
    for (int j = 0; j < i; ++j) R[i * p + j] = s.normal();
  }
  return R;
}

struct Layer {
  int m, n, heads;
  double lambda, gamma, tau0, c_plus, c_minus;
};

// c M^T K^T + K M c^T and K (M M^T + W - shift I) K^T for K m x p, M p x m.
void value_terms(const Mat& c, const Mat& K, const Mat& M, const Mat& W, int m, int p, double shift,
                 Mat& cross, Mat& quad) {
  const Mat cMt = mul(c, tr(M, p, m), m, m, p);
  const Mat Kt = tr(K, m, p);
  const Mat x = mul(cMt, Kt, m, p, m);
  cross.assign(std::size_t(m) * m, 0.0);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j) cross[i * m + j] = x[i * m + j] + x[j * m + i];
  Mat S = mul(M, tr(M, p, m), p, m, p);
  for (int e = 0; e < p * p; ++e) S[e] += W[e];
  for (int i = 0; i < p; ++i) S[i * p + i] -= shift;
  quad = mul(mul(K, S, m, p, p), Kt, m, p, m);
}

// One attention layer from V; returns V' and (in cv) the zero-mean control
// variate. sign flips the logits (antithetic partner).
Mat attention_layer(const Layer& L, const Mat& V, Stream& s, double sign, const Mat& Gs,
                    const Mat& Rks, const Mat& M, const Mat& W, Mat* cv) {
  const int m = L.m, H = L.heads, p = H * m;
  const Mat c = chol(V, m);
  const double tau = L.tau0 * std::sqrt(double(L.n) * L.n);  // n_k = n
  Mat K(std::size_t(m) * p), K0(std::size_t(m) * p);
  for (int h = 0; h < H; ++h) {
    Mat G(Gs.begin() + h * m * m, Gs.begin() + (h + 1) * m * m);
    for (double& x : G) x *= sign;
    const Mat Rk(Rks.begin() + h * m * m, Rks.begin() + (h + 1) * m * m);
    const Mat Y = mul(mul(mul(c, G, m, m, m), tr(Rk, m, m), m, m, m), tr(c, m, m), m, m, m);
    Mat A(std::size_t(m) * m);
    for (int i = 0; i < m; ++i) {
      double mx = -1e300, z = 0;
      for (int j = 0; j < m; ++j) mx = std::max(mx, Y[i * m + j] / tau);
      for (int j = 0; j < m; ++j) z += std::exp(Y[i * m + j] / tau - mx);
      for (int j = 0; j < m; ++j)
        A[i * m + j] = (i == j) + std::exp(Y[i * m + j] / tau - mx) / z - 1.0 / m;
    }
    const Mat Ac = mul(A, c, m, m, m);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) {
        K[i * p + h * m + j] = Ac[i * m + j];
        K0[i * p + h * m + j] = c[i * m + j];
      }
  }
  (void)s;
  const double l2 = L.lambda * L.lambda, g2 = L.gamma * L.gamma, n = L.n;
  const double kc = L.lambda * L.gamma / std::sqrt(H * n), kq = g2 / (H * n);
  Mat cross, quad, out(std::size_t(m) * m);
  value_terms(c, K, M, W, m, p, 0.0, cross, quad);
  for (int e = 0; e < m * m; ++e) out[e] = l2 * V[e] + kc * cross[e] + kq * quad[e];
  if (cv) {
    value_terms(c, K0, M, W, m, p, n, cross, quad);
    cv->resize(std::size_t(m) * m);
    for (int e = 0; e < m * m; ++e) (*cv)[e] = kc * cross[e] + kq * quad[e];
  }
  return out;
}

// The random inputs of one attention layer (shared by an antithetic pair).
struct AttentionDraw {
  Mat G, Rk, M, W;
};
AttentionDraw draw_attention(const Layer& L, Stream& s) {
  const int m = L.m, p = L.heads * m;
  AttentionDraw d;
  for (int h = 0; h < L.heads; ++h) {
    const Mat G = gaussian(s, m, m), R = bartlett(s, m, L.n);
    d.G.insert(d.G.end(), G.begin(), G.end());
    d.Rk.insert(d.Rk.end(), R.begin(), R.end());
  }
  d.M = gaussian(s, p, m);
  const Mat R = bartlett(s, p, L.n - m);
  d.W = mul(R, tr(R, p, p), p, p, p);
  return d;
}

// One shaped-MLP layer from V; cv gets the zero-mean control variate.
Mat mlp_layer(const Layer& L, const Mat& V, Stream& s, Mat* cv) {
  const int m = L.m, n = L.n;
  const Mat c = chol(V, m);
  const double sp = 1 + L.c_plus / std::sqrt(double(n)), sm = 1 + L.c_minus / std::sqrt(double(n));
  const double cs = 2 / (sp * sp + sm * sm), a = L.gamma * std::sqrt(cs / n);
  Mat HH(std::size_t(m) * m, 0.0), UU(std::size_t(m) * m, 0.0);
  std::vector<double> z(m), u(m), h(m);
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < m; ++i) z[i] = s.normal();
    for (int i = 0; i < m; ++i) {
      double acc = 0;
      for (int k = 0; k <= i; ++k) acc += c[i * m + k] * z[k];
      u[i] = acc;
      h[i] = acc > 0 ? sp * acc : sm * acc;
    }
    for (int i = 0; i < m; ++i)
      for (int k = 0; k < m; ++k) {
        HH[i * m + k] += h[i] * h[k];
        UU[i * m + k] += u[i] * u[k];
      }
  }
  const Mat D = chol(HH, m), M = gaussian(s, m, m), R = bartlett(s, m, n - m);
  const Mat W = mul(R, tr(R, m, m), m, m, m);
  const double l2 = L.lambda * L.lambda, kc = L.lambda * a / std::sqrt(double(n)), kq = a * a / n;
  Mat cross, quad, out(std::size_t(m) * m);
  value_terms(c, D, M, W, m, m, 0.0, cross, quad);
  for (int e = 0; e < m * m; ++e) out[e] = l2 * V[e] + kc * cross[e] + kq * quad[e];
  if (cv) {
    value_terms(c, D, M, W, m, m, n, cross, quad);
    cv->resize(std::size_t(m) * m);
    const double g2 = L.gamma * L.gamma;
    for (int e = 0; e < m * m; ++e)
      (*cv)[e] = kc * cross[e] + kq * quad[e] + g2 * (UU[e] / n - V[e]);
  }
  return out;
}

// Upper-triangle index list.
std::vector<std::pair<int, int>> upper(int m) {
  std::vector<std::pair<int, int>> u;
  for (int a = 0; a < m; ++a)
    for (int b = a; b < m; ++b) u.push_back({a, b});
  return u;
}

// Sigma_(ab),(cd) of the kernels' noise: N is linear in the unit
// increments of dB1 (dS = dB1 + dB1^T) and dB2.
Mat code_sigma(const Mat& V, int m, const kernels::SdeCoefficients& c) {
  const Mat Lf = chol(V, m);
  const auto up = upper(m);
  const int u = int(up.size());
  Mat sigma(std::size_t(u) * u, 0.0);
  for (int which = 0; which < 2; ++which)
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) {
        Mat S(std::size_t(m) * m, 0.0), B2(std::size_t(m) * m, 0.0), N(std::size_t(m) * m);
        if (which == 0) {
          S[i * m + j] += 1;
          S[j * m + i] += 1;
        } else {
          B2[i * m + j] = 1;
        }
        kernels::sde_noise<0, kernels::kMaxSdeTokens>(V.data(), Lf.data(), m, c, S.data(),
                                                      B2.data(), N.data());
        for (int x = 0; x < u; ++x)
          for (int y = 0; y < u; ++y)
            sigma[x * u + y] +=
                N[up[x].first * m + up[x].second] * N[up[y].first * m + up[y].second];
      }
  return sigma;
}

enum class Block { attention, mlp, both };

struct Moments1 {
  std::vector<double> drift, drift_se;  // per upper entry
  Mat cov, cov_se;                      // n Cov, per upper pair
};

Moments1 finite_moments(const Layer& L, const Mat& V, Block block, int samples,
                        std::uint64_t seed) {
  const int m = L.m;
  const auto up = upper(m);
  const int u = int(up.size());
  std::vector<std::vector<double>> dmean(u), raw(u);
  for (int t = 0; t < samples; ++t) {
    Stream s(seed, std::uint32_t(t));
    double est[64], inc[64];
    Mat pair[2], cvs[2];
    const AttentionDraw d = block == Block::mlp ? AttentionDraw{} : draw_attention(L, s);
    for (int k = 0; k < 2; ++k) {
      Mat cv_a(std::size_t(m) * m, 0.0), cv_m(std::size_t(m) * m, 0.0);
      Mat X = V;
      if (block != Block::mlp)
        X = attention_layer(L, V, s, k == 0 ? 1.0 : -1.0, d.G, d.Rk, d.M, d.W, &cv_a);
      if (block != Block::attention) {
        Stream sm(seed + 1000003 * (k + 1), std::uint32_t(t));  // own draws per partner
        X = mlp_layer(L, X, sm, &cv_m);
      }
      pair[k] = X;
      cvs[k] = cv_a;
      for (int e = 0; e < m * m; ++e) cvs[k][e] += cv_m[e];
      if (block == Block::mlp) break;  // no antithetic partner without logits
    }
    const int parts = block == Block::mlp ? 1 : 2;
    for (int x = 0; x < u; ++x) {
      const int e = up[x].first * m + up[x].second;
      double acc = 0;
      for (int k = 0; k < parts; ++k) acc += double(L.n) * (pair[k][e] - V[e] - cvs[k][e]);
      est[x] = acc / parts;
      inc[x] = pair[0][e] - V[e];
      dmean[x].push_back(est[x]);
      raw[x].push_back(inc[x]);
    }
  }
  Moments1 r;
  const double N = samples;
  std::vector<double> mu(u);
  for (int x = 0; x < u; ++x) {
    double s1 = 0, s2 = 0, q = 0;
    for (double v : dmean[x]) s1 += v, s2 += v * v;
    r.drift.push_back(s1 / N);
    r.drift_se.push_back(std::sqrt((s2 / N - (s1 / N) * (s1 / N)) / N));
    for (double v : raw[x]) q += v;
    mu[x] = q / N;
  }
  r.cov.assign(std::size_t(u) * u, 0.0);
  r.cov_se.assign(std::size_t(u) * u, 0.0);
  for (int x = 0; x < u; ++x)
    for (int y = 0; y < u; ++y) {
      double s1 = 0, s2 = 0;
      for (int t = 0; t < samples; ++t) {
        const double v = (raw[x][t] - mu[x]) * (raw[y][t] - mu[y]) * L.n;
        s1 += v, s2 += v * v;
      }
      r.cov[x * u + y] = s1 / N;
      r.cov_se[x * u + y] = std::sqrt((s2 / N - (s1 / N) * (s1 / N)) / N);
    }
  return r;
}

struct Case {
  const char* name;
  Block block;
  Layer layer;
  int samples;
};

kernels::SdeCoefficients coefficients_for(const Case& k, const Mat& V) {
  SdeSpec s;
  s.model.tokens = k.layer.m;
  s.model.width = k.layer.n;
  s.model.depth = 1;
  s.model.heads = k.layer.heads;
  s.model.tau0 = k.layer.tau0;
  s.model.lambda = k.layer.lambda;
  s.model.gamma = k.layer.gamma;
  s.model.c_plus = k.layer.c_plus;
  s.model.c_minus = k.layer.c_minus;
  s.dynamics = k.block == Block::attention ? SdeDynamics::attention
               : k.block == Block::mlp     ? SdeDynamics::mlp
                                           : SdeDynamics::both;
  s.input.kind = InputSpec::Kind::gram;
  s.input.gram = V;
  return kernels::sde_coefficients(resolve_sde(s));
}

// max over entries of |x - y| / (5 se + rel * scale): <= 1 passes.
double worst(const std::vector<double>& x, const std::vector<double>& y,
             const std::vector<double>& se, double rel) {
  double scale = 0, w = 0;
  for (double v : y) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < x.size(); ++i)
    w = std::max(w, std::abs(x[i] - y[i]) / (5 * se[i] + rel * scale));
  return w;
}

// Tolerances: 5 MC standard errors per entry (Bonferroni over <= 21 + 6
// entries per case gives a false-failure rate < 2e-5) plus a finite-width
// allowance of 4% of the largest entry (corrections are O(n^-1/2) relative:
// e.g. the shaped ReLU's exact kernel gives n (c E[s s] - V)_02 = 0.413 at
// n = 1024 against the limit nu term 0.388, which the MC reproduces). A formula that is wrong by a
// missing term or a factor is off by more; each case checks that the planted errors below would
// fail.
TEST(SdeOneStep, DriftAndDiffusionMatchOneFiniteLayer) {
  const Mat V = {1.3, 0.4, -0.2, 0.4, 0.9, 0.3, -0.2, 0.3, 0.6};
  const double lam = std::sqrt(0.5), gam = std::sqrt(0.5);
  const Case cases[] = {
      {"attention", Block::attention, {3, 1024, 2, lam, gam, 0.5, 0.0, -2.0}, 60000},
      {"mlp", Block::mlp, {3, 1024, 1, lam, gam, 0.5, 0.0, -2.0}, 30000},
      {"both", Block::both, {3, 1024, 2, lam, gam, 0.5, 0.0, -2.0}, 30000},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    const int m = k.layer.m;
    const auto up = upper(m);
    const kernels::SdeCoefficients c = coefficients_for(k, V);
    Mat b(std::size_t(m) * m);
    kernels::sde_drift<0, kernels::kMaxSdeTokens>(V.data(), m, c, b.data());
    std::vector<double> drift;
    for (auto [a, bb] : up) drift.push_back(b[a * m + bb]);
    const Mat sigma = code_sigma(V, m, c);
    const Moments1 f = finite_moments(k.layer, V, k.block, k.samples, 77);
    for (std::size_t x = 0; x < up.size(); ++x)
      std::printf(
          "%-9s b[%d%d] sde %+.4f finite %+.4f +- %.4f   Sigma[%d%d,%d%d] sde %.4f finite %.4f +- "
          "%.4f\n",
          k.name, up[x].first, up[x].second, drift[x], f.drift[x], f.drift_se[x], up[x].first,
          up[x].second, up[x].first, up[x].second, sigma[x * up.size() + x],
          f.cov[x * up.size() + x], f.cov_se[x * up.size() + x]);
    EXPECT_LE(worst(f.drift, drift, f.drift_se, 0.04), 1.0) << "drift";
    EXPECT_LE(worst(f.cov, sigma, f.cov_se, 0.04), 1.0) << "diffusion";

    // Power: planted errors fail the same comparison.
    if (k.block != Block::mlp) {
      kernels::SdeCoefficients no2 = c;
      no2.attn_noise = 0;  // drop the logit noise term
      EXPECT_GT(worst(f.cov, code_sigma(V, m, no2), f.cov_se, 0.04), 1.0) << "planted: no c2";
      kernels::SdeCoefficients nod = c;
      nod.attn_drift *= 0.7;
      Mat b2(std::size_t(m) * m);
      kernels::sde_drift<0, kernels::kMaxSdeTokens>(V.data(), m, nod, b2.data());
      std::vector<double> d2;
      for (auto [a, bb] : up) d2.push_back(b2[a * m + bb]);
      EXPECT_GT(worst(f.drift, d2, f.drift_se, 0.04), 1.0) << "planted: attention drift x0.7";
    }
    if (k.block != Block::attention) {
      // models.md's MLP noise (kappa 1 at gamma = 1, i.e. gamma^2 here) is
      // that of a one-matrix MLP; the block has two weight matrices.
      kernels::SdeCoefficients half = c;
      half.kappa -= k.layer.gamma * k.layer.gamma;
      EXPECT_GT(worst(f.cov, code_sigma(V, m, half), f.cov_se, 0.04), 1.0)
          << "planted: one-matrix MLP noise";
      kernels::SdeCoefficients weak = c;
      weak.mlp_drift *= 0.7;
      Mat b3(std::size_t(m) * m);
      kernels::sde_drift<0, kernels::kMaxSdeTokens>(V.data(), m, weak, b3.data());
      std::vector<double> d3;
      for (auto [a, bb] : up) d3.push_back(b3[a * m + bb]);
      EXPECT_GT(worst(f.drift, d3, f.drift_se, 0.04), 1.0) << "planted: MLP drift x0.7";
    }
  }
}

}  // namespace
}  // namespace attnmc
