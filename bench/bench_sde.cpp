// SDE benchmark: trajectory-steps per second of the shaped-attention
// covariance SDE (Euler-Maruyama, both noise terms) for m = 2, 4, 8, side by
// side with the batched NumPy Euler-Maruyama of the same SDE
// (bench/sde_numpy_baseline.py), run in the same invocation.
//
//   bench_sde [--device cpu|cuda] [--threads N] [--quick] [--no-numpy]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "attnmc/sde.hpp"
#include "bench/bench_args.hpp"

using namespace attnmc;
using Clock = std::chrono::steady_clock;

namespace {

double rate(int m, std::uint64_t paths, std::int64_t steps, Device device, int threads,
            SdeScheme scheme = SdeScheme::euler) {
  SdeSpec s;
  s.scheme = scheme;
  s.model.tokens = m;
  s.dynamics = SdeDynamics::attention;
  s.input.rho0 = 0.3;
  s.horizon = 0.5;
  s.steps = steps;
  s.record_every = steps;  // start and end only: the benchmark is the integrator
  s.trajectories = paths;
  s.device = device;
  s.threads = threads;
  const auto t0 = Clock::now();
  run_sde(s);
  return double(paths) * double(steps) / std::chrono::duration<double>(Clock::now() - t0).count();
}

double numpy_rate(int m, int paths, int steps) {
  const std::string cmd = std::string("python3 '") + ATTNMC_SOURCE_DIR +
                          "/bench/sde_numpy_baseline.py' --m " + std::to_string(m) + " --paths " +
                          std::to_string(paths) + " --steps " + std::to_string(steps);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return 0;
  double r = 0;
  if (std::fscanf(p, "%lf", &r) != 1) r = 0;
  pclose(p);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  bench::BenchArgs args;
  if (!bench::parse_bench_args(argc, argv, {"--no-numpy"}, &args)) return 2;
  const Device device = args.device;
  const int threads = args.threads;
  const bool quick = args.quick, numpy = !args.has("--no-numpy");
  std::printf("# shaped-attention covariance SDE, Euler-Maruyama, T = 0.5, rho0 = 0.3\n");
  std::printf("# %-4s %14s %14s %14s %14s %9s %9s\n", "m", "euler", "euler 1 thr", "weak-euler",
              "numpy", "euler/np", "weak/np");
  for (int m : {2, 4, 8}) {
    if (args.smoke && m > 4) break;
    const std::uint64_t paths = args.smoke ? 500
                                : quick    ? 20000
                                           : (device == Device::cuda ? 2000000 : 100000);
    const std::int64_t steps = args.smoke ? 10 : quick ? 50 : 200;
    rate(m, 2000, 10, device, threads);  // warm-up
    const double r = rate(m, paths, steps, device, threads);
    const double r1 = device == Device::cuda ? 0 : rate(m, paths / 4, steps, device, 1);
    const double rw = rate(m, paths, steps, device, threads, SdeScheme::weak_euler);
    const double np = numpy ? numpy_rate(m, 20000, quick ? 10 : 50) : 0;
    std::printf("  %-4d %14.4g %14.4g %14.4g %14.4g %8.1fx %8.1fx\n", m, r, r1, rw, np,
                np > 0 ? r / np : 0.0, np > 0 ? rw / np : 0.0);
    std::fflush(stdout);
  }
  return 0;
}
