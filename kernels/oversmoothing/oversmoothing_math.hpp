// Per-network math of the oversmoothing family (models.md section 3),
// usable on host and device: one network owns a float and a double
// workspace; every function works on one network, sequentially (the
// parallelism is across networks).
//
// Layer l (0-based; random numbers of fresh weights keyed by layer l + 1,
// fixed ones by layer 0):
//   Xa = X (none, post) or N(X) (pre)
//   A  = softmax_rows(Xa W_Q (Xa W_K)^T / (temperature sqrt(n_k)))  or the fixed A
//   X  <- X + A (Xa H);  post: X <- N(X)
//   linear model (fixed A, no norm): X <- X sqrt(m n) / ||X||_F (the factor's log is kept)
// N = LayerNorm g (x - mean) / sqrt(var + eps) + b or RMS g x / sqrt(mean x^2 + eps) + b,
// token-wise over the n features.
//
// H = U diag(Lambda) U^{-1} is built in double (also on the host, for the
// eigenvalue prediction, by these same functions) and used in float: U is
// the Q factor of modified Gram-Schmidt applied twice ("twice is enough") to
// an N(0, 1) matrix (R_ii > 0, so Q is Haar-distributed), or that matrix
// itself with U^{-1} by Gauss-Jordan elimination with partial pivoting.
// Storage is float, every sum is accumulated in double.
#pragma once

#include <math.h>

#include <cstddef>
#include <cstdint>

#include "attnmc/hd.hpp"
#include "attnmc/rng.hpp"

