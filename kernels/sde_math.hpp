// Per-trajectory math of the covariance SDE of shaped Transformers
// (models.md section 1, "Its limiting SDE"), usable on host and device, in
// double precision. Every function works on one trajectory's m x m matrices
// (row-major, on the stack: m <= kMaxSdeTokens).
//
//   dV = b(V) dt + sqrt(kappa / 2) L dS L^T + c2 (L dB2 L^T P V + V P L dB2^T L^T)
//
// with L L^T = V, P = I - 11^T / m, and dS = dB1 + dB1^T (the matrix-noise
// form L dB1 L^T + L dB1^T L^T = L (dB1 + dB1^T) L^T, drawn directly as a
// symmetric matrix: m(m+1)/2 normals instead of m^2, same law).
//
// Template parameters: M > 0 fixes m at compile time (small m unrolls);
// M = 0 takes m at run time, with arrays of CAP x CAP.
#pragma once

#include <math.h>

#include <cstdint>

#include "attnmc/hd.hpp"
#include "attnmc/rng.hpp"
#include "kernels/gaussian_lanes.hpp"

namespace attnmc::kernels {

constexpr int kMaxSdeTokens = 16;

enum SdeSchemeCode : int { kSdeEuler = 0, kSdeRhoEuler = 1, kSdeRhoWeak2 = 2, kSdeWeakEuler = 3 };

// Random-number slots inside one step (rng::Purpose::sde_noise, layer = step).
constexpr std::uint32_t kSdeSlotSymmetric = 0;  // dS (V-SDE) or dW (rho-SDE)
constexpr std::uint32_t kSdeSlotAttention = 1;  // dB2

struct SdeCoefficients {
  int m = 2;
  int scheme = kSdeEuler;
  std::int64_t steps = 0;
  double dt = 0.0;
  double attn_drift = 0.0;  // gamma^2 / tau0^2 (0: no attention)
  double attn_noise = 0.0;  // c2 = gamma^2 / (m tau0 sqrt(H))
  double kappa = 0.0;       // sum of the blocks' kappa
  double mlp_drift = 0.0;   // coefficient of b_mlp (gamma^2, or 1 for the one-matrix MLP)
  double nu_scale = 0.0;    // (c_plus - c_minus)^2 / (2 pi)
  double blowup = 0.0;      // absolute |V_ab| threshold
};

// Counters of one trajectory.
struct SdeCounters {
  std::int32_t projections = 0;
  std::int32_t rho_clips = 0;
};

ATTNMC_HD inline double clip_unit(double r) { return r > 1.0 ? 1.0 : (r < -1.0 ? -1.0 : r); }

// nu(rho) = scale (sqrt(1 - rho^2) - rho arccos(rho)); nu(1) = 0.
ATTNMC_HD inline double sde_nu(double rho, double scale) {
  const double r = clip_unit(rho);
  return scale * (sqrt(fmax(0.0, 1.0 - r * r)) - r * acos(r));
}

// Drift b(V) of the enabled blocks (models.md): attention part
//   (gamma^2/tau0^2)[tr(Vt^2) V / m^2 + (diag(V) u^T + u diag(V)^T) / (2m)],
//   Vt = P V P, u = V P diag(Vt),
// plus mlp_drift * nu(rho_ab) sqrt(V_aa V_bb).
template <int M, int CAP>
ATTNMC_HD inline void sde_drift(const double* V, int m_rt, const SdeCoefficients& c, double* b) {
  const int m = M > 0 ? M : m_rt;
  for (int e = 0; e < m * m; ++e) b[e] = 0.0;
  if (c.attn_drift != 0.0) {
    double row[CAP], vt_diag[CAP], u[CAP];
    double grand = 0.0;
    for (int a = 0; a < m; ++a) {
      double s = 0.0;
      for (int k = 0; k < m; ++k) s += V[a * m + k];
      row[a] = s / m;  // V symmetric: row means = column means
      grand += s;
    }
    grand /= double(m) * m;
    double tr2 = 0.0;
    for (int a = 0; a < m; ++a)
      for (int k = 0; k < m; ++k) {
        const double vt = V[a * m + k] - row[a] - row[k] + grand;
        tr2 += vt * vt;
        if (a == k) vt_diag[a] = vt;
      }
    double mean_dv = 0.0;
    for (int a = 0; a < m; ++a) mean_dv += vt_diag[a];
    mean_dv /= m;
    for (int a = 0; a < m; ++a) {
      double s = 0.0;
      for (int k = 0; k < m; ++k) s += V[a * m + k] * (vt_diag[k] - mean_dv);
      u[a] = s;
    }
    const double k1 = c.attn_drift * tr2 / (double(m) * m), k2 = c.attn_drift / (2.0 * m);
    for (int a = 0; a < m; ++a)
      for (int k = 0; k < m; ++k)
        b[a * m + k] = k1 * V[a * m + k] + k2 * (V[a * m + a] * u[k] + u[a] * V[k * m + k]);
  }
  if (c.mlp_drift != 0.0) {
    for (int a = 0; a < m; ++a)
      for (int k = 0; k < m; ++k) {
        if (a == k) continue;  // nu(1) = 0
        const double s = sqrt(fmax(0.0, V[a * m + a] * V[k * m + k]));
        const double r = s > 0.0 ? V[a * m + k] / s : 0.0;
        b[a * m + k] += c.mlp_drift * sde_nu(r, c.nu_scale) * s;
      }
  }
}

// Cholesky factor L (lower, L L^T = A). False when A is not numerically
// positive definite (a pivot <= 0 or non-finite).
template <int M, int CAP>
ATTNMC_HD inline bool sde_cholesky(const double* A, int m_rt, double* L) {
  const int m = M > 0 ? M : m_rt;
  for (int j = 0; j < m; ++j) {
    double d = A[j * m + j];
    for (int k = 0; k < j; ++k) d -= L[j * m + k] * L[j * m + k];
    if (!(d > 0.0)) return false;  // also catches NaN
    const double ljj = sqrt(d);
    L[j * m + j] = ljj;
    for (int i = j + 1; i < m; ++i) {
      double s = A[i * m + j];
      for (int k = 0; k < j; ++k) s -= L[i * m + k] * L[j * m + k];
      L[i * m + j] = s / ljj;
    }
    for (int i = 0; i < j; ++i) L[i * m + j] = 0.0;
  }
  return true;
}

// Cyclic Jacobi eigen-decomposition of a symmetric A (destroyed): A = Q
// diag(w) Q^T, Q row-major with eigenvectors in columns. Converges
// quadratically; m <= 16 and double make 12 sweeps ample.
template <int M, int CAP>
ATTNMC_HD inline void sde_jacobi(double* A, int m_rt, double* Q, double* w) {
  const int m = M > 0 ? M : m_rt;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j) Q[i * m + j] = i == j ? 1.0 : 0.0;
  for (int sweep = 0; sweep < 12; ++sweep) {
    double off = 0.0, total = 0.0;
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) {
        total += A[i * m + j] * A[i * m + j];
        if (i != j) off += A[i * m + j] * A[i * m + j];
      }
    if (!(off > 1e-30 * total)) break;
    for (int p = 0; p < m - 1; ++p)
      for (int q = p + 1; q < m; ++q) {
        const double apq = A[p * m + q];
        if (apq == 0.0) continue;
        const double theta = (A[q * m + q] - A[p * m + p]) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
        const double cs = 1.0 / sqrt(t * t + 1.0), sn = t * cs;
        for (int k = 0; k < m; ++k) {  // A <- A J (columns p, q)
          const double akp = A[k * m + p], akq = A[k * m + q];
          A[k * m + p] = cs * akp - sn * akq;
          A[k * m + q] = sn * akp + cs * akq;
        }
        for (int k = 0; k < m; ++k) {  // A <- J^T A (rows p, q)
          const double apk = A[p * m + k], aqk = A[q * m + k];
          A[p * m + k] = cs * apk - sn * aqk;
          A[q * m + k] = sn * apk + cs * aqk;
        }
        for (int k = 0; k < m; ++k) {  // Q <- Q J
          const double qkp = Q[k * m + p], qkq = Q[k * m + q];
          Q[k * m + p] = cs * qkp - sn * qkq;
          Q[k * m + q] = sn * qkp + cs * qkq;
        }
      }
  }
  for (int i = 0; i < m; ++i) w[i] = A[i * m + i];
}

