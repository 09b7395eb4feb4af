// Engine driver: validates a run, picks the backend and sampler, splits the
// ensemble into chunks that fit the memory cap, and streams each chunk's Gram
// matrices into the statistics in member order (so chunking and threading
// never change the result).
#include "attnmc/engine.hpp"

#include <algorithm>
#include <chrono>
#include <string>

#include "attnmc/error.hpp"
#include "host/backend.hpp"
#include "host/chunking.hpp"
#include "kernels/attention_math.hpp"
#include "kernels/exact_chain.hpp"

namespace attnmc {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The sampler that runs a job: its chunk function and memory need.
struct SamplerOps {
  Sampler sampler;
  void (*chunk)(const kernels::ChunkJob&, float*);
  std::size_t bytes_per_network;
};

SamplerOps select_sampler(const RunSpec& spec, const host::Backend& backend) {
  const kernels::ModelCoefficients coef = kernels::coefficients_of(spec.model);
  // Every model of the family has i.i.d. Gaussian weights, so the exact
  // (Gram-chain) sampler applies whenever its token limit allows; its cost
  // does not grow with width, so "automatic" prefers it.
  const bool exact =
      spec.sampler == Sampler::exact ||
      (spec.sampler == Sampler::automatic && spec.model.tokens <= kernels::kExactMaxTokens);
  if (exact) {
    if (spec.model.tokens > kernels::kExactMaxTokens)
      throw InputError("model.tokens", "the exact sampler supports at most " +
                                           std::to_string(kernels::kExactMaxTokens) + " tokens");
    return {Sampler::exact, backend.exact_chunk, backend.exact_bytes_per_network(coef)};
  }
  if (spec.model.tokens > kernels::kMaxTokens)
    throw InputError("model.tokens", "the direct sampler supports at most " +
                                         std::to_string(kernels::kMaxTokens) + " tokens");
  return {Sampler::direct, backend.direct_chunk, backend.direct_bytes_per_network(coef)};
}

// Runs members [first, first + count) chunk by chunk; `sink(grams, members)`
// receives each chunk's Gram matrices in member order.
template <typename Sink>
std::uint64_t for_each_chunk(const RunSpec& spec, const host::Backend& backend,
                             const SamplerOps& ops, std::uint64_t first, std::uint64_t count,
                             Sink sink) {
  const std::vector<double> x0 = initial_tokens(spec.input, spec.model);
  const std::uint64_t chunk =
      host::chunk_size(spec.memory_cap, backend.free_memory, ops.bytes_per_network, spec.chunk,
                       count, "ensemble.memory_cap", "ensemble.chunk");
  const std::size_t per_member =
      spec.record_layers.size() * std::size_t(spec.model.tokens) * std::size_t(spec.model.tokens);
  std::vector<float> grams(std::size_t(chunk) * per_member);
  kernels::ChunkJob job;
  job.model = kernels::coefficients_of(spec.model);
  job.seed = spec.seed;
  job.x0 = x0.data();
  job.record_layers = spec.record_layers.data();
  job.records = int(spec.record_layers.size());
  job.threads = host::resolve_threads(spec.threads);
  for (std::uint64_t done = 0; done < count; done += chunk) {
    job.first_member = first + done;
    job.count = std::min(chunk, count - done);
    ops.chunk(job, grams.data());
    sink(grams.data(), job.count);
  }
  return chunk;
}

}  // namespace

std::size_t bytes_per_network(const RunSpec& spec) {
  const RunSpec s = resolve_run(spec);
  return select_sampler(s, host::select_backend(s.device)).bytes_per_network;
}

std::vector<float> simulate_grams(const RunSpec& spec, std::uint64_t first, std::uint64_t count) {
  const host::Backend backend = host::select_backend(spec.device);
  const SamplerOps ops = select_sampler(spec, backend);
  const std::size_t per_member =
      spec.record_layers.size() * std::size_t(spec.model.tokens) * std::size_t(spec.model.tokens);
  std::vector<float> all;
  all.reserve(std::size_t(count) * per_member);
  for_each_chunk(spec, backend, ops, first, count, [&](const float* g, std::uint64_t members) {
    all.insert(all.end(), g, g + members * per_member);
  });
  return all;
}

EnsembleResult run_ensemble(const RunSpec& in, const Progress& progress) {
  EnsembleResult result;
  result.spec = resolve_run(in);
  const RunSpec& spec = result.spec;
  const host::Backend backend = host::select_backend(spec.device);
  const SamplerOps ops = select_sampler(spec, backend);
  result.device = device_name(backend.device);
  result.sampler = sampler_name(ops.sampler);
  result.threads = host::resolve_threads(spec.threads);
  result.stats = EnsembleStatistics(spec.model.tokens, spec.record_layers, spec.histogram_bins,
                                    spec.overflow_threshold);
  const std::size_t per_member =
      spec.record_layers.size() * std::size_t(spec.model.tokens) * std::size_t(spec.model.tokens);
  std::uint64_t done = 0;
  auto t_chunk = Clock::now();
  result.chunk = for_each_chunk(spec, backend, ops, 0, spec.members,
                                [&](const float* g, std::uint64_t members) {
                                  result.seconds_simulate += seconds_since(t_chunk);
                                  const auto t_stats = Clock::now();
                                  for (std::uint64_t i = 0; i < members; ++i)
                                    result.stats.add_member(g + i * per_member);
                                  result.seconds_statistics += seconds_since(t_stats);
                                  done += members;
                                  if (progress) progress(done, spec.members);
                                  t_chunk = Clock::now();
                                });
  return result;
}

}  // namespace attnmc