namespace attnmc::kernels {

// Random-number slots (rng::Purpose::oversmoothing).
constexpr std::uint32_t kOsSlotLambda = 0;  // element j: Lambda_j (uniform or psi)
constexpr std::uint32_t kOsSlotU = 1;       // element i n + j: U_ij
constexpr std::uint32_t kOsSlotQuery = 2;   // element i n_k + k: W_Q
constexpr std::uint32_t kOsSlotKey = 3;     // element i n_k + k: W_K
constexpr std::uint32_t kOsSlotA = 4;       // element k m + k' (k <= k'): G of the random A
constexpr std::uint32_t kOsSlotInput = 5;   // element k n + p: X_0

enum OsSpectrum : int {
  kOsLambdaGiven = 0,
  kOsLambdaUniform = 1,
  kOsLambdaMinus = 2,
  kOsLambdaPlus = 3,
  kOsHGiven = 4
};
enum OsEigvecs : int { kOsOrthogonal = 0, kOsGaussian = 1, kOsUGiven = 2 };
enum OsAttention : int { kOsSoftmax = 0, kOsRandomA = 1, kOsCirculantA = 2, kOsGivenA = 3 };
enum OsNorm : int { kOsNormNone = 0, kOsNormPost = 1, kOsNormPre = 2 };
constexpr int kOsMetrics = 6;  // attnmc::kMetricCount

struct OsCoefficients {
  int m = 8, n = 16, nk = 16, depth = 1;
  int spectrum = kOsLambdaMinus, eigvecs = kOsOrthogonal, attention = kOsSoftmax;
  bool fresh_h = false, fresh_qk = false;
  double lo = -1.0, hi = 0.0, psi_scale = 1.0;
  double temperature = 1.0, a_scale = 1.0;
  int norm = kOsNormNone;
  bool rms = false;
  double bias = 0.0, eps = 1e-5;
  bool random_input = true;
  bool rescale = false;
};

// The host arrays a network reads (copied to the device per chunk).
struct OsInputs {
  const double* lambdas = nullptr;  // n: kOsLambdaGiven (list / range resolved)
  const double* h = nullptr;        // n x n: kOsHGiven
  const double* u = nullptr;        // n x n: kOsUGiven
  const double* u_inv = nullptr;    // n x n: kOsUGiven
  const double* a = nullptr;        // m x m: kOsGivenA
  const double* x0 = nullptr;       // m x n: given input
  const double* gain = nullptr;     // n
};

ATTNMC_HD inline std::uint32_t os_layer_key(bool fresh, int layer) {
  return fresh ? std::uint32_t(layer + 1) : 0u;
}

ATTNMC_HD inline rng::StreamKey os_key(std::uint64_t seed, std::uint32_t member,
                                       std::uint32_t layer, std::uint32_t slot) {
  return rng::make_key(seed, rng::Purpose::oversmoothing, member, layer, slot);
}

// ---------------------------------------------------------------- H (double)

// Lambda_j of one network and layer (the documented laws).
ATTNMC_HD inline double os_lambda(const OsCoefficients& c, const double* given,
                                  const rng::StreamKey& k, int j) {
  if (c.spectrum == kOsLambdaGiven) return given[j];
  if (c.spectrum == kOsLambdaUniform) {
    const rng::Words4 w = rng::philox_block(k, std::uint32_t(j) >> 2);
    return c.lo + (c.hi - c.lo) * rng::uniform_open_d(w.w[j & 3]);
  }
  const double psi = c.psi_scale * rng::gaussian_d(k, std::uint64_t(j));
  const double p2 = psi * psi;
  if (c.spectrum == kOsLambdaPlus) return p2;
  // "-" model: -psi^2 clipped into [-1, 0) (psi = 0 exactly would give 0: keep it off 0).
  const double v = -p2;
  return v < -1.0 ? -1.0 : (v > -1e-300 ? -1e-300 : v);
}

// Modified Gram-Schmidt on the columns of the n x n row-major `a`, twice,
// in place: a <- Q. Returns false when a column is (numerically) dependent.
// The columns are worked on as the rows of a transposed copy in `t` (n x n
// scratch): contiguous, with every sum in the same order as column by column.
ATTNMC_HD inline bool os_orthonormalise_columns(double* a, double* t, int n) {
  for (int r = 0; r < n; ++r)
    for (int j = 0; j < n; ++j) t[j * n + r] = a[r * n + j];
  for (int pass = 0; pass < 2; ++pass)
    for (int j = 0; j < n; ++j) {
      double* cj = t + std::size_t(j) * n;
      for (int i = 0; i < j; ++i) {
        const double* ci = t + std::size_t(i) * n;
        double d = 0.0;
        for (int r = 0; r < n; ++r) d += ci[r] * cj[r];
        for (int r = 0; r < n; ++r) cj[r] -= d * ci[r];
      }
      double s = 0.0;
      for (int r = 0; r < n; ++r) s += cj[r] * cj[r];
      if (!(s > 1e-280)) return false;
      const double inv = 1.0 / sqrt(s);
      for (int r = 0; r < n; ++r) cj[r] *= inv;
    }
  for (int r = 0; r < n; ++r)
    for (int j = 0; j < n; ++j) a[r * n + j] = t[j * n + r];
  return true;
}

// inv <- a^{-1} (n x n, row-major) by Gauss-Jordan with partial pivoting;
// `work` (n x n) is destroyed. Returns false when a pivot is below
// 1e-12 times the largest |entry| of a (singular to working precision).
ATTNMC_HD inline bool os_invert(const double* a, double* work, double* inv, int n) {
  double scale = 0.0;
  for (int e = 0; e < n * n; ++e) {
    work[e] = a[e];
    inv[e] = 0.0;
    scale = fabs(a[e]) > scale ? fabs(a[e]) : scale;
  }
  for (int i = 0; i < n; ++i) inv[i * n + i] = 1.0;
  for (int col = 0; col < n; ++col) {
    int piv = col;
    for (int r = col + 1; r < n; ++r)
      if (fabs(work[r * n + col]) > fabs(work[piv * n + col])) piv = r;
    const double p = work[piv * n + col];
    if (!(fabs(p) > 1e-12 * scale)) return false;
    if (piv != col)
      for (int e = 0; e < n; ++e) {
        double t = work[col * n + e];
        work[col * n + e] = work[piv * n + e];
        work[piv * n + e] = t;
        t = inv[col * n + e];
        inv[col * n + e] = inv[piv * n + e];
        inv[piv * n + e] = t;
      }
    const double ip = 1.0 / p;
    for (int e = 0; e < n; ++e) {
      work[col * n + e] *= ip;
      inv[col * n + e] *= ip;
    }
    for (int r = 0; r < n; ++r) {
      if (r == col) continue;
      const double f = work[r * n + col];
      if (f == 0.0) continue;
      for (int e = 0; e < n; ++e) {
        work[r * n + e] -= f * work[col * n + e];
        inv[r * n + e] -= f * inv[col * n + e];
      }
    }
  }
  return true;
}

// Doubles of os_build_h's scratch.
ATTNMC_HD inline std::size_t os_h_scratch_doubles(int n) {
  return 2 * std::size_t(n) * n + std::size_t(n);
}

// H (n x n double, row-major) of member `member` at key layer `layer_key`;
// scratch: os_h_scratch_doubles(n). Returns false when U is singular.
ATTNMC_HD inline bool os_build_h(const OsCoefficients& c, const OsInputs& in, std::uint64_t seed,
                                 std::uint32_t member, std::uint32_t layer_key, double* scratch,
                                 double* h) {
  const int n = c.n;
  const std::size_t nn = std::size_t(n) * n;
  if (c.spectrum == kOsHGiven) {
    for (std::size_t e = 0; e < nn; ++e) h[e] = in.h[e];
    return true;
  }
  double* u = scratch;      // U
  double* uinv = u + nn;    // U^{-1} (orthogonal: unused)
  double* lam = uinv + nn;  // Lambda
  const rng::StreamKey kl = os_key(seed, member, layer_key, kOsSlotLambda);
  for (int j = 0; j < n; ++j) lam[j] = os_lambda(c, in.lambdas, kl, j);
  if (c.eigvecs == kOsUGiven) {
    for (std::size_t e = 0; e < nn; ++e) {
      u[e] = in.u[e];
      uinv[e] = in.u_inv[e];
    }
  } else {
    const rng::StreamKey ku = os_key(seed, member, layer_key, kOsSlotU);
    for (std::size_t b = 0; 4 * b < nn; ++b) {
      const rng::Gauss4d g = rng::gaussian4d(rng::philox_block(ku, std::uint32_t(b)));
      for (std::size_t q = 0; q < 4 && 4 * b + q < nn; ++q) u[4 * b + q] = g.z[q];
    }
    if (c.eigvecs == kOsOrthogonal) {
      if (!os_orthonormalise_columns(u, uinv, n)) return false;  // uinv as scratch
    } else if (!os_invert(u, h, uinv, n)) {                      // h as Gauss-Jordan's work space
      return false;
    }
  }
  if (c.eigvecs == kOsOrthogonal) {  // H = U Lambda U^T: rows of U are contiguous
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        double s = 0.0;
        for (int k = 0; k < n; ++k) s += u[i * n + k] * lam[k] * u[j * n + k];
        h[i * n + j] = s;
      }
    return true;
  }
  // H = U Lambda U^{-1}, row i summed in h's own row with k outside
  // (contiguous rows of U^{-1}), each sum in increasing k as before.
  for (int i = 0; i < n; ++i) {
    double* hi = h + std::size_t(i) * n;
    for (int j = 0; j < n; ++j) hi[j] = 0.0;
    for (int k = 0; k < n; ++k) {
      const double f = u[i * n + k] * lam[k];
      const double* vk = uinv + std::size_t(k) * n;
      for (int j = 0; j < n; ++j) hi[j] += f * vk[j];
    }
  }
  return true;
}

