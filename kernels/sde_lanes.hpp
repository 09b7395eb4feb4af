// The Euler-Maruyama step of the covariance SDE (kernels/sde_math.hpp) for
// L trajectories at once, laid out as structure of arrays: X[e][l] is entry
// e of the m x m matrix X of lane l. Every inner loop runs over lanes, so
// the compiler vectorises the m x m algebra across trajectories.
//
// Same bits as sde_euler_step_drawn, lane by lane: each lane performs the
// scalar step's operations in the same order (+, -, *, / and sqrt are exact
// in IEEE; the build turns contraction off), and the rare branches run the
// scalar code on that lane alone (the MLP drift's acos, and the PSD
// projection after a failed Cholesky). tests/test_sde_lanes.cpp pins this.
#pragma once

#include <math.h>

#include "attnmc/hd.hpp"
#include "kernels/sde_math.hpp"
#include "kernels/simd.hpp"

namespace attnmc::kernels {

// C = A B per lane, in the scalar sde_mul's order (k ascending from 0.0).
// lower_a: A is lower triangular with exact zeros above the diagonal in
// every lane (a Cholesky factor) and B is finite, so the terms k > i are
// +-0 and leave the sum's bits as they are (it starts at +0 and can never
// become -0): they are skipped.
template <int M, int CAP, int L>
ATTNMC_HD inline void sde_mul_lanes(const double (*A)[L], const double (*B)[L], int m_rt,
                                    double (*C)[L], bool lower_a = false) {
  const int m = M > 0 ? M : m_rt;
  for (int i = 0; i < m; ++i) {
    const int k_end = lower_a ? i + 1 : m;
    for (int j = 0; j < m; ++j) {
      double s[L];
      for (int l = 0; l < L; ++l) s[l] = 0.0;
      for (int k = 0; k < k_end; ++k)
        for (int l = 0; l < L; ++l) s[l] += A[i * m + k][l] * B[k * m + j][l];
      for (int l = 0; l < L; ++l) C[i * m + j][l] = s[l];
    }
  }
}

// C = A B^T per lane (sde_mul_bt: the same sums as sde_mul against B^T);
// lower_b: B lower triangular and A finite (terms k > j skipped, as above).
template <int M, int CAP, int L>
ATTNMC_HD inline void sde_mul_bt_lanes(const double (*A)[L], const double (*B)[L], int m_rt,
                                       double (*C)[L], bool lower_b = false) {
  const int m = M > 0 ? M : m_rt;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j) {
      const int k_end = lower_b ? j + 1 : m;
      double s[L];
      for (int l = 0; l < L; ++l) s[l] = 0.0;
      for (int k = 0; k < k_end; ++k)
        for (int l = 0; l < L; ++l) s[l] += A[i * m + k][l] * B[j * m + k][l];
      for (int l = 0; l < L; ++l) C[i * m + j][l] = s[l];
    }
}

// True when every lane's Lf has exact zeros above the diagonal (the lanes'
// Cholesky factors; a lane projected by sde_restore has a full square root).
template <int M, int CAP, int L>
ATTNMC_HD inline bool sde_lower_lanes(const double (*Lf)[L], int m_rt) {
  const int m = M > 0 ? M : m_rt;
  double nonzero = 0.0;
  for (int i = 0; i < m; ++i)
    for (int j = i + 1; j < m; ++j)
      for (int l = 0; l < L; ++l) nonzero = Lf[i * m + j][l] != 0.0 ? 1.0 : nonzero;
  return nonzero == 0.0;
}

