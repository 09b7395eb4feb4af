// The plain double-precision reference of the direct model (models.md
// section 1): loops only, no Thrust, no BLAS, no engine code, written to be
// read. It draws the same keyed Gaussians (rng::gaussian_d on the same
// Philox words) as the float32 engine, so the two can be compared network
// by network.
#pragma once

#include <cstdint>
#include <vector>

#include "attnmc/run_spec.hpp"

namespace attnmc::reference {

// Gram matrices V_l = X_l X_l^T / n of ensemble member `member` at
// spec.record_layers (records x m x m, row-major). `spec` must be resolved.
std::vector<double> direct_grams(const RunSpec& spec, std::uint64_t member);

// Attention map of one row of already-scaled logits y (length m):
//   shaped:  out_b = [b == row] + softmax(y)_b - 1/m
//   softmax: out_b = softmax(y)_b
void attention_row(const double* y, int m, bool shaped, int row, double* out);

// Token-wise RMS normalisation of one row: x <- x / sqrt(mean(x^2)).
void rms_normalise(double* x, int n);
// Token-wise LayerNorm of one row, gain 1, bias 0:
// x <- (x - mean x) / sqrt(var x + eps) (var with 1/n, as the oversmoothing family).
void layer_normalise(double* x, int n, double eps);
// The model's normalisation (spec.norm_kind, spec.norm_eps) of one row.
void normalise(const ModelSpec& s, double* x, int n);

}  // namespace attnmc::reference
