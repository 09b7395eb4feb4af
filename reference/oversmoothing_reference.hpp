// The plain double-precision reference of the oversmoothing family
// (models.md section 3): loops and Eigen's textbook factorisations (a
// Householder QR for U, an LU inverse, an SVD for the effective rank), no
// engine code, written to be read. It draws the same keyed random numbers as
// the float32 engine (rng::gaussian_d / uniform_open_d on the same Philox
// words), so the two can be compared network by network.
//
// A `fault` plants a known bug, so that tests can show their checks would
// catch it.
#pragma once

#include <cstdint>
#include <vector>

#include "attnmc/oversmoothing.hpp"

namespace attnmc::reference {

enum class OsFault {
  none,
  lambda_sign,   // Lambda -> -Lambda
  transpose_h,   // H -> H^T
  gain_ignored,  // the normalisation gain's sign is dropped (|g|)
  qr_raw,        // U = the raw Gaussian matrix instead of its Q factor (not orthogonal)
};

struct OsReferenceNetwork {
  std::vector<double> metrics;  // records x kMetricCount
  std::vector<double> tokens;   // X_L, m x n (scaled to ||X||_F = 1 in the linear model)
  double log_norm = 0.0;        // ln ||X_L||_F
};

// Member `member` of a resolved spec.
OsReferenceNetwork oversmoothing_network(const OversmoothingSpec& spec, std::uint64_t member,
                                         OsFault fault = OsFault::none);

// The reference's H of one layer (n x n) and fixed A (m x m).
std::vector<double> oversmoothing_h(const OversmoothingSpec& spec, std::uint64_t member, int layer,
                                    OsFault fault = OsFault::none);
std::vector<double> oversmoothing_fixed_a(const OversmoothingSpec& spec, std::uint64_t member);

}  // namespace attnmc::reference
