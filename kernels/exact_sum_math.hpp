// The fixed-point step of an exact sum (attnmc/exact_sum.hpp), shared by the
// host ExactSum and the device reductions (kernels/gram_statistics.cu) so
// both truncate and place every value identically: a double is cut toward
// zero at 2^kExactLowBit and its 53-bit mantissa added, as three 32-bit
// digits, into int64 limbs (limb k has weight 2^(kExactLowBit + 32 k)).
// Limbs are not normalised here: each add puts less than 2^32 into a limb,
// so 2^31 adds fit before a carry pass is needed.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "attnmc/hd.hpp"

namespace attnmc::kernels {

constexpr int kExactLimbs = 22;
constexpr int kExactLowBit = -416;

// Adds x to limbs; false (limbs untouched) when x is inf, NaN or beyond the
// top limb (the sum then reads as overflowed).
ATTNMC_HD ATTNMC_FORCEINLINE bool exact_add(std::int64_t* limbs, double x) {
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const int biased = int((bits >> 52) & 0x7ff);
  std::uint64_t mant = bits & ((std::uint64_t(1) << 52) - 1);
  if (biased == 0x7ff) return false;          // inf or NaN
  if (biased == 0 && mant == 0) return true;  // +-0
  if (biased != 0) mant |= std::uint64_t(1) << 52;
  const int e = (biased == 0 ? 1 : biased) - 1075;
  int p = e - kExactLowBit;  // bit position of mant's lowest bit
  if (p < 0) {
    if (-p >= 64) return true;
    mant >>= -p;  // truncation toward zero, the same for every order of adds
    p = 0;
    if (mant == 0) return true;
  }
  const int k = p >> 5, s = p & 31;
  if (k + 2 >= kExactLimbs) return false;
  // mant << s (< 2^85) as three 32-bit digits.
  const std::uint64_t high = s == 0 ? mant >> 32 : mant >> (32 - s);  // bits 32.. of mant << s
  const std::int64_t d0 = std::int64_t((mant << s) & 0xffffffffu);
  const std::int64_t d1 = std::int64_t(high & 0xffffffffu);
  const std::int64_t d2 = std::int64_t(high >> 32);
  if ((bits >> 63) == 0) {
    limbs[k] += d0;
    limbs[k + 1] += d1;
    limbs[k + 2] += d2;
  } else {
    limbs[k] -= d0;
    limbs[k + 1] -= d1;
    limbs[k + 2] -= d2;
  }
  return true;
}

// x * x exactly, as the rounded product and its rounding error.
ATTNMC_HD ATTNMC_FORCEINLINE bool exact_add_square(std::int64_t* limbs, double x) {
  const double p = x * x;
  const bool ok = exact_add(limbs, p);
  return exact_add(limbs, fma(x, x, -p)) && ok;
}

}  // namespace attnmc::kernels