// ---------------------------------------------------------------- A (double)

// The fixed A of a network (random, circulant or given), m x m double.
ATTNMC_HD inline void os_fixed_a(const OsCoefficients& c, const OsInputs& in, std::uint64_t seed,
                                 std::uint32_t member, double* a) {
  const int m = c.m;
  if (c.attention == kOsGivenA) {
    for (int e = 0; e < m * m; ++e) a[e] = in.a[e];
    return;
  }
  const rng::StreamKey ka = os_key(seed, member, 0, kOsSlotA);
  for (int k = 0; k < m; ++k)
    for (int q = k; q < m; ++q) {
      double logit;
      if (c.attention == kOsRandomA) {
        logit = c.a_scale * rng::gaussian_d(ka, std::uint64_t(k) * m + q);
      } else {
        const int d = q - k, dist = d < m - d ? d : m - d;
        logit = -c.a_scale * double(dist);
      }
      a[k * m + q] = logit;
      a[q * m + k] = logit;
    }
  for (int k = 0; k < m; ++k) {
    double mx = a[k * m];
    for (int q = 1; q < m; ++q) mx = a[k * m + q] > mx ? a[k * m + q] : mx;
    double s = 0.0;
    for (int q = 0; q < m; ++q) s += (a[k * m + q] = exp(a[k * m + q] - mx));
    for (int q = 0; q < m; ++q) a[k * m + q] /= s;
  }
}