// sde_drift per lane.
template <int M, int CAP, int L>
ATTNMC_HD inline void sde_drift_lanes(const double (*V)[L], int m_rt, const SdeCoefficients& c,
                                      double (*b)[L]) {
  const int m = M > 0 ? M : m_rt;
  for (int e = 0; e < m * m; ++e)
    for (int l = 0; l < L; ++l) b[e][l] = 0.0;
  if (c.attn_drift != 0.0) {
    double row[CAP][L], vt_diag[CAP][L], u[CAP][L], grand[L], tr2[L], mean_dv[L];
    for (int l = 0; l < L; ++l) grand[l] = 0.0;
    for (int a = 0; a < m; ++a) {
      double s[L];
      for (int l = 0; l < L; ++l) s[l] = 0.0;
      for (int k = 0; k < m; ++k)
        for (int l = 0; l < L; ++l) s[l] += V[a * m + k][l];
      for (int l = 0; l < L; ++l) {
        row[a][l] = s[l] / m;
        grand[l] += s[l];
      }
    }
    for (int l = 0; l < L; ++l) {
      grand[l] /= double(m) * m;
      tr2[l] = 0.0;
    }
    for (int a = 0; a < m; ++a)
      for (int k = 0; k < m; ++k)
        for (int l = 0; l < L; ++l) {
          const double vt = V[a * m + k][l] - row[a][l] - row[k][l] + grand[l];
          tr2[l] += vt * vt;
          if (a == k) vt_diag[a][l] = vt;
        }
    for (int l = 0; l < L; ++l) mean_dv[l] = 0.0;
    for (int a = 0; a < m; ++a)
      for (int l = 0; l < L; ++l) mean_dv[l] += vt_diag[a][l];
    for (int l = 0; l < L; ++l) mean_dv[l] /= m;
    for (int a = 0; a < m; ++a) {
      double s[L];
      for (int l = 0; l < L; ++l) s[l] = 0.0;
      for (int k = 0; k < m; ++k)
        for (int l = 0; l < L; ++l) s[l] += V[a * m + k][l] * (vt_diag[k][l] - mean_dv[l]);
      for (int l = 0; l < L; ++l) u[a][l] = s[l];
    }
    double k1[L];
    for (int l = 0; l < L; ++l) k1[l] = c.attn_drift * tr2[l] / (double(m) * m);
    const double k2 = c.attn_drift / (2.0 * m);
    for (int a = 0; a < m; ++a)
      for (int k = 0; k < m; ++k)
        for (int l = 0; l < L; ++l)
          b[a * m + k][l] = k1[l] * V[a * m + k][l] +
                            k2 * (V[a * m + a][l] * u[k][l] + u[a][l] * V[k * m + k][l]);
  }
  if (c.mlp_drift != 0.0) {
    // acos is a libm call: one lane at a time, the scalar expression.
    for (int a = 0; a < m; ++a)
      for (int k = 0; k < m; ++k) {
        if (a == k) continue;
        for (int l = 0; l < L; ++l) {
          const double s = sqrt(fmax(0.0, V[a * m + a][l] * V[k * m + k][l]));
          const double r = s > 0.0 ? V[a * m + k][l] / s : 0.0;
          b[a * m + k][l] += c.mlp_drift * sde_nu(r, c.nu_scale) * s;
        }
      }
  }
}

// sde_cholesky per lane; fail[l] is set where the scalar one returns false
// (that lane's L is then garbage: the caller redoes it in scalar code).
template <int M, int CAP, int L>
ATTNMC_HD inline void sde_cholesky_lanes(const double (*A)[L], int m_rt, double (*Lf)[L],
                                         bool* fail) {
  const int m = M > 0 ? M : m_rt;
  // Failure as a double flag (0 or 1): GCC leaves bool flags and the sqrt
  // behind them scalar.
  double failed[L];
  for (int l = 0; l < L; ++l) failed[l] = 0.0;
  for (int j = 0; j < m; ++j) {
    double ljj[L];
    ATTNMC_SIMD
    for (int l = 0; l < L; ++l) {
      double d = A[j * m + j][l];
      for (int k = 0; k < j; ++k) d -= Lf[j * m + k][l] * Lf[j * m + k][l];
      const bool pos = d > 0.0;
      failed[l] = pos ? failed[l] : 1.0;
      ljj[l] = sqrt(pos ? d : 1.0);  // a failed lane divides by 1, harmlessly
      Lf[j * m + j][l] = ljj[l];
    }
    for (int i = j + 1; i < m; ++i) {
      ATTNMC_SIMD
      for (int l = 0; l < L; ++l) {
        double s = A[i * m + j][l];
        for (int k = 0; k < j; ++k) s -= Lf[i * m + k][l] * Lf[j * m + k][l];
        Lf[i * m + j][l] = s / ljj[l];
      }
    }
    for (int i = 0; i < j; ++i)
      for (int l = 0; l < L; ++l) Lf[i * m + j][l] = 0.0;
  }
  for (int l = 0; l < L; ++l) fail[l] = failed[l] != 0.0;
}

