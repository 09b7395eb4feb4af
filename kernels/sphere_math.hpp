// Per-trajectory math of the stochastic Transformer on the sphere (models.md
// section 2), usable on host and device. One trajectory owns a workspace of
// sphere_workspace_doubles() doubles; every function works on one trajectory.
//
// One step (dt, s = sigma sqrt(dt), all tokens moved simultaneously):
//   a_i = sum_j softmax_j(beta <x_i, M x_j>) x_j            (M = Q^T K, default I)
//   v_i = V a_i,  V a d x d matrix of i.i.d. N(0, 1) shared by all tokens
//   network:    x_i <- normalise(x_i + s v_i)
//   projected:  x_i <- normalise(x_i + s P v_i - c |a_i|^2 x_i dt),  c = sigma^2 (d - 1) / 2
//   geometric:  x_i <- exp_{x_i}(s P v_i)   (great-circle step, P = I - x_i x_i^T)
//   flow:       x_i <- exp_{x_i}(dt P a_i)  (no noise)
// All three noisy schemes are weak order-1 schemes of the Ito SDE
//   dx_i = sigma P dW a_i - c |a_i|^2 x_i dt:
// expanding normalise(x + xi) or exp_x(P xi) to second order in xi gives the
// tangent noise P xi plus the normal drift -|P xi|^2 x / 2, whose mean is
// exactly the Ito term -c |a_i|^2 x_i dt (E |P V a|^2 = (d - 1) |a|^2).
// The explicit drift in the projected scheme is removed again by the
// normalisation to first order; it is kept so that the scheme is the
// textbook "EM step, then project".
#pragma once

#include <math.h>

#include <cstddef>
#include <cstdint>

#include "attnmc/hd.hpp"
#include "attnmc/rng.hpp"
#include "kernels/gaussian_lanes.hpp"
#include "kernels/poly_math.hpp"