// ---------------------------------------------------------------- layers (float, double sums)

struct OsWork {
  float* x;      // m x n
  float* y;      // m x n (branch input N(X) in the pre form, then the new X)
  float* t;      // m x n: Xa H
  float* a;      // m x m
  float* hf;     // n x n
  float* wq;     // n x nk
  float* wk;     // n x nk
  float* qx;     // m x nk
  float* kx;     // m x nk
  double* hd;    // n x n (H in double while building)
  double* hs;    // os_h_scratch_doubles(n)
  double* gram;  // m x m (metrics)
  double* eig;   // m x m (Jacobi)
  double* acc;   // os_acc_doubles: an output row's running sums (contiguous loops), a row's exps
};

ATTNMC_HD inline std::size_t os_acc_doubles(const OsCoefficients& c) {
  const std::size_t rows = 2 * std::size_t(c.n > c.nk ? c.n : c.nk);
  return rows > 2 * std::size_t(c.m) ? rows : 2 * std::size_t(c.m);
}
ATTNMC_HD inline std::size_t os_work_floats(const OsCoefficients& c) {
  const std::size_t m = c.m, n = c.n, k = c.nk;
  return 3 * m * n + m * m + n * n + 2 * n * k + 2 * m * k;
}
ATTNMC_HD inline std::size_t os_work_doubles(const OsCoefficients& c) {
  const std::size_t m = c.m, n = c.n;
  return n * n + os_h_scratch_doubles(c.n) + 2 * m * m + os_acc_doubles(c);
}
ATTNMC_HD inline OsWork os_work(float* f, double* d, const OsCoefficients& c) {
  const std::size_t m = c.m, n = c.n, k = c.nk;
  OsWork w;
  w.x = f;
  w.y = w.x + m * n;
  w.t = w.y + m * n;
  w.a = w.t + m * n;
  w.hf = w.a + m * m;
  w.wq = w.hf + n * n;
  w.wk = w.wq + n * k;
  w.qx = w.wk + n * k;
  w.kx = w.qx + m * k;
  w.hd = d;
  w.hs = w.hd + n * n;
  w.gram = w.hs + os_h_scratch_doubles(c.n);
  w.eig = w.gram + m * m;
  w.acc = w.eig + m * m;
  return w;
}

// n x nk matrix of N(0, 1/n) entries (W_Q or W_K).
ATTNMC_HD inline void os_draw_projection(const OsCoefficients& c, std::uint64_t seed,
                                         std::uint32_t member, std::uint32_t layer_key,
                                         std::uint32_t slot, float* w) {
  const std::size_t count = std::size_t(c.n) * c.nk;
  const float s = float(1.0 / sqrt(double(c.n)));
  const rng::StreamKey k = os_key(seed, member, layer_key, slot);
  for (std::size_t b = 0; 4 * b < count; ++b) {
    const rng::Gauss4f g = rng::gaussian4f(rng::philox_block(k, std::uint32_t(b)));
    for (std::size_t q = 0; q < 4 && 4 * b + q < count; ++q) w[4 * b + q] = s * g.z[q];
  }
}

// out <- N(in) token-wise (in-place allowed).
ATTNMC_HD inline void os_normalise(const OsCoefficients& c, const double* gain, const float* in,
                                   float* out) {
  const int n = c.n;
  for (int k = 0; k < c.m; ++k) {
    const float* r = in + std::size_t(k) * n;
    double mean = 0.0;
    if (!c.rms) {
      for (int p = 0; p < n; ++p) mean += r[p];
      mean /= n;
    }
    double var = 0.0;
    for (int p = 0; p < n; ++p) var += (r[p] - mean) * (r[p] - mean);
    const double inv = 1.0 / sqrt(var / n + c.eps);
    float* o = out + std::size_t(k) * n;
    for (int p = 0; p < n; ++p) o[p] = float(gain[p] * (r[p] - mean) * inv + c.bias);
  }
}

