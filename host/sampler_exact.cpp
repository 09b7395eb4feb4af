// Declaration of the exact (Gram-chain) sampler: i.i.d. Gaussian weights
// only (the chain uses their rotation invariance), m <= kExactMaxTokens,
// any width (its cost does not grow with it), heads below 2^17 (the chain's
// slot layout). Kernels: kernels/exact_sampler.cu.
#include <limits>

#include "host/samplers.hpp"
#include "kernels/exact_chain.hpp"

namespace attnmc::host {

const SamplerInfo& exact_sampler() {
  static const SamplerInfo info = [] {
    SamplerInfo s;
    s.id = Sampler::exact;
    s.name = "exact";
    s.laws = {WeightLaw::gaussian_iid};
    s.max_tokens = kernels::kExactMaxTokens;
    s.max_width = std::numeric_limits<int>::max();
    s.max_heads = (1 << 17) - 1;
    s.width_free = true;
    s.law_note = "Gram chain: the law of V given Gaussian rotation-invariant weights";
    s.bytes_per_network = &attnmc::omp::exact_bytes_per_network;
    s.fixed_bytes = &attnmc::omp::exact_fixed_bytes;
    s.omp_chunk = &attnmc::omp::exact_chunk;
#if defined(ATTNMC_WITH_CUDA)
    s.cuda_chunk = &attnmc::cuda::exact_chunk;
#endif
    return s;
  }();
  return info;
}

}  // namespace attnmc::host
