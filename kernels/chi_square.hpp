// Exact chi-square and gamma draws from the keyed Philox RNG, for the
// Bartlett factors of the exact sampler (kernels/exact_chain.hpp).
//
// Method: Marsaglia & Tsang (2000), "A simple method for generating gamma
// variables", an exact rejection sampler valid for every real shape a >= 1:
//   d = a - 1/3, c = 1 / sqrt(9 d); repeat { x ~ N(0,1), v = (1 + c x)^3,
//   u ~ U(0,1) } until v > 0 and ln u < x^2/2 + d - d v + d ln v; return d v.
// For 0 < a < 1 it uses the exact boost Gamma(a) = Gamma(a + 1) U^(1/a).
// chi^2(k) = 2 Gamma(k/2) for any real k > 0, so non-integer and very large
// degrees of freedom are covered by the same code.
//
// Large shapes: the acceptance test is evaluated as
//   x^2/2 + d [3 (log1p(w) - w) - 3 w^2 - w^3],  w = c x,
// which is algebraically d - d v + d ln v but has no cancellation between
// O(d) terms (log1p(w) - w uses its Taylor series for small |w|), so it stays
// accurate to rounding for shapes up to 2^52.
//
// Keyed, stream-free: draw number `index` of a stream uses Philox blocks
// (index << 16) + t for attempt t (one block per attempt: words 0,1 give the
// normal, word 2 the acceptance uniform, word 3 of attempt 0 the boost
// uniform). The acceptance rate is >= 0.95 for a >= 1, so the 2^16 attempt
// cap is never reached in practice (probability < 0.05^65536); if it were,
// the last candidate is returned.
#pragma once

#include <math.h>

#include <cstdint>

#include "attnmc/hd.hpp"
#include "attnmc/rng.hpp"

namespace attnmc::kernels {

// log1p(w) - w, accurate for small |w| (series) and large (direct).
ATTNMC_HD inline double log1p_minus_x(double w) {
  if (fabs(w) < 0.0625) {
    // -w^2/2 + w^3/3 - ...: 14 terms reach 0.0625^15 / 15 < 1e-19 relative.
    double term = w, sum = 0.0;
    for (int k = 2; k <= 15; ++k) {
      term *= -w;
      sum += term / double(k);
    }
    return sum;
  }
  return log1p(w) - w;
}

// Gamma(shape, 1) draw number `index` of the stream `key`. shape > 0.
ATTNMC_HD inline double gamma_draw(const rng::StreamKey& key, std::uint32_t index, double shape) {
  const bool boost = shape < 1.0;
  const double a = boost ? shape + 1.0 : shape;
  const double d = a - 1.0 / 3.0;
  const double c = 1.0 / sqrt(9.0 * d);
  constexpr double two_pi = 6.283185307179586477;
  double result = d;
  double boost_u = 0.5;
  for (std::uint32_t t = 0; t < (1u << 16); ++t) {
    const rng::Words4 w = rng::philox_block(key, (index << 16) + t);
    if (t == 0) boost_u = rng::uniform_open_d(w.w[3]);
    const double x =
        sqrt(-2.0 * log(rng::uniform_open_d(w.w[0]))) * cos(two_pi * rng::uniform_open_d(w.w[1]));
    const double cx = c * x;
    if (cx <= -1.0) continue;  // v <= 0: reject
    const double one_plus = 1.0 + cx;
    result = d * one_plus * one_plus * one_plus;
    const double log_ratio =
        0.5 * x * x + d * (3.0 * log1p_minus_x(cx) - 3.0 * cx * cx - cx * cx * cx);
    if (log(rng::uniform_open_d(w.w[2])) < log_ratio) break;
  }
  if (boost) result *= exp(log(boost_u) / shape);
  return result;
}

// chi^2(dof) draw number `index` of the stream `key`; dof > 0, any real.
ATTNMC_HD inline double chi_square_draw(const rng::StreamKey& key, std::uint32_t index,
                                        double dof) {
  return 2.0 * gamma_draw(key, index, 0.5 * dof);
}

}  // namespace attnmc::kernels
