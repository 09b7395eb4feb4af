// Attention-paths prior Monte Carlo benchmark: random networks per second
// against the width N (N_1 = N_2 = N_a = N) on the paper's Markov-chain task
// (T = 30, N_0 = 200, N_in = 231, 2 x 2 heads: 4 paths), for
//  - the engine alone (keyed weights, effective path weights, f_p(x_mu) for
//    every sequence and path: simulate_paths_prior), and
//  - the whole prior run (plus the streaming K_MC, path-pair and alignment
//    statistics in member order: run_paths_prior), its fixed setup (the
//    attention matrices, path features and K_GP) timed apart.
// bench/bench_paths_numpy.py is the NumPy script a user would write for the
// same networks (the same path decomposition, batched matmuls); run both
// side by side (docs/performance.md, "Attention paths").
//
//   bench_paths [--device cpu|cuda] [--threads N] [--quick] [--smoke] [--prior-only]
//   [--direct-only]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "attnmc/paths.hpp"
#include "bench/bench_args.hpp"
#include "host/paths/direct_engine.hpp"
#include "host/paths/prior_engine.hpp"

using namespace attnmc;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  bench::BenchArgs args;
  if (!bench::parse_bench_args(argc, argv, {"--prior-only", "--direct-only"}, &args)) return 2;
  PathsSpec s;
  s.task.markov.train = 100;
  s.task.markov.test = args.smoke ? 4 : 100;
  if (args.smoke) s.task.markov.train = 4;
  s.heads = markov_task_heads();
  s.variances = {1.0};
  s.widths = {10};
  s.device = args.device;
  s.threads = args.threads;
  s = resolve_paths(s);
  const PathsTask t = make_paths_task(s);
  std::printf(
      "# paths prior: Markov task, %d sequences, N_in %d, T+1 %d, 4 paths; device %s, "
      "threads %d\n",
      t.sequences(), t.n_in, t.columns, args.device == Device::cuda ? "cuda" : "cpu", args.threads);
  std::printf("%6s %9s %14s %14s %10s\n", "N", "networks", "engine net/s", "run net/s", "setup s");
  std::vector<int> widths = {10, 30, 100, 300, 1000};
  if (args.quick) widths = {10, 100};
  if (args.smoke) widths = {4};
  auto seconds = [](auto&& f) {
    const auto t0 = Clock::now();
    f();
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  if (args.has("--direct-only")) widths.clear();
  for (int n : widths) {
    s.widths = {n, n, n};
    s.chunk = 0;
    // about 2 s of engine time per point on 2 cores (1/4 with --quick)
    const std::uint64_t base = n <= 10    ? 12000
                               : n <= 30  ? 8000
                               : n <= 100 ? 4000
                               : n <= 300 ? 1000
                                          : 150;
    s.members = args.smoke ? 16 : args.quick ? base / 4 : base;
    // the engine's own setup (the path features) is timed with one network and removed
    const double engine_setup = seconds([&] { (void)simulate_paths_prior(s, t, 0, 1); });
    const double engine =
        seconds([&] { (void)simulate_paths_prior(s, t, 0, s.members); }) - engine_setup;
    // the run's fixed cost (attention, path features, K_GP): one network
    const std::uint64_t members = s.members;
    s.members = 1;
    const double setup = seconds([&] { (void)run_paths_prior(s, t); });
    s.members = members;
    const double run = seconds([&] { (void)run_paths_prior(s, t); });
    std::printf("%6d %9llu %14.0f %14.0f %10.3f\n", n, (unsigned long long)s.members,
                double(s.members) / engine, double(s.members) / std::max(1e-9, run - setup), setup);
    std::fflush(stdout);
  }
  // The weight-space posterior (run.mode = direct): HMC chain steps per second
  // (each step 10 leapfrog gradient evaluations) on a small Markov task
  // (8 train, 4 test sequences, T = 6, N_0 = 10).
  PathsSpec d = s;
  d.task.markov.train = 8;
  d.task.markov.test = 4;
  d.task.markov.tokens = 6;
  d.task.markov.features = 10;
  d.temperature = 0.3;
  d.chunk = 0;
  d = resolve_paths(d);
  const PathsTask dt = make_paths_task(d);
  std::printf(
      "# paths direct: HMC chains, 10 leapfrog steps per step, %d train sequences, N_in %d\n",
      dt.train, dt.n_in);
  std::printf("%6s %8s %12s %14s %11s\n", "N", "chains", "steps/chain", "chain-steps/s",
              "acceptance");
  std::vector<int> dwidths = {2, 4, 8, 16, 32, 64};
  if (args.quick) dwidths = {4, 16};
  if (args.smoke) dwidths = {2};
  if (args.has("--prior-only")) dwidths.clear();
  for (int n : dwidths) {
    d.widths = {n, n, n};
    d.members = args.smoke ? 2 : 16;
    PathsDirectOptions o;
    o.leapfrog = 10;
    o.burn_in = 0;
    o.steps =
        args.smoke
            ? 4
            : std::max(20, std::min(5000, int((args.quick ? 2e5 : 2e6) / (double(n) * n * 10))));
    PathsDirectResult r;
    const double sec = seconds([&] { r = run_paths_direct(d, dt, o); });
    std::printf("%6d %8llu %12d %14.0f %11.3f\n", n, (unsigned long long)d.members, o.steps,
                double(d.members) * o.steps / sec, r.acceptance);
    std::fflush(stdout);
  }
  return 0;
}