// Projects V onto the PSD cone (eigenvalues clipped at 0) and returns a
// factor L with L L^T = V (L = Q sqrt(w+), not triangular). True when a
// negative eigenvalue was clipped.
template <int M, int CAP>
ATTNMC_HD inline bool sde_psd_project(double* V, int m_rt, double* L) {
  const int m = M > 0 ? M : m_rt;
  double A[CAP * CAP], Q[CAP * CAP], w[CAP];
  for (int e = 0; e < m * m; ++e) A[e] = V[e];
  sde_jacobi<M, CAP>(A, m, Q, w);
  bool clipped = false;
  for (int k = 0; k < m; ++k) {
    if (w[k] < 0.0) clipped = true;
    const double s = sqrt(fmax(w[k], 0.0));
    for (int i = 0; i < m; ++i) L[i * m + k] = Q[i * m + k] * s;
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j <= i; ++j) {
      double s = 0.0;
      for (int k = 0; k < m; ++k) s += L[i * m + k] * L[j * m + k];
      V[i * m + j] = s;
      V[j * m + i] = s;
    }
  return clipped;
}

// `count` standard normals of one stream (float Box-Muller, see rng.hpp;
// the increments are then used in double).
ATTNMC_HD inline void sde_normals(const rng::StreamKey& key, double* out, int count) {
  gaussian_fill(key, out, count);
}