// a <- softmax_rows(xa W_Q (xa W_K)^T / (temperature sqrt(nk))).
ATTNMC_HD inline void os_softmax_attention(const OsCoefficients& c, const OsWork& w,
                                           const float* xa) {
  const int m = c.m, n = c.n, nk = c.nk;
  // Row k of xa W_Q and xa W_K: p outside, j inside (contiguous rows of W),
  // each sum still taken over p in increasing order.
  double* q = w.acc;
  double* kk = w.acc + nk;
  for (int k = 0; k < m; ++k) {
    for (int j = 0; j < nk; ++j) q[j] = kk[j] = 0.0;
    for (int p = 0; p < n; ++p) {
      const double x = xa[k * n + p];
      const float* wq = w.wq + std::size_t(p) * nk;
      const float* wk = w.wk + std::size_t(p) * nk;
      for (int j = 0; j < nk; ++j) {
        q[j] += x * wq[j];
        kk[j] += x * wk[j];
      }
    }
    for (int j = 0; j < nk; ++j) {
      w.qx[k * nk + j] = float(q[j]);
      w.kx[k * nk + j] = float(kk[j]);
    }
  }
  const double scale = 1.0 / (c.temperature * sqrt(double(nk)));
  double* e = w.acc;  // m exponentials of a row
  for (int k = 0; k < m; ++k) {
    float* row = w.a + k * m;
    const float* qk = w.qx + k * nk;
    double mx = -INFINITY;
    auto keep = [&](int q, double s) {
      s *= scale;
      row[q] = float(s);
      mx = s > mx ? s : mx;
    };
    int q = 0;
    // Four keys at a time: four independent sums (each in its own j order).
    for (; q + 4 <= m; q += 4) {
      const float* k0 = w.kx + std::size_t(q) * nk;
      double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
      for (int j = 0; j < nk; ++j) {
        const double x = qk[j];
        s0 += x * k0[j];
        s1 += x * k0[nk + j];
        s2 += x * k0[2 * nk + j];
        s3 += x * k0[3 * nk + j];
      }
      keep(q, s0);
      keep(q + 1, s1);
      keep(q + 2, s2);
      keep(q + 3, s3);
    }
    for (; q < m; ++q) {
      double s = 0.0;
      for (int j = 0; j < nk; ++j) s += double(qk[j]) * w.kx[q * nk + j];
      keep(q, s);
    }
    double total = 0.0;
    for (int r = 0; r < m; ++r) total += (e[r] = exp(double(row[r]) - mx));
    for (int r = 0; r < m; ++r) row[r] = float(e[r] / total);
  }
}

// Frobenius norm of an m x n float matrix, in double.
ATTNMC_HD inline double os_frobenius(const float* x, int m, int n) {
  double s = 0.0;
  for (int e = 0; e < m * n; ++e) s += double(x[e]) * x[e];
  return sqrt(s);
}

// One layer (see the top of the file). Returns ||X_new||_F / ||X_old||_F
// (before any rescaling).
ATTNMC_HD inline double os_layer(const OsCoefficients& c, const OsWork& w, const double* gain) {
  const int m = c.m, n = c.n;
  const double before = os_frobenius(w.x, m, n);
  const float* xa = w.x;
  if (c.norm == kOsNormPre) {
    os_normalise(c, gain, w.x, w.y);
    xa = w.y;
  }
  if (c.attention == kOsSoftmax) os_softmax_attention(c, w, xa);
  // T = Xa H and Y = X + A T, a row at a time with the inner index outside
  // (contiguous rows of H and T); every sum keeps its order, so the bits are
  // those of the plain triple loop.
  double* s = w.acc;
  for (int k = 0; k < m; ++k) {
    for (int j = 0; j < n; ++j) s[j] = 0.0;
    for (int p = 0; p < n; ++p) {
      const double x = xa[k * n + p];
      const float* h = w.hf + std::size_t(p) * n;
      for (int j = 0; j < n; ++j) s[j] += x * h[j];
    }
    for (int j = 0; j < n; ++j) w.t[k * n + j] = float(s[j]);
  }
  for (int k = 0; k < m; ++k) {
    for (int j = 0; j < n; ++j) s[j] = w.x[k * n + j];
    for (int q = 0; q < m; ++q) {
      const double a = w.a[k * m + q];
      const float* t = w.t + std::size_t(q) * n;
      for (int j = 0; j < n; ++j) s[j] += a * t[j];
    }
    for (int j = 0; j < n; ++j) w.y[k * n + j] = float(s[j]);
  }
  if (c.norm == kOsNormPost) {
    os_normalise(c, gain, w.y, w.x);
  } else {
    for (int e = 0; e < m * n; ++e) w.x[e] = w.y[e];
  }
  const double after = os_frobenius(w.x, m, n);
  if (c.rescale && after > 0 && after < INFINITY) {
    const float f = float(sqrt(double(m) * n) / after);
    for (int e = 0; e < m * n; ++e) w.x[e] *= f;
  }
  return after / before;
}

