// Bucket indices of the two quantile sketches (attnmc/sketch.hpp), shared by
// the host sketches and the device reductions (kernels/gram_statistics.cu):
// one function per mapping, so a value lands in the same bucket whichever
// side counts it.
#pragma once

#include <cmath>
#include <cstdint>

#include "attnmc/hd.hpp"

namespace attnmc::kernels {

// The fixed grid of `cells` cells on [-1, 1] plus a +inf bucket (index cells).
struct GridBuckets {
  int cells = 0;
  ATTNMC_HD std::uint32_t bucket(double x) const {
    if (x == INFINITY) return std::uint32_t(cells);
    const double c = floor((x + 1.0) * 0.5 * double(cells));
    return std::uint32_t(c < 0.0 ? 0.0 : c > double(cells - 1) ? double(cells - 1) : c);
  }
};

// Signed logarithmic buckets j = ceil(log_g |x|), j in [lo, hi], k = hi - lo
// + 1 per sign. Layout, ascending in value:
//   0 -inf | 1 x < -max | 2 .. k+1 negative, j = hi .. lo | k+2 -min < x < 0 |
//   k+3 zero | k+4 0 < x < min | k+5 .. 2k+4 positive, j = lo .. hi |
//   2k+5 x > max | 2k+6 +inf
struct LogBuckets {
  double log_gamma = 0.0;
  std::int64_t lo = 0, hi = 0;
  std::uint64_t k = 0;
  ATTNMC_HD std::int64_t log_index(double magnitude) const {
    return std::int64_t(ceil(log(magnitude) / log_gamma));
  }
  ATTNMC_HD std::uint32_t bucket(double x) const {
    if (x == 0.0) return std::uint32_t(k + 3);
    if (fabs(x) == INFINITY) return x > 0 ? std::uint32_t(2 * k + 6) : 0u;
    const std::int64_t j = log_index(fabs(x));
    if (x > 0) {
      if (j < lo) return std::uint32_t(k + 4);
      if (j > hi) return std::uint32_t(2 * k + 5);
      return std::uint32_t(k + 5 + std::uint64_t(j - lo));
    }
    if (j < lo) return std::uint32_t(k + 2);
    if (j > hi) return 1u;
    return std::uint32_t(2 + std::uint64_t(hi - j));
  }
};

}  // namespace attnmc::kernels
