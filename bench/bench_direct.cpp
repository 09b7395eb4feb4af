// Direct-sampler benchmark: networks x layers per second, Gaussian draws per
// second, and the fraction of the Philox-Gaussian generation rate (the same
// draws with no GEMMs: this sampler's roofline) measured in the same run.
// --memory-check runs 10x the memory cap's worth of networks and reports the
// process's peak resident memory against the cap.
//
//   bench_direct [--device cpu|cuda] [--threads N] [--quick] [--memory-check]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "attnmc/engine.hpp"
#include "bench/bench_args.hpp"
#include "host/backend.hpp"
#include "host/chunking.hpp"
#include "host/context.hpp"
#include "kernels/chunk_job.hpp"

using namespace attnmc;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;
}

RunSpec spec_for(int n, int m, int depth, std::uint64_t members, Device device, int threads) {
  RunSpec s;
  s.model.width = n;
  s.model.tokens = m;
  s.model.depth = depth;
  s.model.head_dim = 64;
  s.members = members;
  s.device = device;
  s.threads = threads;
  s.record_every = depth;
  s.sampler = Sampler::direct;
  return resolve_run(s);
}

double draws_per_network_layer(const ModelSpec& s) {
  return double(s.heads) * (2.0 * s.width * s.head_dim + double(s.width) * s.width) +
         (s.mlp ? 2.0 * s.width * s.width : 0.0);
}

// The RNG roofline: the same weight draws, in the same chunks, without GEMMs.
double weights_only_seconds(const RunSpec& s, std::uint64_t chunk) {
  kernels::ChunkJob job;
  job.model = kernels::coefficients_of(s.model);
  job.seed = s.seed;
  const host::Backend backend = host::select_backend(s.device);
  const host::Context context(backend, s.threads > 0 ? s.threads : 0);
  const auto weights_only = host::on_backend(backend, &omp::direct_weights_only,
#if defined(ATTNMC_WITH_CUDA)
                                             &cuda::direct_weights_only
#else
                                             &omp::direct_weights_only
#endif
  );
  const auto t0 = Clock::now();
  for (std::uint64_t done = 0; done < s.members; done += chunk) {
    job.first_member = done;
    job.count = std::min(chunk, s.members - done);
    weights_only(context.get(), job);
  }
  return seconds(t0);
}

int memory_check(Device device, int threads) {
  const std::size_t cap = std::size_t(128) << 20;
  RunSpec s = spec_for(512, 4, 4, 1, device, threads);
  s.memory_cap = cap;
  const std::size_t per = bytes_per_network(s);
  s.members = 10 * (cap / per);
  const double before = peak_rss_mib();
  const auto t0 = Clock::now();
  const EnsembleResult r = run_ensemble(s);
  const double after = peak_rss_mib();
  std::printf(
      "memory check: cap %.0f MiB, %zu bytes/network, chunk %llu, %llu networks (10x cap)\n",
      double(cap) / 1048576.0, per, (unsigned long long)r.chunk, (unsigned long long)s.members);
  std::printf("peak RSS before run %.1f MiB, after %.1f MiB: growth %.1f MiB (%s cap) in %.2f s\n",
              before, after, after - before,
              after - before <= double(cap) / 1048576.0 ? "under" : "OVER", seconds(t0));
  return after - before <= double(cap) / 1048576.0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  bench::BenchArgs args;
  if (!bench::parse_bench_args(argc, argv, {"--memory-check"}, &args)) return 2;
  const Device device = args.device;
  const int threads = args.threads;
  const bool quick = args.quick, mem = args.has("--memory-check");
  if (mem) return memory_check(device, threads);

  const double target_draws = args.smoke ? 1e6
                              : quick    ? 2e7
                                         : (device == Device::cuda ? 2e10 : 2e8);
  const int depth = 8;
  std::printf("direct sampler on %s, shaped attention, H=1, n_k=64, depth %d\n",
              device_name(device), depth);
  std::printf("%6s %3s %8s %14s %12s %14s %9s\n", "n", "m", "networks", "net*layer/s", "Mdraws/s",
              "RNG Mdraws/s", "fraction");
  for (int n : {128, 256, 512, 1024}) {
    if (args.smoke && n > 128) break;
    for (int m : {2, 4, 8}) {
      RunSpec s = spec_for(n, m, depth, 1, device, threads);
      const double per_layer = draws_per_network_layer(s.model);
      s.members = std::max<std::uint64_t>(4, std::uint64_t(target_draws / (per_layer * depth)));
      const auto t0 = Clock::now();
      const EnsembleResult r = run_ensemble(s);
      const double t_run = seconds(t0);
      const double t_rng = weights_only_seconds(s, r.chunk);
      const double draws = per_layer * depth * double(s.members);
      std::printf("%6d %3d %8llu %14.0f %12.1f %14.1f %9.2f\n", n, m, (unsigned long long)s.members,
                  double(s.members) * depth / t_run, draws / t_run / 1e6, draws / t_rng / 1e6,
                  t_rng / t_run);
      std::fflush(stdout);
    }
  }
  return 0;
}