// ---------------------------------------------------------------- metrics (double)

// Eigenvalues of the symmetric m x m `s` (destroyed; the diagonal holds them
// on return) by cyclic Jacobi rotations.
ATTNMC_HD inline void os_jacobi_eigenvalues(double* s, int m) {
  for (int sweep = 0; sweep < 60; ++sweep) {
    double off = 0.0, diag = 0.0;
    for (int i = 0; i < m; ++i) {
      diag += s[i * m + i] * s[i * m + i];
      for (int j = i + 1; j < m; ++j) off += s[i * m + j] * s[i * m + j];
    }
    if (off <= 1e-30 * diag || off == 0.0) return;
    for (int p = 0; p < m; ++p)
      for (int q = p + 1; q < m; ++q) {
        const double apq = s[p * m + q];
        if (apq == 0.0) continue;
        const double theta = (s[q * m + q] - s[p * m + p]) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
        const double cs = 1.0 / sqrt(t * t + 1.0), sn = t * cs;
        for (int k = 0; k < m; ++k) {  // columns p, q
          const double skp = s[k * m + p], skq = s[k * m + q];
          s[k * m + p] = cs * skp - sn * skq;
          s[k * m + q] = sn * skp + cs * skq;
        }
        for (int k = 0; k < m; ++k) {  // rows p, q
          const double spk = s[p * m + k], sqk = s[q * m + k];
          s[p * m + k] = cs * spk - sn * sqk;
          s[q * m + k] = sn * spk + cs * sqk;
        }
      }
  }
}

// Eigenvalues of the symmetric m x m `a` (destroyed) into d (m), e (m) as
// scratch: Householder reduction to tridiagonal form, then the implicit QL
// iteration (eigenvalues only; Numerical Recipes' tred2/tqli). O(m^3 / 3)
// where cyclic Jacobi takes several sweeps of 2 m^3. Returns false when an
// eigenvalue takes more than 60 QL iterations (the caller falls back).
ATTNMC_HD inline bool os_tridiagonal_eigenvalues(double* a, int m, double* d, double* e) {
  for (int i = m - 1; i > 0; --i) {
    const int l = i - 1;
    double* ai = a + std::size_t(i) * m;
    double h = 0.0;
    if (l > 0) {
      double scale = 0.0;
      for (int k = 0; k <= l; ++k) scale += fabs(ai[k]);
      if (scale == 0.0) {
        e[i] = ai[l];
      } else {
        for (int k = 0; k <= l; ++k) {
          ai[k] /= scale;
          h += ai[k] * ai[k];
        }
        double f = ai[l];
        double g = f >= 0.0 ? -sqrt(h) : sqrt(h);
        e[i] = scale * g;
        h -= f * g;
        ai[l] = f - g;
        f = 0.0;
        for (int j = 0; j <= l; ++j) {
          g = 0.0;
          for (int k = 0; k <= j; ++k) g += a[std::size_t(j) * m + k] * ai[k];
          for (int k = j + 1; k <= l; ++k) g += a[std::size_t(k) * m + j] * ai[k];
          e[j] = g / h;
          f += e[j] * ai[j];
        }
        const double hh = f / (h + h);
        for (int j = 0; j <= l; ++j) {
          f = ai[j];
          e[j] = g = e[j] - hh * f;
          double* aj = a + std::size_t(j) * m;
          for (int k = 0; k <= j; ++k) aj[k] -= f * e[k] + g * ai[k];
        }
      }
    } else {
      e[i] = ai[l];
    }
  }
  for (int i = 0; i < m; ++i) d[i] = a[std::size_t(i) * m + i];
  // QL with implicit shifts on (d, e), e shifted down by one.
  for (int i = 1; i < m; ++i) e[i - 1] = e[i];
  e[m - 1] = 0.0;
  for (int l = 0; l < m; ++l) {
    int iter = 0, mm = l;
    do {
      for (mm = l; mm < m - 1; ++mm) {
        const double dd = fabs(d[mm]) + fabs(d[mm + 1]);
        if (fabs(e[mm]) <= 2.220446049250313e-16 * dd) break;
      }
      if (mm != l) {
        if (iter++ == 60) return false;
        double g = (d[l + 1] - d[l]) / (2.0 * e[l]);
        double r = hypot(g, 1.0);
        g = d[mm] - d[l] + e[l] / (g + (g >= 0.0 ? fabs(r) : -fabs(r)));
        double s = 1.0, c = 1.0, p = 0.0;
        int i = mm - 1;
        for (; i >= l; --i) {
          const double f = s * e[i], b = c * e[i];
          e[i + 1] = r = hypot(f, g);
          if (r == 0.0) {
            d[i + 1] -= p;
            e[mm] = 0.0;
            break;
          }
          s = f / r;
          c = g / r;
          g = d[i + 1] - p;
          r = (d[i] - g) * s + 2.0 * c * b;
          d[i + 1] = g + (p = s * r);
          g = c * r - b;
        }
        if (r == 0.0 && i >= l) continue;
        d[l] -= p;
        e[l] = g;
        e[mm] = 0.0;
      }
    } while (mm != l);
  }
  return true;
}

