// exp and sincos in double as plain IEEE arithmetic (+, -, *, no libm, no
// data-dependent branch in the polynomial paths), so that a loop over
// trajectory lanes vectorises and every path that includes this header (the
// one-trajectory sphere step, its lanes, host and device) computes the same
// bits. Contraction must be off (the CPU build passes -ffp-contract=off).
//
// exp_poly: exact Cody-Waite reduction x = k ln2 + r, |r| <= ln2 / 2
// (k ln2_hi is exact for |k| < 2^11, x - k ln2_hi is exact by Sterbenz), the
// degree-13 Taylor polynomial of e^r (truncation < 2^-55 relative), and 2^k
// built from its bits in two halves so that results down to the subnormals
// and up to the overflow come out right. Arguments are clamped to
// [-746, 710] first: exp(-746) rounds to 0 and exp(710) overflows to inf, as
// libm's do; a NaN passes through. tests/test_poly_math.cpp measures <= 2 ulp
// against long double over [-745, 709.7].
//
// sincos_poly_reduced: x = q pi/2 + r, |r| <= pi/4, with pi/2 in three
// pieces (fdlibm's pio2_1, pio2_2 of 33 bits, pio2_2t), exact products for
// |q| < 2^20, then Taylor polynomials of degree 15 (sin) and 16 (cos) on r
// (truncation < 2^-54) and the quadrant by selection. Valid for
// |x| <= kSinCosPolyMax; sincos_poly falls back to libm beyond (a branch
// taken only for huge angles, NaN and inf).
#pragma once

#include <math.h>
#include <string.h>

#include <cstdint>

#include "attnmc/hd.hpp"

namespace attnmc::kernels {

ATTNMC_HD ATTNMC_FORCEINLINE std::int64_t double_bits(double f) {
  std::int64_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
ATTNMC_HD ATTNMC_FORCEINLINE double bits_double(std::int64_t u) {
  double f;
  memcpy(&f, &u, sizeof f);
  return f;
}

// Adding then subtracting 1.5 * 2^52 rounds a |v| < 2^51 to the nearest
// integer (ties to even); the low bits of the sum are that integer.
constexpr double kRoundShifter = 6755399441055744.0;  // 0x1.8p52

ATTNMC_HD ATTNMC_FORCEINLINE double exp_poly(double x) {
  constexpr double kLog2e = 1.4426950408889634074;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;  // 0x3FE62E42FEE00000: 32 bits
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  x = x < -746.0 ? -746.0 : x;  // selections: a NaN compares false and stays
  x = x > 710.0 ? 710.0 : x;
  const double shifted = x * kLog2e + kRoundShifter;
  const double k = shifted - kRoundShifter;  // |k| <= 1077
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  // e^r = 1 + r (1 + r (1/2! + r (1/3! + ... + r / 13!))), Horner, written
  // out (a constant array would not be visible in CUDA device code).
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = 1.0 + r * (1.0 + r * p);
  // 2^k = 2^k1 2^k2, both halves normal (|k1|, |k2| <= 539).
  const std::int64_t ki = double_bits(shifted) - double_bits(kRoundShifter);
  const std::int64_t k1 = ki / 2;
  const std::int64_t k2 = ki - k1;
  const double s1 = bits_double((k1 + 1023) << 52);
  const double s2 = bits_double((k2 + 1023) << 52);
  return p * s1 * s2;
}

// Largest |x| of sincos_poly_reduced (|q| < 2^11: the products are exact).
constexpr double kSinCosPolyMax = 1024.0;

ATTNMC_HD ATTNMC_FORCEINLINE void sincos_poly_reduced(double x, double* sn, double* cs) {
  constexpr double kTwoOverPi = 6.36619772367581382433e-01;
  constexpr double kPio2_1 = 1.57079632673412561417e+00;   // 0x3FF921FB54400000
  constexpr double kPio2_2 = 6.07710050630396597660e-11;   // 0x3DD0B4611A600000
  constexpr double kPio2_2t = 2.02226624879595063154e-21;  // pi/2 - pio2_1 - pio2_2
  const double shifted = x * kTwoOverPi + kRoundShifter;
  const double q = shifted - kRoundShifter;
  const double r = ((x - q * kPio2_1) - q * kPio2_2) - q * kPio2_2t;
  const double r2 = r * r;
  // sin r = r (1 - r^2/3! + ... - r^14/15!), cos r = 1 - r^2/2! + ... + r^16/16!.
  double s = -1.0 / 1307674368000.0;  // -1/15!
  s = s * r2 + 1.0 / 6227020800.0;
  s = s * r2 - 1.0 / 39916800.0;
  s = s * r2 + 1.0 / 362880.0;
  s = s * r2 - 1.0 / 5040.0;
  s = s * r2 + 1.0 / 120.0;
  s = s * r2 - 1.0 / 6.0;
  s = r + r * (r2 * s);
  double c = 1.0 / 20922789888000.0;  // 1/16!
  c = c * r2 - 1.0 / 87178291200.0;
  c = c * r2 + 1.0 / 479001600.0;
  c = c * r2 - 1.0 / 3628800.0;
  c = c * r2 + 1.0 / 40320.0;
  c = c * r2 - 1.0 / 720.0;
  c = c * r2 + 1.0 / 24.0;
  c = 1.0 - 0.5 * r2 + r2 * (r2 * c);
  // Quadrant q mod 4: (s, c), (c, -s), (-s, -c), (-c, s).
  const std::int64_t quad = double_bits(shifted) - double_bits(kRoundShifter);
  const bool swap = (quad & 1) != 0;
  const double s0 = swap ? c : s, c0 = swap ? s : c;
  *sn = (quad & 2) != 0 ? -s0 : s0;
  *cs = ((quad + 1) & 2) != 0 ? -c0 : c0;
}

// fmax by selection (libm's fmax is an out-of-line call that stops a lane
// loop from vectorising): the larger of a and b, the other if one is NaN.
ATTNMC_HD ATTNMC_FORCEINLINE double max_num(double a, double b) {
  return (b > a || a != a) ? b : a;
}

ATTNMC_HD inline void sincos_poly(double x, double* sn, double* cs) {
  if (fabs(x) <= kSinCosPolyMax) {
    sincos_poly_reduced(x, sn, cs);
  } else {  // huge, inf or NaN
    *sn = sin(x);
    *cs = cos(x);
  }
}

}  // namespace attnmc::kernels
