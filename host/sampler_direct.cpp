// Declaration of the direct sampler: draws every weight matrix (i.i.d.
// Gaussian), m <= kMaxTokens (its fused attention rows), width up to 2^17
// (an n x n matrix is at most 2^32 Philox blocks of four draws), heads
// below 2^29 (slot 8 h + matrix fits 32 bits). Cost ~ n^2 per layer.
// Kernels: kernels/direct_sampler.cu.
#include "host/samplers.hpp"
#include "kernels/attention_math.hpp"

namespace attnmc::host {

const SamplerInfo& direct_sampler() {
  static const SamplerInfo info = [] {
    SamplerInfo s;
    s.id = Sampler::direct;
    s.name = "direct";
    s.laws = {WeightLaw::gaussian_iid};
    s.max_tokens = kernels::kMaxTokens;
    s.max_width = 1 << 17;
    s.max_heads = (1 << 29) - 1;
    s.norm_kinds = {NormKind::rms, NormKind::layer};  // every weight drawn: any token map
    s.law_note = "every weight drawn";
    s.bytes_per_network = &attnmc::omp::direct_bytes_per_network;
    s.fixed_bytes = &attnmc::omp::direct_fixed_bytes;
    s.omp_chunk = &attnmc::omp::direct_chunk;
#if defined(ATTNMC_WITH_CUDA)
    s.cuda_chunk = &attnmc::cuda::direct_chunk;
#endif
    return s;
  }();
  return info;
}

}  // namespace attnmc::host
