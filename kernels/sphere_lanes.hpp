// One step of the sphere model (kernels/sphere_math.hpp) for L trajectories
// at once, laid out as structure of arrays: X[e][l] is entry e (token i,
// coordinate p: e = i d + p) of lane l. Inner loops run over lanes, so the
// d-vector arithmetic is vectorised across trajectories.
//
// Same bits as sphere_attention + sphere_step_drawn, lane by lane: each lane
// performs the scalar code's operations in the same order (+, -, *, / and
// sqrt are exact in IEEE; the build turns contraction off); the libm calls
// (exp of the softmax, cos and sin of the great circle) are made one lane at
// a time, the same functions as the scalar code; the rare branch of
// normalise (|x|^2 out of range) runs the scalar function on that lane.
// Covers matrix noise without Q^T K, d <= 64 (sphere_lanes_supported); other
// configurations take the one-trajectory path. tests/test_sphere_lanes.cpp
// pins the bits.
#pragma once

#include <math.h>

#include "attnmc/hd.hpp"
#include "kernels/sphere_math.hpp"

namespace attnmc::kernels {

// Largest d of the lane path (its d-vectors of lanes live on the stack).
constexpr int kMaxSphereLaneDim = 64;

ATTNMC_HD inline bool sphere_lanes_supported(const SphereCoefficients& c) {
  return !c.reduced && !c.has_qk && c.d <= kMaxSphereLaneDim;
}

// Doubles of a group's structure-of-arrays state, per lane: tokens x, outputs
// a, noise matrix z, a d-vector and N softmax weights (no more than the
// one-trajectory workspace, sphere_workspace_doubles).
ATTNMC_HD inline std::size_t sphere_lane_doubles(const SphereCoefficients& c) {
  const std::size_t n = c.n, d = c.d;
  return 2 * n * d + d * d + d + n;
}

// normalise() of vector x (d entries, stride one lane) in every lane.
template <int L>
ATTNMC_HD inline void normalise_lanes(double (*x)[L], int d) {
  double s[L];
  bool rare[L];
  for (int l = 0; l < L; ++l) s[l] = 0.0;
  for (int p = 0; p < d; ++p)
    for (int l = 0; l < L; ++l) s[l] += x[p][l] * x[p][l];
  bool any = false;
  for (int l = 0; l < L; ++l) {
    rare[l] = !(s[l] > 1e-280 && s[l] < 1e280);
    any = any | rare[l];
  }
  double inv[L];
  for (int l = 0; l < L; ++l) inv[l] = 1.0 / sqrt(rare[l] ? 1.0 : s[l]);
  for (int p = 0; p < d; ++p)
    for (int l = 0; l < L; ++l) x[p][l] = rare[l] ? x[p][l] : x[p][l] * inv[l];
  if (!any) return;
  for (int l = 0; l < L; ++l) {
    if (!rare[l]) continue;
    double v[kMaxSphereLaneDim];
    for (int p = 0; p < d; ++p) v[p] = x[p][l];
    normalise(v, d);
    for (int p = 0; p < d; ++p) x[p][l] = v[p];
  }
}

// sphere_exp: x <- exp_x(t) in every lane (a lane with |t| = 0 is left alone).
template <int L>
ATTNMC_HD inline void sphere_exp_lanes(double (*x)[L], const double (*t)[L], int d) {
  double th[L], cs[L], sn[L];
  bool move[L];
  for (int l = 0; l < L; ++l) th[l] = 0.0;
  for (int p = 0; p < d; ++p)
    for (int l = 0; l < L; ++l) th[l] += t[p][l] * t[p][l];
  for (int l = 0; l < L; ++l) th[l] = sqrt(th[l]);
  for (int l = 0; l < L; ++l) {  // libm, one lane at a time
    move[l] = th[l] > 0.0;
    cs[l] = move[l] ? cos(th[l]) : 1.0;
    sn[l] = move[l] ? sin(th[l]) / th[l] : 0.0;
  }
  for (int p = 0; p < d; ++p)
    for (int l = 0; l < L; ++l) x[p][l] = move[l] ? cs[l] * x[p][l] + sn[l] * t[p][l] : x[p][l];
  // Renormalise the lanes that moved; the others keep their bits.
  double keep[kMaxSphereLaneDim][L];
  bool all = true;
  for (int l = 0; l < L; ++l) all = all & move[l];
  if (!all)
    for (int p = 0; p < d; ++p)
      for (int l = 0; l < L; ++l) keep[p][l] = x[p][l];
  normalise_lanes<L>(x, d);
  if (!all)
    for (int p = 0; p < d; ++p)
      for (int l = 0; l < L; ++l) x[p][l] = move[l] ? x[p][l] : keep[p][l];
}

// sphere_attention then sphere_step_drawn (matrix noise in Z[p d + q][l]
// unless the flow), for every lane. W holds N x L weights, Vv d x L.
template <int L>
ATTNMC_HD inline void sphere_step_lanes(double (*X)[L], double (*A)[L], const double (*Z)[L],
                                        double (*Vv)[L], double (*W)[L],
                                        const SphereCoefficients& c) {
  const int n = c.n, d = c.d;
  // Attention: a_i = sum_j softmax_j(beta <x_i, x_j>) x_j.
  for (int i = 0; i < n; ++i) {
    double mx[L], s[L];
    for (int l = 0; l < L; ++l) mx[l] = -HUGE_VAL;
    for (int j = 0; j < n; ++j) {
      double dt[L];
      for (int l = 0; l < L; ++l) dt[l] = 0.0;
      for (int p = 0; p < d; ++p)
        for (int l = 0; l < L; ++l) dt[l] += X[i * d + p][l] * X[j * d + p][l];
      for (int l = 0; l < L; ++l) {
        W[j][l] = c.beta * dt[l];
        mx[l] = fmax(mx[l], W[j][l]);
      }
    }
    for (int l = 0; l < L; ++l) s[l] = 0.0;
    for (int j = 0; j < n; ++j)
      for (int l = 0; l < L; ++l) {  // libm, one lane at a time
        W[j][l] = exp(W[j][l] - mx[l]);
        s[l] += W[j][l];
      }
    for (int p = 0; p < d; ++p)
      for (int l = 0; l < L; ++l) A[i * d + p][l] = 0.0;
    for (int j = 0; j < n; ++j) {
      double wj[L];
      for (int l = 0; l < L; ++l) wj[l] = W[j][l] / s[l];
      for (int p = 0; p < d; ++p)
        for (int l = 0; l < L; ++l) A[i * d + p][l] += wj[l] * X[j * d + p][l];
    }
  }
  const double sg = c.sigma * sqrt(c.dt);
  const double ito = 0.5 * c.sigma * c.sigma * double(d - 1) * c.dt;
  for (int i = 0; i < n; ++i) {
    double(*xi)[L] = X + i * d;
    const double(*ai)[L] = A + i * d;
    if (c.scheme == kSphereFlow) {
      double h[L];
      for (int l = 0; l < L; ++l) h[l] = 0.0;
      for (int p = 0; p < d; ++p)
        for (int l = 0; l < L; ++l) h[l] += xi[p][l] * ai[p][l];
      for (int p = 0; p < d; ++p)
        for (int l = 0; l < L; ++l) Vv[p][l] = c.dt * (ai[p][l] - h[l] * xi[p][l]);
      sphere_exp_lanes<L>(xi, Vv, d);
      continue;
    }
    // v = V a_i (sphere_noise_of, matrix noise).
    for (int p = 0; p < d; ++p) {
      double acc[L];
      for (int l = 0; l < L; ++l) acc[l] = 0.0;
      for (int q = 0; q < d; ++q)
        for (int l = 0; l < L; ++l) acc[l] += Z[p * d + q][l] * ai[q][l];
      for (int l = 0; l < L; ++l) Vv[p][l] = acc[l];
    }
    if (c.scheme == kSphereNetwork) {
      for (int p = 0; p < d; ++p)
        for (int l = 0; l < L; ++l) xi[p][l] += sg * Vv[p][l];
      normalise_lanes<L>(xi, d);
      continue;
    }
    double h[L];
    for (int l = 0; l < L; ++l) h[l] = 0.0;
    for (int p = 0; p < d; ++p)
      for (int l = 0; l < L; ++l) h[l] += xi[p][l] * Vv[p][l];
    for (int p = 0; p < d; ++p)
      for (int l = 0; l < L; ++l) Vv[p][l] = sg * (Vv[p][l] - h[l] * xi[p][l]);
    if (c.scheme == kSphereGeometric) {
      sphere_exp_lanes<L>(xi, Vv, d);
    } else {
      double aa[L], shrink[L];
      for (int l = 0; l < L; ++l) aa[l] = 0.0;
      for (int p = 0; p < d; ++p)
        for (int l = 0; l < L; ++l) aa[l] += ai[p][l] * ai[p][l];
      for (int l = 0; l < L; ++l) shrink[l] = 1.0 - ito * aa[l];
      for (int p = 0; p < d; ++p)
        for (int l = 0; l < L; ++l) xi[p][l] = shrink[l] * xi[p][l] + Vv[p][l];
      normalise_lanes<L>(xi, d);
    }
  }
}

}  // namespace attnmc::kernels