namespace attnmc::kernels {

// Largest N the per-trajectory classification keeps on the stack.
constexpr int kMaxSphereTokens = 64;

enum SphereSchemeCode : int {
  kSphereNetwork = 0,
  kSphereProjected = 1,
  kSphereGeometric = 2,
  kSphereFlow = 3
};

// Random-number slots inside one step (rng::Purpose::sphere, layer = step).
constexpr std::uint32_t kSphereSlotNoise = 0;  // layer = step (1-based)
constexpr std::uint32_t kSphereSlotStart = 1;  // layer = 0: uniform start tokens

struct SphereCoefficients {
  int n = 2;  // tokens N
  int d = 3;  // dimension
  int scheme = kSphereGeometric;
  bool reduced = false;  // reduced (Gram-Schmidt) noise, exact in law
  bool has_qk = false;
  std::int64_t steps = 0;
  double dt = 0.0, beta = 1.0, sigma = 1.0, eps = 1e-3;
};

// Workspace of one trajectory, carved from a flat double array.
struct SphereWork {
  double* x;   // N x d tokens
  double* a;   // N x d attention outputs a_i
  double* kx;  // N x d keys M x_j (only with Q^T K)
  double* z;   // d x d noise matrix, or r x d rows z_k (reduced)
  double* qb;  // r x d orthonormal basis of span{a_i} (reduced)
  double* r;   // N x N coefficients a_i = sum_k r[k N + i] qb_k (reduced)
  double* v;   // d
  double* w;   // N softmax weights
};

ATTNMC_HD inline std::size_t sphere_workspace_doubles(const SphereCoefficients& c) {
  const std::size_t n = c.n, d = c.d, r = n < d ? n : d;
  return 3 * n * d + d * d + r * d + n * n + d + n;
}

ATTNMC_HD inline SphereWork sphere_work(double* base, const SphereCoefficients& c) {
  const std::size_t n = c.n, d = c.d, r = n < d ? n : d;
  SphereWork w;
  w.x = base;
  w.a = w.x + n * d;
  w.kx = w.a + n * d;
  w.z = w.kx + n * d;
  w.qb = w.z + d * d;
  w.r = w.qb + r * d;
  w.v = w.r + n * n;
  w.w = w.v + d;
  return w;
}

ATTNMC_HD inline double dot(const double* u, const double* v, int d) {
  double s = 0.0;
  for (int p = 0; p < d; ++p) s += u[p] * v[p];
  return s;
}

// x <- x / |x| (a zero vector stays zero and shows up as a norm error).
ATTNMC_HD inline void normalise(double* x, int d) {
  double s = dot(x, x, d);
  if (!(s > 1e-280 && s < 1e280)) {
    // |x|^2 over- or underflows (a huge sigma): scale by the largest entry
    // first. A zero or non-finite token cannot be normalised: it becomes NaN,
    // so the trajectory is counted non-finite instead of passing as a token.
    double m = 0.0;
    for (int p = 0; p < d; ++p) m = fmax(m, fabs(x[p]));
    if (!(m > 0.0) || !isfinite(m) || isnan(s)) {
      for (int p = 0; p < d; ++p) x[p] = NAN;
      return;
    }
    for (int p = 0; p < d; ++p) x[p] /= m;
    s = dot(x, x, d);
  }
  const double inv = 1.0 / sqrt(s);
  for (int p = 0; p < d; ++p) x[p] *= inv;
}

// `count` standard normals of stream `key` into out: the float transform
// (rng.hpp, within ~5e-6 of the double one), vectorised across blocks
// (kernels/gaussian_lanes.hpp); the state they move stays double.
ATTNMC_HD inline void fill_normals(const rng::StreamKey& key, double* out, int count) {
  gaussian_fill(key, out, count);
}

// a_i = sum_j softmax_j(beta <x_i, M x_j>) x_j for every token (stable softmax).
// exp and sincos come from kernels/poly_math.hpp (not libm), so that the
// lanes (kernels/sphere_lanes.hpp) vectorise them and keep these bits.
ATTNMC_HD inline void sphere_attention(const SphereWork& w, const SphereCoefficients& c,
                                       const double* qk) {
  const int n = c.n, d = c.d;
  const double* keys = w.x;
  if (c.has_qk) {
    for (int j = 0; j < n; ++j)
      for (int p = 0; p < d; ++p) w.kx[j * d + p] = dot(qk + p * d, w.x + j * d, d);
    keys = w.kx;
  }
  for (int i = 0; i < n; ++i) {
    const double* xi = w.x + i * d;
    double mx = -HUGE_VAL;
    for (int j = 0; j < n; ++j) {
      w.w[j] = c.beta * dot(xi, keys + j * d, d);
      mx = max_num(mx, w.w[j]);
    }
    double s = 0.0;
    for (int j = 0; j < n; ++j) {
      w.w[j] = exp_poly(w.w[j] - mx);  // kernels/poly_math.hpp: the lanes' bits
      s += w.w[j];
    }
    double* ai = w.a + i * d;
    for (int p = 0; p < d; ++p) ai[p] = 0.0;
    for (int j = 0; j < n; ++j) {
      const double wj = w.w[j] / s;
      const double* xj = w.x + j * d;
      for (int p = 0; p < d; ++p) ai[p] += wj * xj[p];
    }
  }
}

// Reduced noise set-up: modified Gram-Schmidt (twice, for orthogonality) of
// a_1..a_N into rows qb_k with a_i = sum_k r[k N + i] qb_k. Returns the rank r.
// Then V a_i = sum_k r_ki (V qb_k) and the V qb_k are i.i.d. N(0, I_d).
ATTNMC_HD inline int sphere_reduce(const SphereWork& w, const SphereCoefficients& c) {
  const int n = c.n, d = c.d;
  int rank = 0;
  for (int i = 0; i < n * n; ++i) w.r[i] = 0.0;
  for (int i = 0; i < n; ++i) {
    for (int p = 0; p < d; ++p) w.v[p] = w.a[i * d + p];
    for (int pass = 0; pass < 2; ++pass)
      for (int k = 0; k < rank; ++k) {
        const double h = dot(w.qb + k * d, w.v, d);
        w.r[k * n + i] += h;
        for (int p = 0; p < d; ++p) w.v[p] -= h * w.qb[k * d + p];
      }
    const double nrm = sqrt(dot(w.v, w.v, d));
    if (rank < d && nrm > 0.0) {
      for (int p = 0; p < d; ++p) w.qb[rank * d + p] = w.v[p] / nrm;
      w.r[rank * n + i] = nrm;
      ++rank;
    }
  }
  return rank;
}

// Normals a step may draw: the d x d matrix V, or (reduced) at most
// min(N, d) rows z_k of d. Element e of the step's stream is the same normal
// whichever count is drawn, so drawing more than a step uses changes nothing.
ATTNMC_HD inline int sphere_noise_capacity(const SphereCoefficients& c) {
  return c.reduced ? (c.n < c.d ? c.n : c.d) * c.d : c.d * c.d;
}

// The step's noise stream (rng::Purpose::sphere, layer = step).
ATTNMC_HD inline rng::StreamKey sphere_noise_key(std::uint64_t seed, std::uint32_t member,
                                                 std::uint32_t step) {
  return rng::make_key(seed, rng::Purpose::sphere, member, step, kSphereSlotNoise);
}

// Before the draw (attention already in w.a): the reduced basis and its rank
// (reduced noise), or 0 (matrix noise). The step then needs
// sphere_noise_count normals in w.z.
ATTNMC_HD inline int sphere_prepare_noise(const SphereWork& w, const SphereCoefficients& c) {
  return c.reduced ? sphere_reduce(w, c) : 0;
}
ATTNMC_HD inline int sphere_noise_count(const SphereCoefficients& c, int rank) {
  return c.reduced ? rank * c.d : c.d * c.d;
}

// Draws the step's noise: the d x d matrix V, or (reduced) r x d rows z_k.
// Returns the reduced rank (0 for matrix noise).
ATTNMC_HD inline int sphere_draw_noise(const SphereWork& w, const SphereCoefficients& c,
                                       std::uint64_t seed, std::uint32_t member,
                                       std::uint32_t step) {
  const int rank = sphere_prepare_noise(w, c);
  fill_normals(sphere_noise_key(seed, member, step), w.z, sphere_noise_count(c, rank));
  return rank;
}

// v = V a_i (unit-variance entries) for token i into w.v.
ATTNMC_HD inline void sphere_noise_of(const SphereWork& w, const SphereCoefficients& c, int rank,
                                      int i) {
  const int n = c.n, d = c.d;
  const double* ai = w.a + i * d;
  if (!c.reduced) {
    for (int p = 0; p < d; ++p) w.v[p] = dot(w.z + p * d, ai, d);
    return;
  }
  for (int p = 0; p < d; ++p) w.v[p] = 0.0;
  for (int k = 0; k < rank; ++k) {
    const double rk = w.r[k * n + i];
    for (int p = 0; p < d; ++p) w.v[p] += rk * w.z[k * d + p];
  }
}

// x <- exp_x(t) = cos|t| x + sin|t| t / |t| for t tangent at x.
ATTNMC_HD inline void sphere_exp(double* x, const double* t, int d) {
  const double th = sqrt(dot(t, t, d));
  if (!(th > 0.0)) return;
  double sn, cs;
  sincos_poly(th, &sn, &cs);  // kernels/poly_math.hpp: the lanes' bits
  sn = sn / th;
  for (int p = 0; p < d; ++p) x[p] = cs * x[p] + sn * t[p];
  // |x'| = 1 exactly in real arithmetic; renormalising removes only rounding,
  // which would otherwise random-walk over long horizons.
  normalise(x, d);
}

// One step of the scheme for every token, the noise already drawn (w.z,
// `rank` from sphere_prepare_noise; nothing for the flow).
ATTNMC_HD inline void sphere_step_drawn(const SphereWork& w, const SphereCoefficients& c,
                                        int rank) {
  const int n = c.n, d = c.d;
  const double s = c.sigma * sqrt(c.dt);
  const double ito = 0.5 * c.sigma * c.sigma * double(d - 1) * c.dt;
  for (int i = 0; i < n; ++i) {
    double* xi = w.x + i * d;
    const double* ai = w.a + i * d;
    if (c.scheme == kSphereFlow) {
      const double h = dot(xi, ai, d);
      for (int p = 0; p < d; ++p) w.v[p] = c.dt * (ai[p] - h * xi[p]);
      sphere_exp(xi, w.v, d);
      continue;
    }
    sphere_noise_of(w, c, rank, i);
    if (c.scheme == kSphereNetwork) {
      for (int p = 0; p < d; ++p) xi[p] += s * w.v[p];
      normalise(xi, d);
      continue;
    }
    const double h = dot(xi, w.v, d);
    for (int p = 0; p < d; ++p) w.v[p] = s * (w.v[p] - h * xi[p]);  // tangent noise
    if (c.scheme == kSphereGeometric) {
      sphere_exp(xi, w.v, d);
    } else {
      const double shrink = 1.0 - ito * dot(ai, ai, d);
      for (int p = 0; p < d; ++p) xi[p] = shrink * xi[p] + w.v[p];
      normalise(xi, d);
    }
  }
}

// One step of the scheme for every token (attention already in w.a),
// drawing its own noise.
ATTNMC_HD inline void sphere_step(const SphereWork& w, const SphereCoefficients& c,
                                  std::uint64_t seed, std::uint32_t member, std::uint32_t step) {
  const int rank = c.scheme == kSphereFlow ? 0 : sphere_draw_noise(w, c, seed, member, step);
  sphere_step_drawn(w, c, rank);
}

// Terminal classification. Clusters are the connected components of the graph
// <x_i, x_j> > 1 - eps; collapse = one cluster; antipodal = two clusters whose
// cross inner products are all < -1 + eps; other = the rest. Non-finite tokens
// give SphereOutcome::nonfinite (3) and 0 clusters. *norm_error receives
// max_i | |x_i|^2 - 1 |.
ATTNMC_HD inline int sphere_classify(const double* x, int n, int d, double eps, int* clusters,
                                     double* norm_error) {
  double err = 0.0;
  for (int i = 0; i < n * d; ++i)
    if (!isfinite(x[i])) {
      *clusters = 0;
      *norm_error = HUGE_VAL;
      return 3;
    }
  for (int i = 0; i < n; ++i) err = fmax(err, fabs(dot(x + i * d, x + i * d, d) - 1.0));
  *norm_error = err;
  int label[kMaxSphereTokens];
  for (int i = 0; i < n; ++i) label[i] = i;
  // Invariant: token L carries label L for every label L in use.
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      if (!(dot(x + i * d, x + j * d, d) > 1.0 - eps)) continue;
      const int li = label[i], lj = label[j];
      if (li == lj) continue;
      for (int k = 0; k < n; ++k)
        if (label[k] == lj) label[k] = li;
    }
  int k = 0;
  for (int i = 0; i < n; ++i) k += label[i] == i ? 1 : 0;
  *clusters = k;
  if (k == 1) return 0;
  if (k != 2) return 2;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      if (label[i] != label[j] && !(dot(x + i * d, x + j * d, d) < -1.0 + eps)) return 2;
  return 1;
}

// Start of trajectory `member`: the shared x0, or i.i.d. uniform tokens.
ATTNMC_HD inline void sphere_start_tokens(const SphereWork& w, const SphereCoefficients& c,
                                          const double* x0, std::uint64_t seed,
                                          std::uint32_t member) {
  const int n = c.n, d = c.d;
  if (x0 != nullptr) {
    for (int e = 0; e < n * d; ++e) w.x[e] = x0[e];
    return;
  }
  fill_normals(rng::make_key(seed, rng::Purpose::sphere, member, 0, kSphereSlotStart), w.x, n * d);
  for (int i = 0; i < n; ++i) normalise(w.x + i * d, d);
}

}  // namespace attnmc::kernels
