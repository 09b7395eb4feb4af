// Exact sums as fixed-point integers; 113-bit (__float128) read-out.
#include "attnmc/exact_sum.hpp"

#include <cmath>
#include <limits>

#include "kernels/exact_sum_math.hpp"

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

static_assert(ExactSum::kLimbs == kernels::kExactLimbs &&
                  ExactSum::kLowBit == kernels::kExactLowBit,
              "one fixed-point layout for the host and the device reductions");

void ExactSum::add(double x) {
  if (!kernels::exact_add(limb_.data(), x)) overflow_ = true;
  if (++pending_ >= kMaxPending) normalize();
}

void ExactSum::add_square(double x) {
  if (!kernels::exact_add_square(limb_.data(), x)) overflow_ = true;
  pending_ += 2;
  if (pending_ >= kMaxPending) normalize();
}

void ExactSum::merge_limbs(const Limbs& limbs, bool overflowed) {
  normalize();
  for (int k = 0; k < kLimbs; ++k) limb_[k] += limbs[k];
  normalize();
  overflow_ = overflow_ || overflowed;
}

void ExactSum::normalize() {
  for (int k = 0; k + 1 < kLimbs; ++k) {
    const std::int64_t carry = limb_[k] >> 32;  // floor division (arithmetic shift)
    limb_[k] -= carry * kDigit;
    limb_[k + 1] += carry;
  }
  pending_ = 0;
}

void ExactSum::merge(const ExactSum& o) { merge_limbs(o.canonical(), o.overflow_); }

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
