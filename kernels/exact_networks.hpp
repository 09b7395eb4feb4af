// The exact sampler's kernel launch for one token bucket kM (4, 8 or
// kExactMaxTokens; kernels/exact_chain.hpp, exact_bucket). Each bucket is
// its own translation unit (kernels/exact_networks.cu, compiled once per
// bucket with ATTNMC_EXACT_BUCKET set): nvcc's ptxas spends minutes on each
// bucket, and separate units build in parallel. Declared per backend
// namespace, like every kernel entry point.
#pragma once

#include <cstdint>

#include "kernels/exact_chain.hpp"
#include "kernels/exec_context.hpp"

namespace attnmc::ATTNMC_BACKEND_NS {

struct ExactLaunch {
  kernels::ChainParams params;
  std::uint64_t first_member = 0;
  std::int64_t count = 0;              // networks
  const double* c0 = nullptr;          // device, m x m
  const int* record_layers = nullptr;  // device, records
  int records = 0;
  float* out = nullptr;  // device, count x records x m x m
};

// Runs launch.count networks with ExactNetwork<kM> (asynchronously on CUDA).
template <int kM>
void exact_networks(const kernels::ExecContext& cx, const ExactLaunch& launch);
template <>
void exact_networks<4>(const kernels::ExecContext& cx, const ExactLaunch& launch);
template <>
void exact_networks<8>(const kernels::ExecContext& cx, const ExactLaunch& launch);
template <>
void exact_networks<kernels::kExactMaxTokens>(const kernels::ExecContext& cx,
                                              const ExactLaunch& launch);

}  // namespace attnmc::ATTNMC_BACKEND_NS
