// One step of the sphere model (kernels/sphere_math.hpp) for L trajectories
// at once, laid out as structure of arrays: X[e][l] is entry e (token i,
// coordinate p: e = i d + p) of lane l. Inner loops run over lanes, so the
// d-vector arithmetic is vectorised across trajectories.
//
// Same bits as sphere_attention + sphere_step_drawn, lane by lane: each lane
// performs the scalar code's operations in the same order (+, -, *, / and
// sqrt are exact in IEEE; the build turns contraction off); exp (softmax) and
// sincos (great circle) are the same polynomial functions as the scalar
// code's (kernels/poly_math.hpp), vectorised across lanes, libm only for a
// lane whose angle exceeds kSinCosPolyMax; the rare branch of
// normalise (|x|^2 out of range) runs the scalar function on that lane.
// Covers both noises without Q^T K, d <= 64 (sphere_lanes_supported); other
// configurations take the one-trajectory path. tests/test_sphere_lanes.cpp
// pins the bits.
#pragma once

#include <math.h>

#include "attnmc/hd.hpp"
#include "kernels/simd.hpp"
#include "kernels/sphere_math.hpp"

namespace attnmc::kernels {

// Largest d of the lane path (its d-vectors of lanes live on the stack).
constexpr int kMaxSphereLaneDim = 64;

ATTNMC_HD inline bool sphere_lanes_supported(const SphereCoefficients& c) {
  return !c.has_qk && c.d <= kMaxSphereLaneDim;
}

// Doubles of a group's structure-of-arrays state, per lane: tokens x, outputs
// a, noise z (d x d), a d-vector, N softmax weights, and for reduced noise
// the basis qb (r x d) and coefficients (N x N); no more than the
// one-trajectory workspace (sphere_workspace_doubles).
ATTNMC_HD inline std::size_t sphere_lane_doubles(const SphereCoefficients& c) {
  const std::size_t n = c.n, d = c.d, r = n < d ? n : d;
  return 2 * n * d + d * d + d + n + r * d + n * n;
}

// The group's structure-of-arrays views into a block of
// sphere_lane_doubles(c) * L doubles.
template <int L>
struct SphereLanes {
  double (*x)[L], (*a)[L], (*z)[L], (*v)[L], (*w)[L], (*qb)[L], (*r)[L];
};
template <int L>
ATTNMC_HD inline SphereLanes<L> sphere_lanes(double* base, const SphereCoefficients& c) {
  const int n = c.n, d = c.d, r = n < d ? n : d;
  SphereLanes<L> s;
  s.x = reinterpret_cast<double(*)[L]>(base);
  s.a = s.x + n * d;
  s.z = s.a + n * d;
  s.v = s.z + d * d;
  s.w = s.v + d;
  s.qb = s.w + n;
  s.r = s.qb + r * d;
  return s;
}

// sphere_reduce per lane (the ranks may differ between lanes: a basis
// vector k takes part in lane l only while k < rank[l], selected, so the
// other lanes' bits are untouched).
template <int L>
ATTNMC_HD inline void sphere_reduce_lanes(const SphereLanes<L>& s, const SphereCoefficients& c,
                                          int* rank) {
  const int n = c.n, d = c.d;
  // Local views: the compiler cannot tell the struct's arrays apart (they
  // share one buffer), so the lane loops say so (ATTNMC_SIMD) and the
  // pointers are not reloaded after every store.
  double(*const V)[L] = s.v;
  double(*const QB)[L] = s.qb;
  double(*const R)[L] = s.r;
  const double(*const A)[L] = s.a;
  for (int l = 0; l < L; ++l) rank[l] = 0;
  for (int e = 0; e < n * n; ++e)
    for (int l = 0; l < L; ++l) R[e][l] = 0.0;
  for (int i = 0; i < n; ++i) {
    for (int p = 0; p < d; ++p) {
      ATTNMC_SIMD
      for (int l = 0; l < L; ++l) V[p][l] = A[i * d + p][l];
    }
    int top = 0;
    for (int l = 0; l < L; ++l) top = rank[l] > top ? rank[l] : top;
    for (int pass = 0; pass < 2; ++pass)
      for (int k = 0; k < top; ++k) {
        double h[L], on[L];  // on: 1 where basis vector k exists in the lane
        for (int l = 0; l < L; ++l) {
          on[l] = k < rank[l] ? 1.0 : 0.0;
          h[l] = 0.0;
        }
        for (int p = 0; p < d; ++p) {
          ATTNMC_SIMD
          for (int l = 0; l < L; ++l) h[l] += QB[k * d + p][l] * V[p][l];
        }
        ATTNMC_SIMD
        for (int l = 0; l < L; ++l)
          R[k * n + i][l] = on[l] != 0.0 ? R[k * n + i][l] + h[l] : R[k * n + i][l];
        for (int p = 0; p < d; ++p) {
          ATTNMC_SIMD
          for (int l = 0; l < L; ++l)
            V[p][l] = on[l] != 0.0 ? V[p][l] - h[l] * QB[k * d + p][l] : V[p][l];
        }
      }
    double nrm[L];
    for (int l = 0; l < L; ++l) nrm[l] = 0.0;
    for (int p = 0; p < d; ++p) {
      ATTNMC_SIMD
      for (int l = 0; l < L; ++l) nrm[l] += V[p][l] * V[p][l];
    }
    ATTNMC_SIMD
    for (int l = 0; l < L; ++l) nrm[l] = sqrt(nrm[l]);
    // The common case: every lane has the same rank and grows. Then one
    // vector loop; otherwise lane by lane.
    bool uniform = true;
    for (int l = 0; l < L; ++l)
      uniform = uniform & (rank[l] == rank[0]) & (rank[l] < d) & (nrm[l] > 0.0);
    if (uniform) {
      const int k = rank[0];
      for (int p = 0; p < d; ++p) {
        ATTNMC_SIMD
        for (int l = 0; l < L; ++l) QB[k * d + p][l] = V[p][l] / nrm[l];
      }
      for (int l = 0; l < L; ++l) {
        R[k * n + i][l] = nrm[l];
        rank[l] = k + 1;
      }
      continue;
    }
    for (int l = 0; l < L; ++l) {
      if (!(rank[l] < d && nrm[l] > 0.0)) continue;
      const int k = rank[l]++;
      for (int p = 0; p < d; ++p) QB[k * d + p][l] = V[p][l] / nrm[l];
      R[k * n + i][l] = nrm[l];
    }
  }
}

// normalise() of vector x (d entries, stride one lane) in every lane.
// Flags are doubles (0 or 1) and the lane loops ATTNMC_SIMD: with bool
// flags, or x and t in one buffer, GCC leaves these loops scalar.
template <int L>
ATTNMC_HD inline void normalise_lanes(double (*x)[L], int d) {
  double s[L], rare[L];
  for (int l = 0; l < L; ++l) s[l] = 0.0;
  for (int p = 0; p < d; ++p) {
    ATTNMC_SIMD
    for (int l = 0; l < L; ++l) s[l] += x[p][l] * x[p][l];
  }
  double any = 0.0;
  for (int l = 0; l < L; ++l) {
    rare[l] = !(s[l] > 1e-280 && s[l] < 1e280) ? 1.0 : 0.0;
    any = rare[l] != 0.0 ? 1.0 : any;
  }
  double inv[L];
  ATTNMC_SIMD
  for (int l = 0; l < L; ++l) inv[l] = 1.0 / sqrt(rare[l] != 0.0 ? 1.0 : s[l]);
  for (int p = 0; p < d; ++p) {
    ATTNMC_SIMD
    for (int l = 0; l < L; ++l) x[p][l] = rare[l] != 0.0 ? x[p][l] : x[p][l] * inv[l];
  }
  if (any == 0.0) return;
  for (int l = 0; l < L; ++l) {
    if (rare[l] == 0.0) continue;
    double v[kMaxSphereLaneDim];
    for (int p = 0; p < d; ++p) v[p] = x[p][l];
    normalise(v, d);
    for (int p = 0; p < d; ++p) x[p][l] = v[p];
  }
}

// sphere_exp: x <- exp_x(t) in every lane (a lane with |t| = 0 is left alone).
template <int L>
ATTNMC_HD inline void sphere_exp_lanes(double (*x)[L], const double (*t)[L], int d) {
  double th[L], cs[L], sn[L], move[L];
  for (int l = 0; l < L; ++l) th[l] = 0.0;
  for (int p = 0; p < d; ++p) {
    ATTNMC_SIMD
    for (int l = 0; l < L; ++l) th[l] += t[p][l] * t[p][l];
  }
  ATTNMC_SIMD
  for (int l = 0; l < L; ++l) th[l] = sqrt(th[l]);
  double sr[L], cr[L];
  ATTNMC_SIMD
  for (int l = 0; l < L; ++l)  // sincos_poly's bits, vectorised (a loop of its own)
    sincos_poly_reduced(th[l], &sr[l], &cr[l]);
  ATTNMC_SIMD
  for (int l = 0; l < L; ++l) {
    move[l] = th[l] > 0.0 ? 1.0 : 0.0;
    cs[l] = move[l] != 0.0 ? cr[l] : 1.0;
    sn[l] = move[l] != 0.0 ? sr[l] / th[l] : 0.0;
  }
  double huge = 0.0, all = 1.0;
  for (int l = 0; l < L; ++l) {
    huge = move[l] != 0.0 && !(th[l] <= kSinCosPolyMax) ? 1.0 : huge;
    all = move[l] != 0.0 ? all : 0.0;
  }
  if (huge != 0.0)  // sincos_poly's libm branch, one lane at a time
    for (int l = 0; l < L; ++l)
      if (move[l] != 0.0 && !(th[l] <= kSinCosPolyMax)) {
        double s, k;
        sincos_poly(th[l], &s, &k);
        cs[l] = k;
        sn[l] = s / th[l];
      }
  for (int p = 0; p < d; ++p) {
    ATTNMC_SIMD
    for (int l = 0; l < L; ++l)
      x[p][l] = move[l] != 0.0 ? cs[l] * x[p][l] + sn[l] * t[p][l] : x[p][l];
  }
  // Renormalise the lanes that moved; the others keep their bits.
  double keep[kMaxSphereLaneDim][L];
  if (all == 0.0)
    for (int p = 0; p < d; ++p)
      for (int l = 0; l < L; ++l) keep[p][l] = x[p][l];
  normalise_lanes<L>(x, d);
  if (all == 0.0)
    for (int p = 0; p < d; ++p) {
      ATTNMC_SIMD
      for (int l = 0; l < L; ++l) x[p][l] = move[l] != 0.0 ? x[p][l] : keep[p][l];
    }
}

// dt[l] = <x_i, x_j> of lane l, summed over the d coordinates in order.
template <int L>
ATTNMC_HD inline void token_dot_lanes(double (*X)[L], int i, int j, int d, double* dt) {
  for (int l = 0; l < L; ++l) dt[l] = 0.0;
  for (int p = 0; p < d; ++p) {
    ATTNMC_SIMD
    for (int l = 0; l < L; ++l) dt[l] += X[i * d + p][l] * X[j * d + p][l];
  }
}

// sphere_attention for every lane (a_i into a, softmax weights in w).
template <int L>
ATTNMC_HD inline void sphere_attention_lanes(const SphereLanes<L>& sl,
                                             const SphereCoefficients& c) {
  const int n = c.n, d = c.d;
  double(*X)[L] = sl.x;
  double(*A)[L] = sl.a;
  double(*W)[L] = sl.w;
  // Attention: a_i = sum_j softmax_j(beta <x_i, x_j>) x_j. (X, A and W share
  // one buffer: ATTNMC_SIMD tells the compiler the lane loops are independent.)
  //
  // <x_i, x_j> and <x_j, x_i> are the same sum of the same (commuted, hence
  // equal) products in the same order, so on the CPU lanes, for N <= 16, the
  // Gram matrix is computed once per pair (n(n+1)/2 dot products, not n^2).
  constexpr int kGramTokens = 16;
  const bool gram = L > 1 && n <= kGramTokens;
  double G[L > 1 ? kGramTokens * kGramTokens : 1][L];
  if (gram)
    for (int i = 0; i < n; ++i)
      for (int j = i; j < n; ++j) {
        double dt[L];
        token_dot_lanes<L>(X, i, j, d, dt);
        ATTNMC_SIMD
        for (int l = 0; l < L; ++l) G[i * n + j][l] = G[j * n + i][l] = c.beta * dt[l];
      }
  for (int i = 0; i < n; ++i) {
    double mx[L], s[L];
    for (int l = 0; l < L; ++l) mx[l] = -HUGE_VAL;
    for (int j = 0; j < n; ++j) {
      if (gram) {
        ATTNMC_SIMD
        for (int l = 0; l < L; ++l) {
          W[j][l] = G[i * n + j][l];
          mx[l] = max_num(mx[l], W[j][l]);
        }
        continue;
      }
      double dt[L];
      token_dot_lanes<L>(X, i, j, d, dt);
      ATTNMC_SIMD
      for (int l = 0; l < L; ++l) {
        W[j][l] = c.beta * dt[l];
        mx[l] = max_num(mx[l], W[j][l]);
      }
    }
    for (int l = 0; l < L; ++l) s[l] = 0.0;
    for (int j = 0; j < n; ++j) {
      ATTNMC_SIMD
      for (int l = 0; l < L; ++l) {  // sphere_attention's exp_poly, vectorised
        W[j][l] = exp_poly(W[j][l] - mx[l]);
        s[l] += W[j][l];
      }
    }
    for (int p = 0; p < d; ++p) {
      ATTNMC_SIMD
      for (int l = 0; l < L; ++l) A[i * d + p][l] = 0.0;
    }
    for (int j = 0; j < n; ++j) {
      double wj[L];
      ATTNMC_SIMD
      for (int l = 0; l < L; ++l) wj[l] = W[j][l] / s[l];
      for (int p = 0; p < d; ++p) {
        ATTNMC_SIMD
        for (int l = 0; l < L; ++l) A[i * d + p][l] += wj[l] * X[j * d + p][l];
      }
    }
  }
}

// sphere_step_drawn for every lane, the attention already in a, the noise
// drawn into z (matrix: d x d; reduced: rows z_k, with rank[l] from
// sphere_reduce_lanes).
template <int L>
ATTNMC_HD inline void sphere_step_drawn_lanes(const SphereLanes<L>& sl, const SphereCoefficients& c,
                                              const int* rank) {
  const int n = c.n, d = c.d;
  double(*X)[L] = sl.x;
  const double(*A)[L] = sl.a;
  const double(*Z)[L] = sl.z;
  double(*Vv)[L] = sl.v;
  const double sg = c.sigma * sqrt(c.dt);
  const double ito = 0.5 * c.sigma * c.sigma * double(d - 1) * c.dt;
  const double(*const Rc)[L] = sl.r;
  // X, A, Z and v share one buffer: ATTNMC_SIMD marks the lane loops independent.
  for (int i = 0; i < n; ++i) {
    double(*xi)[L] = X + i * d;
    const double(*ai)[L] = A + i * d;
    if (c.scheme == kSphereFlow) {
      double h[L];
      for (int l = 0; l < L; ++l) h[l] = 0.0;
      for (int p = 0; p < d; ++p) {
        ATTNMC_SIMD
        for (int l = 0; l < L; ++l) h[l] += xi[p][l] * ai[p][l];
      }
      for (int p = 0; p < d; ++p) {
        ATTNMC_SIMD
        for (int l = 0; l < L; ++l) Vv[p][l] = c.dt * (ai[p][l] - h[l] * xi[p][l]);
      }
      sphere_exp_lanes<L>(xi, Vv, d);
      continue;
    }
    // v = V a_i (sphere_noise_of).
    if (!c.reduced) {
      for (int p = 0; p < d; ++p) {
        double acc[L];
        for (int l = 0; l < L; ++l) acc[l] = 0.0;
        for (int q = 0; q < d; ++q) {
          ATTNMC_SIMD
          for (int l = 0; l < L; ++l) acc[l] += Z[p * d + q][l] * ai[q][l];
        }
        ATTNMC_SIMD
        for (int l = 0; l < L; ++l) Vv[p][l] = acc[l];
      }
    } else {
      int top = 0;
      for (int l = 0; l < L; ++l) top = rank[l] > top ? rank[l] : top;
      for (int p = 0; p < d; ++p) {
        ATTNMC_SIMD
        for (int l = 0; l < L; ++l) Vv[p][l] = 0.0;
      }
      for (int k = 0; k < top; ++k) {
        double on[L];
        for (int l = 0; l < L; ++l) on[l] = k < rank[l] ? 1.0 : 0.0;
        const double(*rk)[L] = Rc + k * n + i;
        for (int p = 0; p < d; ++p) {
          ATTNMC_SIMD
          for (int l = 0; l < L; ++l)
            Vv[p][l] = on[l] != 0.0 ? Vv[p][l] + rk[0][l] * Z[k * d + p][l] : Vv[p][l];
        }
      }
    }
    if (c.scheme == kSphereNetwork) {
      for (int p = 0; p < d; ++p) {
        ATTNMC_SIMD
        for (int l = 0; l < L; ++l) xi[p][l] += sg * Vv[p][l];
      }
      normalise_lanes<L>(xi, d);
      continue;
    }
    double h[L];
    for (int l = 0; l < L; ++l) h[l] = 0.0;
    for (int p = 0; p < d; ++p) {
      ATTNMC_SIMD
      for (int l = 0; l < L; ++l) h[l] += xi[p][l] * Vv[p][l];
    }
    for (int p = 0; p < d; ++p) {
      ATTNMC_SIMD
      for (int l = 0; l < L; ++l) Vv[p][l] = sg * (Vv[p][l] - h[l] * xi[p][l]);
    }
    if (c.scheme == kSphereGeometric) {
      sphere_exp_lanes<L>(xi, Vv, d);
    } else {
      double aa[L], shrink[L];
      for (int l = 0; l < L; ++l) aa[l] = 0.0;
      for (int p = 0; p < d; ++p) {
        ATTNMC_SIMD
        for (int l = 0; l < L; ++l) aa[l] += ai[p][l] * ai[p][l];
      }
      for (int l = 0; l < L; ++l) shrink[l] = 1.0 - ito * aa[l];
      for (int p = 0; p < d; ++p) {
        ATTNMC_SIMD
        for (int l = 0; l < L; ++l) xi[p][l] = shrink[l] * xi[p][l] + Vv[p][l];
      }
      normalise_lanes<L>(xi, d);
    }
  }
}

}  // namespace attnmc::kernels
