// Device-agnostic math of the fused kernels, one row at a time. Used by the
// direct sampler's functors on both backends; tests compare each function
// against the double-precision reference (tests/test_fused_kernels.cpp).
#pragma once

#include <math.h>

#include "attnmc/hd.hpp"

namespace attnmc::kernels {

// Largest m the fused attention row keeps on the stack.
constexpr int kMaxTokens = 64;

// Fused attention row: given raw logits y_b (b < m) of row `row`, writes
//   shaped:  out_b = [b == row] + softmax(scale y)_b - 1/m
//   softmax: out_b = softmax(scale y)_b
// in one pass. The shaped form is computed centred: with z_b = scale y_b -
// max, d_b = expm1(z_b) has full relative precision when the logits are
// O(1/sqrt(n)), and softmax_b - 1/m = (d_b - mean d) / (m + sum d), so the
// small deviation from uniform is never formed as a difference of two O(1)
// numbers. Subtracting the max keeps extreme logits finite.
template <typename Real>
ATTNMC_HD inline void attention_row(const Real* y, int m, Real scale, bool shaped, int row,
                                    Real* out) {
  Real mx = scale * y[0];
  for (int b = 1; b < m; ++b) mx = fmax(mx, scale * y[b]);
  Real sum_d = 0;
  for (int b = 0; b < m; ++b) {
    out[b] = expm1(scale * y[b] - mx);
    sum_d += out[b];
  }
  const Real denom = Real(m) + sum_d;
  if (shaped) {
    const Real mean_d = sum_d / Real(m);
    for (int b = 0; b < m; ++b) out[b] = (out[b] - mean_d) / denom + (b == row ? Real(1) : Real(0));
  } else {
    for (int b = 0; b < m; ++b) out[b] = (out[b] + Real(1)) / denom;
  }
}

// Inverse RMS of a row (token-wise RMS normalisation: x / sqrt(mean x^2)),
// accumulated in double so wide rows do not lose precision. A zero row maps
// to 0 (it stays zero) rather than NaN.
template <typename Real>
ATTNMC_HD inline double inverse_rms(const Real* x, int n) {
  double s = 0.0;
  for (int i = 0; i < n; ++i) s += double(x[i]) * double(x[i]);
  return s > 0.0 ? 1.0 / sqrt(s / double(n)) : 0.0;
}

// Shaped ReLU sigma_s(x) = s_plus max(x, 0) + s_minus min(x, 0).
template <typename Real>
ATTNMC_HD inline Real shaped_relu(Real x, Real s_plus, Real s_minus) {
  return x > Real(0) ? s_plus * x : s_minus * x;
}

}  // namespace attnmc::kernels
