// Exact (Gram-chain) sampler: one network per functor call, each running the
// width-free chain of kernels/exact_chain.hpp in double precision, launched
// per token bucket (kernels/exact_networks.cu). Only the
// initial tokens' factor C0 (computed once per chunk on the host) and the
// recorded Gram matrices cross the host/device boundary. One source, two
// backends: nvcc (namespace attnmc::cuda) and the host compiler with
// Thrust's OpenMP device system (namespace attnmc::omp).
#include <cstdint>
#include <string>

#include "attnmc/error.hpp"
#include "kernels/chunk_job.hpp"
#include "kernels/exact_chain.hpp"
#include "kernels/exact_networks.hpp"
#include "kernels/launch.hpp"

namespace attnmc::ATTNMC_BACKEND_NS {
namespace {

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

std::size_t exact_bytes_per_network(const kernels::ModelCoefficients& p, int records) {
  // Only the recorded Gram matrices live in buffers; the chain itself is on
  // the stack of the thread that runs the network.
  return std::size_t(records) * std::size_t(p.m) * std::size_t(p.m) * sizeof(float);
}

std::size_t exact_fixed_bytes(const kernels::ModelCoefficients& p, int records) {
  return std::size_t(p.m) * std::size_t(p.m) * sizeof(double) + std::size_t(records) * sizeof(int);
}

void exact_chunk(const kernels::ExecContext& cx, const kernels::ChunkJob& job,
                 const kernels::GramChunkOutput& output) {
  const kernels::ModelCoefficients& p = job.model;
  validate(p);
  const kernels::launch::Scope scope(cx);
  // C0 is m x m (m <= kExactMaxTokens): on the stack, no per-chunk allocation.
  double c0_host[kernels::kExactMaxTokens * kernels::kExactMaxTokens];
  kernels::initial_factor(job.x0, p.m, p.n, c0_host);
  auto buffers = cx.arena->frame();
  double* c0 = buffers.take<double>(std::size_t(p.m) * p.m);
  int* records = buffers.take<int>(std::size_t(job.records));
  float* out = buffers.take<float>(std::size_t(job.count) * job.records * p.m * p.m);
  kernels::launch::copy_to_device(cx, c0, c0_host, std::size_t(p.m) * p.m);
  kernels::launch::copy_to_device(cx, records, job.record_layers, std::size_t(job.records));
  ExactLaunch launch;
  launch.params.model = p;
  launch.params.seed = job.seed;
  launch.first_member = job.first_member;
  launch.count = std::int64_t(job.count);
  launch.c0 = c0;
  launch.record_layers = records;
  launch.records = job.records;
  launch.out = out;
  switch (kernels::exact_bucket(p.m)) {  // host-side dispatch on the token bucket
    case 4:
      exact_networks<4>(cx, launch);
      break;
    case 8:
      exact_networks<8>(cx, launch);
      break;
    default:
      exact_networks<kernels::kExactMaxTokens>(cx, launch);
  }
  deliver_grams(cx, buffers, output, out, nullptr, nullptr, job.count, int(p.m), job.records);
}

}  // namespace attnmc::ATTNMC_BACKEND_NS
