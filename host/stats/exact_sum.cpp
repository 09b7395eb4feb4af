// Exact sums as fixed-point integers; 113-bit (__float128) read-out.
#include "attnmc/exact_sum.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace attnmc {
namespace {

constexpr std::int64_t kDigit = std::int64_t(1) << 32;
// Carries are propagated before a limb could leave int64: every add puts
// less than 2^32 into a limb, so 2^30 adds leave a wide margin.
constexpr std::uint32_t kMaxPending = 1u << 30;

using Quad = __float128;

Quad quad_value(const ExactSum::Limbs& l) {
  Quad acc = 0;
  for (int k = ExactSum::kLimbs - 1; k >= 0; --k) acc = acc * Quad(double(kDigit)) + Quad(l[k]);
  return acc * Quad(std::ldexp(1.0, ExactSum::kLowBit));
}

}  // namespace

void ExactSum::add(double x) {
  // |x| = mant 2^e read off the IEEE bits (faster than frexp/ldexp).
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const int biased = int((bits >> 52) & 0x7ff);
  std::uint64_t mant = bits & ((std::uint64_t(1) << 52) - 1);
  if (biased == 0x7ff) {  // inf or NaN
    overflow_ = true;
    return;
  }
  if (biased == 0 && mant == 0) return;  // +-0
  if (biased != 0) mant |= std::uint64_t(1) << 52;
  const int e = (biased == 0 ? 1 : biased) - 1075;
  int p = e - kLowBit;  // bit position of mant's lowest bit
  if (p < 0) {
    if (-p >= 64) return;
    mant >>= -p;  // truncation toward zero, the same for every order of adds
    p = 0;
    if (mant == 0) return;
  }
  const int k = p >> 5, s = p & 31;
  if (k + 2 >= kLimbs) {
    overflow_ = true;
    return;
  }
  const unsigned __int128 v = static_cast<unsigned __int128>(mant) << s;  // < 2^85
  const std::int64_t d0 = std::int64_t(std::uint64_t(v) & 0xffffffffu);
  const std::int64_t d1 = std::int64_t(std::uint64_t(v >> 32) & 0xffffffffu);
  const std::int64_t d2 = std::int64_t(std::uint64_t(v >> 64));
  if ((bits >> 63) == 0) {
    limb_[k] += d0;
    limb_[k + 1] += d1;
    limb_[k + 2] += d2;
  } else {
    limb_[k] -= d0;
    limb_[k + 1] -= d1;
    limb_[k + 2] -= d2;
  }
  if (++pending_ >= kMaxPending) normalize();
}

void ExactSum::add_square(double x) {
  const double p = x * x;
  add(p);
  add(std::fma(x, x, -p));  // the rounding error of p, exactly
}

void ExactSum::normalize() {
  for (int k = 0; k + 1 < kLimbs; ++k) {
    const std::int64_t carry = limb_[k] >> 32;  // floor division (arithmetic shift)
    limb_[k] -= carry * kDigit;
    limb_[k + 1] += carry;
  }
  pending_ = 0;
}

void ExactSum::merge(const ExactSum& o) {
  const Limbs other = o.canonical();
  normalize();
  for (int k = 0; k < kLimbs; ++k) limb_[k] += other[k];
  normalize();
  overflow_ = overflow_ || o.overflow_;
}

ExactSum::Limbs ExactSum::canonical() const {
  ExactSum c = *this;
  c.normalize();
  return c.limb_;
}

ExactSum ExactSum::from_canonical(const Limbs& limbs, bool overflowed) {
  ExactSum s;
  s.limb_ = limbs;
  s.overflow_ = overflowed;
  s.normalize();
  return s;
}

double ExactSum::value() const {
  if (overflow_) return std::numeric_limits<double>::quiet_NaN();
  return double(quad_value(canonical()));
}

double ExactSum::variance(std::int64_t n, const ExactSum& s1, const ExactSum& s2) {
  if (n < 2 || s1.overflow_ || s2.overflow_) return std::numeric_limits<double>::quiet_NaN();
  const Quad a = quad_value(s1.canonical()), b = quad_value(s2.canonical());
  const Quad v = (b - a * a / Quad(double(n))) / Quad(double(n - 1));
  return v < 0 ? 0.0 : double(v);  // rounding can leave a hair below zero
}

}  // namespace attnmc