// `count` random signs +-1 of one stream, one bit each (128 per Philox
// block): the two-point increments of the simplified weak Euler scheme.
ATTNMC_HD inline void sde_signs(const rng::StreamKey& key, double* out, int count) {
  for (int b = 0; 128 * b < count; ++b) {
    const rng::Words4 w = rng::philox_block(key, std::uint32_t(b));
    for (int k = 0; k < 128 && 128 * b + k < count; ++k)
      out[128 * b + k] = 2.0 * double((w.w[k >> 5] >> (k & 31)) & 1u) - 1.0;  // branch-free
  }
}

// C = A B (general m x m), in axpy order (i, k, j): the inner loop has no
// dependency chain and vectorises, unlike a dot-product inner loop.
template <int M, int CAP>
ATTNMC_HD inline void sde_mul(const double* A, const double* B, int m_rt, double* C) {
  const int m = M > 0 ? M : m_rt;
  for (int i = 0; i < m; ++i) {
    double row[CAP];
    for (int j = 0; j < m; ++j) row[j] = 0.0;
    for (int k = 0; k < m; ++k) {
      const double a = A[i * m + k];
      for (int j = 0; j < m; ++j) row[j] += a * B[k * m + j];
    }
    for (int j = 0; j < m; ++j) C[i * m + j] = row[j];
  }
}

// C = A B^T (general m x m).
template <int M, int CAP>
ATTNMC_HD inline void sde_mul_bt(const double* A, const double* B, int m_rt, double* C) {
  const int m = M > 0 ? M : m_rt;
  double Bt[CAP * CAP];
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j) Bt[j * m + i] = B[i * m + j];
  sde_mul<M, CAP>(A, Bt, m, C);
}

// After an update: factor V (Cholesky), projecting it back to the PSD cone
// when that fails, then enforce |rho| <= 1 (the projection's rounding can
// leave |rho| a hair above 1). Counts events in cnt.
template <int M, int CAP>
ATTNMC_HD inline void sde_restore(double* V, int m_rt, double* L, SdeCounters& cnt) {
  const int m = M > 0 ? M : m_rt;
  // A successful Cholesky means V is positive definite: |rho| < 1 already.
  if (sde_cholesky<M, CAP>(V, m, L)) return;
  if (sde_psd_project<M, CAP>(V, m, L)) ++cnt.projections;
  for (int a = 0; a < m; ++a)
    for (int k = a + 1; k < m; ++k) {
      const double lim = sqrt(fmax(0.0, V[a * m + a] * V[k * m + k]));
      const double v = V[a * m + k];
      if (fabs(v) > lim) {
        V[a * m + k] = V[k * m + a] = v > 0 ? lim : -lim;
        ++cnt.rho_clips;
      }
    }
}

