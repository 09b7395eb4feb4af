// Plain double-precision reference of the exact (Gram-chain) sampler of
// kernels/exact_chain.hpp: std::vector matrices, whole-matrix products and
// modified Gram-Schmidt factorisations instead of the kernel's streamed
// Householder LQ, the same keyed draws (stream layout of exact_chain.hpp).
// Both produce the unique lower-triangular factor with positive diagonal, so
// engine and reference agree network by network up to rounding.
#pragma once

#include <cstdint>
#include <vector>

#include "attnmc/run_spec.hpp"

namespace attnmc::reference {

// Gram matrices V_l = C_l C_l^T / n of member `member` of the exact chain at
// spec.record_layers (records x m x m, row-major). `spec` must be resolved.
std::vector<double> exact_grams(const RunSpec& spec, std::uint64_t member);

// Lower-triangular L (rows x rows, positive diagonal where the rows are
// independent) with L L^T = A A^T, for A rows x cols row-major, by modified
// Gram-Schmidt on the rows of A.
std::vector<double> gram_schmidt_factor(const std::vector<double>& a, int rows, int cols);

}  // namespace attnmc::reference
