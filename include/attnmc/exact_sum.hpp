// An exact sum of doubles: a fixed-point integer (32-bit digits held in
// int64 limbs, weight of the lowest bit 2^kLowBit), so adding values or
// merging sums is integer addition: the result does not depend on order,
// chunking, threading or how an ensemble was split, to the bit.
//
// Each added value is truncated toward zero at 2^kLowBit (2^-416, far below
// any float32-derived quantity or its square); magnitudes up to about
// 2^280 are summed exactly (float32 values, their squares and 2^24 times
// more). A value beyond that sets overflowed(), and the sum reads as NaN.
#pragma once

#include <array>
#include <cstdint>

namespace attnmc {

class ExactSum {
 public:
  static constexpr int kLimbs = 22;
  static constexpr int kLowBit = -416;
  using Limbs = std::array<std::int64_t, kLimbs>;

  void add(double x);         // x exactly (up to the truncation above)
  void add_square(double x);  // x * x exactly (as the two doubles of an exact product)
  void merge(const ExactSum& other);
  // Adds raw (unnormalised) limbs of the same layout, each below 2^62 in
  // magnitude: what a device reduction of up to 2^30 values hands back.
  void merge_limbs(const Limbs& limbs, bool overflowed);

  double value() const;  // rounded to double (via a 113-bit sum); NaN when overflowed
  bool overflowed() const { return overflow_; }

  // The canonical form: limbs 0 .. kLimbs-2 in [0, 2^32), the top limb
  // signed. Equal sums have equal canonical limbs (what state files store).
  Limbs canonical() const;
  static ExactSum from_canonical(const Limbs& limbs, bool overflowed);

  bool operator==(const ExactSum& o) const {
    return overflow_ == o.overflow_ && canonical() == o.canonical();
  }

  // Unbiased variance (s2 - s1^2 / n) / (n - 1) from exact sums, in 113-bit
  // arithmetic (no cancellation trouble when the variance is tiny against
  // the mean squared). NaN when n < 2 or a sum overflowed.
  static double variance(std::int64_t n, const ExactSum& s1, const ExactSum& s2);

 private:
  void normalize();
  Limbs limb_{};
  std::uint32_t pending_ = 0;  // adds since the last carry propagation
  bool overflow_ = false;
};

}  // namespace attnmc