// True when V has blown up: a non-finite entry or |V_ab| > threshold.
template <int M, int CAP>
ATTNMC_HD inline bool sde_blown_up(const double* V, int m_rt, double threshold) {
  const int m = M > 0 ? M : m_rt;
  for (int e = 0; e < m * m; ++e)
    if (!(fabs(V[e]) <= threshold)) return true;  // NaN fails the comparison
  return false;
}

// The noise increment for given Brownian increments: dS = dB1 + dB1^T
// (symmetric) and dB2 (general), both already scaled by sqrt(dt):
//   N = sqrt(kappa / 2) L dS L^T + c2 (Z2 P V + (Z2 P V)^T),  Z2 = L dB2 L^T.
// dB2 may be null when c2 = 0. Linear in (dS, dB2): tests read its
// covariance off the responses to unit increments.
template <int M, int CAP>
ATTNMC_HD inline void sde_noise(const double* V, const double* L, int m_rt,
                                const SdeCoefficients& c, const double* dS, const double* dB2,
                                double* N) {
  const int m = M > 0 ? M : m_rt;
  double T[CAP * CAP], Z[CAP * CAP];
  sde_mul<M, CAP>(L, dS, m, T);    // T = L dS
  sde_mul_bt<M, CAP>(T, L, m, N);  // N = L dS L^T
  const double k1 = sqrt(0.5 * c.kappa);
  for (int e = 0; e < m * m; ++e) N[e] *= k1;
  if (c.attn_noise != 0.0) {
    sde_mul<M, CAP>(L, dB2, m, T);   // L dB2
    sde_mul_bt<M, CAP>(T, L, m, Z);  // Z2 = L dB2 L^T
    // P V = V - 1 (column means)^T; T = Z2 P V.
    double col[CAP], PV[CAP * CAP];
    for (int j = 0; j < m; ++j) col[j] = 0.0;
    for (int k = 0; k < m; ++k)
      for (int j = 0; j < m; ++j) col[j] += V[k * m + j];
    for (int k = 0; k < m; ++k)
      for (int j = 0; j < m; ++j) PV[k * m + j] = V[k * m + j] - col[j] / m;
    sde_mul<M, CAP>(Z, PV, m, T);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) N[i * m + j] += c.attn_noise * (T[i * m + j] + T[j * m + i]);
  }
}

// Normals per step of the matrix-noise Euler step: dS (symmetric, m(m+1)/2
// from slot kSdeSlotSymmetric) and dB2 (m^2 from slot kSdeSlotAttention).
ATTNMC_HD inline int sde_symmetric_count(int m) { return m * (m + 1) / 2; }

// One Euler-Maruyama step of the V-SDE in the matrix-noise form, from the
// step's unit increments already drawn: zs (m(m+1)/2, the upper triangle of
// dS row by row) and za (m^2, dB2; unused when c2 = 0). V and its factor L
// (L L^T = V) are updated in place; the new V is factored and, if needed,
// projected (sde_restore). Returns false on blow-up (V then holds the
// blown-up values and L is stale).
template <int M, int CAP>
ATTNMC_HD inline bool sde_euler_step_drawn(double* V, double* L, int m_rt, const SdeCoefficients& c,
                                           const double* zs, const double* za, SdeCounters& cnt) {
  const int m = M > 0 ? M : m_rt;
  double b[CAP * CAP], S[CAP * CAP], N[CAP * CAP], z[CAP * CAP];
  sde_drift<M, CAP>(V, m, c, b);
  const double sdt = sqrt(c.dt);
  // dS = dB1 + dB1^T drawn directly: diagonal N(0, 4 dt), off-diagonal N(0, 2 dt).
  {
    int e = 0;
    for (int i = 0; i < m; ++i)
      for (int j = i; j < m; ++j, ++e) {
        const double v = (i == j ? 2.0 : 1.4142135623730951) * sdt * zs[e];
        S[i * m + j] = v;
        S[j * m + i] = v;
      }
  }
  if (c.attn_noise != 0.0)
    for (int e = 0; e < m * m; ++e) z[e] = za[e] * sdt;  // dB2
  sde_noise<M, CAP>(V, L, m, c, S, z, N);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j)
      V[i * m + j] += c.dt * b[i * m + j] + 0.5 * (N[i * m + j] + N[j * m + i]);
  if (sde_blown_up<M, CAP>(V, m, c.blowup)) return false;
  sde_restore<M, CAP>(V, m, L, cnt);
  return true;
}