// The kOsMetrics metrics of X (m x n float) into out; V = X X^T / n into
// v (m x m float) when v is not null. growth = ||X_l|| / ||X_{l-1}||.
ATTNMC_HD inline void os_metrics(const OsCoefficients& c, const OsWork& w, double growth,
                                 double* out, float* v) {
  const int m = c.m, n = c.n;
  const float* x = w.x;
  for (int k = 0; k < m; ++k)
    for (int q = k; q < m; ++q) {
      double s = 0.0;
      for (int p = 0; p < n; ++p) s += double(x[k * n + p]) * x[q * n + p];
      w.gram[k * m + q] = w.gram[q * m + k] = s;
    }
  double cos_sum = 0.0, total = 0.0;
  for (int k = 0; k < m; ++k) {
    total += w.gram[k * m + k];
    for (int q = 0; q < m; ++q)
      if (q != k) cos_sum += w.gram[k * m + q] / sqrt(w.gram[k * m + k] * w.gram[q * m + q]);
  }
  // ||HC||^2 = sum_k ||x_k - mean||^2 directly (no cancellation when tokens agree).
  double hc = 0.0;
  for (int p = 0; p < n; ++p) {
    double mean = 0.0;
    for (int k = 0; k < m; ++k) mean += x[k * n + p];
    mean /= m;
    for (int k = 0; k < m; ++k) hc += (x[k * n + p] - mean) * (x[k * n + p] - mean);
  }
  const double dc = total - hc > 0 ? total - hc : 0.0;
  out[0] = cos_sum / (double(m) * (m - 1));
  out[1] = sqrt(hc / total);
  out[2] = sqrt(hc / dc);
  // Dirichlet energy: m sum ||x_k||^2 - ||sum x_k||^2 = m ||HC||^2, over 2 ||X||^2.
  out[4] = 0.5 * double(m) * hc / total;
  out[5] = log(growth);
  for (int e = 0; e < m * m; ++e) w.eig[e] = w.gram[e];
  double* lambda = w.acc;  // m eigenvalues (then m of QL scratch)
  if (!os_tridiagonal_eigenvalues(w.eig, m, lambda, lambda + m)) {
    for (int e = 0; e < m * m; ++e) w.eig[e] = w.gram[e];
    os_jacobi_eigenvalues(w.eig, m);
    for (int k = 0; k < m; ++k) lambda[k] = w.eig[k * m + k];
  }
  double sigma_sum = 0.0;
  for (int k = 0; k < m; ++k) {
    const double l = lambda[k];
    sigma_sum += l > 0 ? sqrt(l) : 0.0;
  }
  double entropy = 0.0;
  for (int k = 0; k < m; ++k) {
    const double l = lambda[k];
    const double p = (l > 0 ? sqrt(l) : 0.0) / sigma_sum;
    if (p > 0) entropy -= p * log(p);
  }
  out[3] = exp(entropy);
  if (v != nullptr)
    for (int e = 0; e < m * m; ++e) v[e] = float(w.gram[e] / n);
}

}  // namespace attnmc::kernels
