// The finite-network family on the driver: validates a run, picks the
// backend and the sampler (host/samplers.hpp), checks the memory cap for
// everything the run will hold before any work, and streams each chunk's
// Gram matrices into the statistics in member order (so chunking and
// threading never change the result).
#include "attnmc/engine.hpp"

#include <chrono>
#include <string>

#include "attnmc/error.hpp"
#include "host/backend.hpp"
#include "host/chunking.hpp"
#include "host/driver.hpp"
#include "host/samplers.hpp"

namespace attnmc {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// One chunk's results on the host: count x records x m x m.
struct GramBuffer {
  std::size_t per_member = 0;
  std::vector<float> grams;
  void resize(std::uint64_t members) { grams.resize(members * per_member); }
};

// Everything decided before the first chunk.
struct NetworkPlan {
  host::Backend backend;
  host::SamplerChoice choice;
  kernels::ModelCoefficients coef;
  std::size_t per_member = 0;  // floats of one member's records
  host::ChunkPlan chunks;
};

// `statistics`: the fixed costs of what the caller aggregates into.
NetworkPlan plan_networks(const RunSpec& spec, std::uint64_t first, std::uint64_t end,
                          std::vector<host::MemoryCost> statistics) {
  NetworkPlan p;
  p.backend = host::select_backend(spec.device);
  p.choice = host::choose_sampler(spec);
  p.coef = kernels::coefficients_of(spec.model);
  const int records = int(spec.record_layers.size());
  const std::size_t m = std::size_t(spec.model.tokens), n = std::size_t(spec.model.width);
  p.per_member = std::size_t(records) * m * m;
  const host::SamplerInfo& s = *p.choice.sampler;
  host::MemoryRule rule;
  rule.memory_cap = spec.memory_cap;
  rule.free_memory = p.backend.free_memory;
  rule.per_item = s.bytes_per_network(p.coef, records) + p.per_member * sizeof(float);
  rule.fixed = std::move(statistics);
  rule.fixed.push_back(
      {host::saturating_mul(m * n, sizeof(double)), "input tokens", "model.width"});
  rule.fixed.push_back(
      {s.fixed_bytes(p.coef, records), std::string(s.name) + " sampler constants", "model.width"});
  rule.requested = spec.chunk;
  rule.items = end - first;
  rule.cap_key = "ensemble.memory_cap";
  rule.chunk_key = "ensemble.chunk";
  p.chunks.begin = first;
  p.chunks.end = end;
  p.chunks.chunk = host::chunk_size(rule);
  p.chunks.threads = host::resolve_threads(spec.threads);
  return p;
}

// Runs the plan; sink(grams, members) gets each chunk in member order.
template <typename Sink>
void run_networks(const RunSpec& spec, const NetworkPlan& p, Sink sink) {
  const std::vector<double> x0 = initial_tokens(spec.input, spec.model);
  kernels::ChunkJob job;
  job.model = p.coef;
  job.seed = spec.seed;
  job.x0 = x0.data();
  job.record_layers = spec.record_layers.data();
  job.records = int(spec.record_layers.size());
  const host::NetworkChunkFn chunk = p.choice.sampler->chunk(p.backend);
  GramBuffer out;
  out.per_member = p.per_member;
  host::drive(
      p.backend, p.chunks, out,
      [&](const kernels::ExecContext& cx, std::uint64_t first, std::uint64_t count, GramBuffer& o) {
        job.first_member = first;
        job.count = count;
        chunk(cx, job, o.grams.data());
      },
      [&](const GramBuffer& o, std::uint64_t, std::uint64_t count) {
        sink(o.grams.data(), count);
      });
}

}  // namespace

std::size_t bytes_per_network(const RunSpec& spec) {
  const RunSpec s = resolve_run(spec);
  const host::SamplerInfo& sampler = *host::choose_sampler(s).sampler;
  const std::size_t m = std::size_t(s.model.tokens);
  return sampler.bytes_per_network(kernels::coefficients_of(s.model), int(s.record_layers.size())) +
         s.record_layers.size() * m * m * sizeof(float);
}

std::vector<float> simulate_grams(const RunSpec& spec, std::uint64_t first, std::uint64_t count) {
  const NetworkPlan p = plan_networks(spec, first, first + count, {});
  std::vector<float> all;
  all.reserve(std::size_t(count) * p.per_member);
  run_networks(spec, p, [&](const float* g, std::uint64_t members) {
    all.insert(all.end(), g, g + members * p.per_member);
  });
  return all;
}

EnsembleResult run_ensemble(const RunSpec& in, const Progress& progress) {
  EnsembleResult result;
  result.spec = resolve_run(in);
  const RunSpec& spec = result.spec;
  const std::uint64_t total = spec.end_member() - spec.member_begin;
  const StatisticsOptions options = spec.statistics_options();
  const NetworkPlan p = plan_networks(
      spec, spec.member_begin, spec.end_member(),
      host::statistics_costs(
          spec.model.tokens, spec.record_layers.size(), options, total,
          {"ensemble.histogram_bins", "ensemble.rho_quantile_bins", "ensemble.exact_quantiles"}));
  result.device = device_name(p.backend.device);
  result.sampler = sampler_name(p.choice.sampler->id);
  result.sampler_reason = p.choice.reason;
  result.threads = p.chunks.threads;
  result.chunk = p.chunks.chunk;
  result.stats = EnsembleStatistics(spec.model.tokens, spec.record_layers, options);
  std::uint64_t done = 0;
  auto t_chunk = Clock::now();
  run_networks(spec, p, [&](const float* g, std::uint64_t members) {
    result.seconds_simulate += seconds_since(t_chunk);
    const auto t_stats = Clock::now();
    result.stats.add_members(g, members, nullptr, result.threads);
    result.seconds_statistics += seconds_since(t_stats);
    done += members;
    if (progress) progress(done, total);
    t_chunk = Clock::now();
  });
  return result;
}

}  // namespace attnmc