// The same step drawing its own increments from the step's two keys:
// Gaussian (kSdeEuler) or, for the simplified weak Euler scheme (Kloeden &
// Platen 14.1), two-point increments +-1 that match the Gaussian's first
// three moments, so the scheme keeps Euler-Maruyama's weak order 1 at one
// random bit per increment.
template <int M, int CAP>
ATTNMC_HD inline bool sde_euler_step(double* V, double* L, int m_rt, const SdeCoefficients& c,
                                     const rng::StreamKey& key_sym, const rng::StreamKey& key_att,
                                     SdeCounters& cnt) {
  const int m = M > 0 ? M : m_rt;
  double zs[CAP * CAP], za[CAP * CAP];
  const bool signs = c.scheme == kSdeWeakEuler;
  if (signs)
    sde_signs(key_sym, zs, sde_symmetric_count(m));
  else
    sde_normals(key_sym, zs, sde_symmetric_count(m));
  if (c.attn_noise != 0.0) {
    if (signs)
      sde_signs(key_att, za, m * m);
    else
      sde_normals(key_att, za, m * m);
  }
  return sde_euler_step_drawn<M, CAP>(V, L, m, c, zs, za, cnt);
}

// The closed correlation SDE of MLP-only dynamics (drift coefficient mu =
// mlp_drift, noise kappa; derived by Ito from Sigma = kappa (V_ac V_bd + V_ad V_bc)):
//   d rho = [mu nu(rho) - kappa rho (1 - rho^2) / 2] dt + sqrt(kappa) (1 - rho^2) dW.
// models.md writes the kappa = mu = 1 case.
ATTNMC_HD inline double rho_drift(double r, const SdeCoefficients& c) {
  const double x = clip_unit(r);
  return c.mlp_drift * sde_nu(x, c.nu_scale) - 0.5 * c.kappa * x * (1.0 - x * x);
}
ATTNMC_HD inline double rho_diffusion(double r, const SdeCoefficients& c) {
  const double x = clip_unit(r);
  return sqrt(c.kappa) * (1.0 - x * x);
}

// One step of the rho-SDE: Euler-Maruyama, or Platen's derivative-free
// weak order-2 scheme for scalar noise (Kloeden & Platen 1992, eq. 15.1.1).
// rho is clipped to [-1, 1] (counted).
ATTNMC_HD inline double rho_step(double r, const SdeCoefficients& c, double z, SdeCounters& cnt) {
  const double h = c.dt, sh = sqrt(h), dw = sh * z;
  const double a = rho_drift(r, c), s = rho_diffusion(r, c);
  double next;
  if (c.scheme == kSdeRhoWeak2) {
    const double ybar = r + a * h + s * dw;
    const double yp = r + a * h + s * sh, ym = r + a * h - s * sh;
    const double sp = rho_diffusion(yp, c), sm = rho_diffusion(ym, c);
    next = r + 0.5 * (rho_drift(ybar, c) + a) * h + 0.25 * (sp + sm + 2.0 * s) * dw +
           0.25 * (sp - sm) * (dw * dw - h) / sh;
  } else {
    next = r + a * h + s * dw;
  }
  if (next > 1.0 || next < -1.0) {
    ++cnt.rho_clips;
    next = clip_unit(next);
  }
  return next;
}

}  // namespace attnmc::kernels
