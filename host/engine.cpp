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

// One chunk's results on the host: the device reduction's aggregate and,
// when asked, the Gram matrices themselves (count x records x m x m).
struct GramBuffer {
  std::size_t per_member = 0;
  bool keep_grams = false;
  std::vector<float> grams;
  kernels::GramAggregate aggregate;
  void resize(std::uint64_t members) { grams.resize(keep_grams ? members * per_member : 0); }
};

// Everything decided before the first chunk.
struct NetworkPlan {
  host::Backend backend;
  host::SamplerChoice choice;
  kernels::ModelCoefficients coef;
  std::size_t per_member = 0;  // floats of one member's records
  bool host_grams = false;     // every member's grams come back to the host
  host::ChunkPlan chunks;
};

// `statistics`: the fixed costs of what the caller aggregates into (none:
// no device reduction); `host_grams`: the caller reads every member's grams.
NetworkPlan plan_networks(const RunSpec& spec, std::uint64_t first, std::uint64_t end,
                          std::vector<host::MemoryCost> statistics, bool host_grams) {
  NetworkPlan p;
  p.backend = host::select_backend(spec.device);
  p.choice = host::choose_sampler(spec);
  p.coef = kernels::coefficients_of(spec.model);
  const int records = int(spec.record_layers.size());
  const std::size_t m = std::size_t(spec.model.tokens), n = std::size_t(spec.model.width);
  p.per_member = std::size_t(records) * m * m;
  p.host_grams = host_grams;
  const host::SamplerInfo& s = *p.choice.sampler;
  host::MemoryRule rule;
  rule.memory_cap = spec.memory_cap;
  rule.free_memory = p.backend.free_memory;
  const bool reduce = !statistics.empty();
  const host::GramDeliveryCosts delivery =
      host::gram_delivery_costs(p.backend, int(m), records, reduce, host_grams);
  rule.per_item = s.bytes_per_network(p.coef, records) + delivery.per_item;
  rule.fixed = std::move(statistics);
  if (reduce) rule.fixed.push_back(delivery.fixed);
  rule.fixed.push_back(
      {host::saturating_mul(m * n, sizeof(double)), "input tokens", "model.width"});
  rule.fixed.push_back(
      {s.fixed_bytes(p.coef, records), std::string(s.name) + " sampler constants", "model.width"});
  rule.requested = spec.chunk;
  p.chunks = host::plan_chunks(std::move(rule), first, end, spec.threads);
  return p;
}

// Runs the plan; sink(buffer, members) gets each chunk in member order,
// reduced on the device by `reduction` (null: none) and with its grams when
// the plan says so.
template <typename Sink>
void run_networks(const RunSpec& spec, const NetworkPlan& p,
                  const kernels::GramStatisticsJob* reduction, Sink sink) {
  const std::vector<double> x0 = initial_tokens(spec.input, spec.model);
  kernels::ChunkJob job;
  job.model = p.coef;
  job.seed = spec.seed;
  job.x0 = x0.data();
  job.record_layers = spec.record_layers.data();
  job.records = int(spec.record_layers.size());
  const host::NetworkChunkFn chunk = p.choice.sampler->chunk(p.backend);
  GramBuffer proto;
  proto.per_member = p.per_member;
  proto.keep_grams = p.host_grams;
  host::drive(
      p.backend, p.chunks, proto,
      [&](const kernels::ExecContext& cx, std::uint64_t first, std::uint64_t count, GramBuffer& o) {
        kernels::ChunkJob j = job;
        j.first_member = first;
        j.count = count;
        chunk(cx, j, kernels::gram_output(p.host_grams, o.grams.data(), reduction, o.aggregate));
      },
      [&](const GramBuffer& o, std::uint64_t, std::uint64_t count) { sink(o, count); });
}

}  // namespace

std::size_t bytes_per_network(const RunSpec& spec) {
  const RunSpec s = resolve_run(spec);
  const host::SamplerInfo& sampler = *host::choose_sampler(s).sampler;
  const int records = int(s.record_layers.size());
  return sampler.bytes_per_network(kernels::coefficients_of(s.model), records) +
         host::gram_delivery_costs(host::select_backend(s.device), s.model.tokens, records, true,
                                   s.statistics_options().exact_quantiles)
             .per_item;
}

std::vector<float> simulate_grams(const RunSpec& spec, std::uint64_t first, std::uint64_t count) {
  const NetworkPlan p = plan_networks(spec, first, first + count, {}, true);
  std::vector<float> all;
  all.reserve(std::size_t(count) * p.per_member);
  run_networks(spec, p, nullptr, [&](const GramBuffer& b, std::uint64_t members) {
    all.insert(all.end(), b.grams.data(), b.grams.data() + members * p.per_member);
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
          {"ensemble.histogram_bins", "ensemble.rho_quantile_bins", "ensemble.exact_quantiles"}),
      options.exact_quantiles);
  result.device = device_name(p.backend.device);
  result.sampler = sampler_name(p.choice.sampler->id);
  result.sampler_reason = p.choice.reason;
  result.threads = p.chunks.threads;
  result.chunk = p.chunks.chunk;
  result.stats = EnsembleStatistics(spec.model.tokens, spec.record_layers, options);
  result.stats.reserve_for(total);
  const kernels::GramStatisticsJob reduction = result.stats.device_job();
  std::uint64_t done = 0;
  const auto t0 = Clock::now();
  // The device reduces each chunk; the host adds its aggregate while the
  // next chunk runs (host/driver.hpp).
  run_networks(spec, p, &reduction, [&](const GramBuffer& b, std::uint64_t members) {
    const auto t_stats = Clock::now();
    result.stats.add_aggregate(b.aggregate, b.grams.data(), members);
    result.seconds_statistics += seconds_since(t_stats);
    done += members;
    if (progress) progress(done, total);
  });
  result.seconds_simulate = seconds_since(t0) - result.seconds_statistics;
  return result;
}

}  // namespace attnmc
