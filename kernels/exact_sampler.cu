// Exact (Gram-chain) sampler: one network per functor call, each running the
// width-free chain of kernels/exact_chain.hpp in double precision. Only the
// initial tokens' factor C0 (computed once per chunk on the host) and the
// recorded Gram matrices cross the host/device boundary. One source, two
// backends: nvcc (namespace attnmc::cuda) and the host compiler with
// Thrust's OpenMP device system (namespace attnmc::omp).
#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <cstdint>
#include <string>
#include <vector>

#include "attnmc/error.hpp"
#include "kernels/chunk_job.hpp"
#include "kernels/exact_chain.hpp"
#include "kernels/launch.hpp"

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
#include "kernels/cuda_check.hpp"
#endif

namespace attnmc::ATTNMC_BACKEND_NS {
namespace {

using kernels::launch::for_each_index;
using kernels::launch::Index;
using kernels::launch::raw;

struct ExactNetworks {
  kernels::ChainParams params;
  std::uint64_t first_member;
  const double* c0;
  const int* record_layers;
  int records;
  float* out;  // count x records x m x m
  ATTNMC_HD void operator()(Index c) const {
    const int mm = params.model.m * params.model.m;
    kernels::exact_network(params, std::uint32_t(first_member + std::uint64_t(c)), c0,
                           record_layers, records, out + c * Index(records) * mm);
  }
};

void validate(const kernels::ModelCoefficients& p) {
  if (p.m < 1 || p.m > kernels::kExactMaxTokens)
    throw InputError("model.tokens", "the exact sampler supports 1 to " +
                                         std::to_string(kernels::kExactMaxTokens) +
                                         " tokens (got " + std::to_string(p.m) + ")");
  if (p.n < p.m) throw InputError("model.width", "the exact sampler needs width n >= tokens m");
  if (p.heads < 1 || p.heads >= (1 << 17))
    throw InputError("model.heads", "the exact sampler supports 1 to 131071 heads");
  if (p.head_dim < 1) throw InputError("model.head_dim", "must be positive");
}

}  // namespace

std::size_t exact_bytes_per_network(const kernels::ModelCoefficients& p) {
  // Only the recorded Gram matrices live in buffers; the chain itself is on
  // the stack of the thread that runs the network.
  return std::size_t(p.depth + 1) * std::size_t(p.m) * std::size_t(p.m) * sizeof(float);
}

void exact_chunk(const kernels::ChunkJob& job, float* grams) {
  const kernels::ModelCoefficients& p = job.model;
  validate(p);
  kernels::launch::use_cpu_threads(job.threads);
  std::vector<double> c0_host(std::size_t(p.m) * p.m);
  kernels::initial_factor(job.x0, p.m, p.n, c0_host.data());
  thrust::device_vector<double> c0(c0_host.begin(), c0_host.end());
  thrust::device_vector<int> records(job.record_layers, job.record_layers + job.records);
  thrust::device_vector<float> out(std::size_t(job.count) * job.records * p.m * p.m);
  kernels::ChainParams params;
  params.model = p;
  params.seed = job.seed;
  for_each_index(Index(job.count), ExactNetworks{params, job.first_member, raw(c0), raw(records),
                                                 job.records, raw(out)});
  thrust::copy(out.begin(), out.end(), grams);
}

}  // namespace attnmc::ATTNMC_BACKEND_NS