// sde_euler_step_drawn for the lanes with live[l]: zs[e][l] and za[e][l] are
// the unit increments (as there), V and Lf the state; ok[l] is false where
// the lane blew up. Lanes without live[l] are computed but left alone
// (their state must be finite to keep the arithmetic cheap: callers park
// them on a valid state).
template <int M, int CAP, int L>
ATTNMC_HD inline void sde_euler_step_lanes(double (*V)[L], double (*Lf)[L], int m_rt,
                                           const SdeCoefficients& c, const double (*zs)[L],
                                           const double (*za)[L], const bool* live,
                                           SdeCounters* cnt, bool* ok) {
  const int m = M > 0 ? M : m_rt;
  double b[CAP * CAP][L], S[CAP * CAP][L], N[CAP * CAP][L], T[CAP * CAP][L];
  sde_drift_lanes<M, CAP, L>(V, m, c, b);
  const double sdt = sqrt(c.dt);
  {
    int e = 0;
    for (int i = 0; i < m; ++i)
      for (int j = i; j < m; ++j, ++e) {
        const double w = (i == j ? 2.0 : 1.4142135623730951) * sdt;
        for (int l = 0; l < L; ++l) {
          const double v = w * zs[e][l];
          S[i * m + j][l] = v;
          S[j * m + i][l] = v;
        }
      }
  }
  // sde_noise. With triangular factors the products L dS, (L dS) L^T, L dB2
  // and (L dB2) L^T skip their zero terms: their other operand is finite in
  // a live lane (the increments; L dS of a finite L), and parked lanes hold
  // V0's factor. CPU lanes only (L > 1): on CUDA (one trajectory per thread)
  // the fixed-length loops stay as they were (register allocation untested).
  const bool lower = L > 1 && sde_lower_lanes<M, CAP, L>(Lf, m);
  sde_mul_lanes<M, CAP, L>(Lf, S, m, T, lower);
  sde_mul_bt_lanes<M, CAP, L>(T, Lf, m, N, lower);
  const double k1 = sqrt(0.5 * c.kappa);
  for (int e = 0; e < m * m; ++e)
    for (int l = 0; l < L; ++l) N[e][l] *= k1;
  if (c.attn_noise != 0.0) {
    double Z[CAP * CAP][L], PV[CAP * CAP][L], col[CAP][L];
    for (int e = 0; e < m * m; ++e)
      for (int l = 0; l < L; ++l) S[e][l] = za[e][l] * sdt;  // dB2 (S is free again)
    sde_mul_lanes<M, CAP, L>(Lf, S, m, T, lower);
    sde_mul_bt_lanes<M, CAP, L>(T, Lf, m, Z, lower);
    for (int j = 0; j < m; ++j)
      for (int l = 0; l < L; ++l) col[j][l] = 0.0;
    for (int k = 0; k < m; ++k)
      for (int j = 0; j < m; ++j)
        for (int l = 0; l < L; ++l) col[j][l] += V[k * m + j][l];
    for (int k = 0; k < m; ++k)
      for (int j = 0; j < m; ++j)
        for (int l = 0; l < L; ++l) PV[k * m + j][l] = V[k * m + j][l] - col[j][l] / m;
    sde_mul_lanes<M, CAP, L>(Z, PV, m, T);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j)
        for (int l = 0; l < L; ++l)
          N[i * m + j][l] += c.attn_noise * (T[i * m + j][l] + T[j * m + i][l]);
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j)
      for (int l = 0; l < L; ++l)
        V[i * m + j][l] += c.dt * b[i * m + j][l] + 0.5 * (N[i * m + j][l] + N[j * m + i][l]);
  // sde_blown_up.
  double within[L];  // 1 while every |V_e| <= blowup (a NaN fails), as a double flag
  for (int l = 0; l < L; ++l) within[l] = 1.0;
  for (int e = 0; e < m * m; ++e) {
    ATTNMC_SIMD
    for (int l = 0; l < L; ++l) within[l] = fabs(V[e][l]) <= c.blowup ? within[l] : 0.0;
  }
  for (int l = 0; l < L; ++l) ok[l] = within[l] != 0.0;
  // sde_restore: Cholesky across lanes; a lane where it fails takes the
  // scalar path (projection), which redoes the same Cholesky first.
  bool fail[L];
  sde_cholesky_lanes<M, CAP, L>(V, m, Lf, fail);
  for (int l = 0; l < L; ++l) {
    if (!live[l] || !ok[l] || !fail[l]) continue;
    double v[CAP * CAP], f[CAP * CAP];
    for (int e = 0; e < m * m; ++e) v[e] = V[e][l];
    sde_restore<M, CAP>(v, m, f, cnt[l]);
    for (int e = 0; e < m * m; ++e) {
      V[e][l] = v[e];
      Lf[e][l] = f[e];
    }
  }
}

}  // namespace attnmc::kernels
