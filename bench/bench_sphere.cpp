// Sphere-model benchmark: trajectory-steps per second for N = 2, 8, 32 and
// d = 3..64 (geometric SDE scheme, matrix and reduced noise), and the cost of
// one (beta, d) cell of the two-token phase diagram at a stated precision.
//
//   bench_sphere [--device cpu|cuda] [--threads N] [--quick]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "attnmc/sphere.hpp"
#include "bench/bench_args.hpp"

using namespace attnmc;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Trajectory-steps per second of one configuration (uniform starts).
double rate(int n, int d, SphereNoise noise, std::int64_t traj_steps, Device device, int threads) {
  SphereSpec s;
  s.tokens = n;
  s.dim = d;
  s.scheme = SphereScheme::sde_geometric;
  s.noise = noise;
  s.init = SphereInit::uniform;
  s.beta = 1.0;
  s.horizon = 1.0;
  s.steps = 200;
  s.trajectories = std::uint64_t(std::max<std::int64_t>(traj_steps / s.steps, 64));
  s.device = device;
  s.threads = threads;
  const auto t0 = Clock::now();
  run_sphere(s);
  return double(s.trajectories) * double(s.steps) / seconds(t0);
}

}  // namespace

int main(int argc, char** argv) {
  bench::BenchArgs args;
  if (!bench::parse_bench_args(argc, argv, {}, &args)) return 2;
  const Device device = args.device;
  const int threads = args.threads;
  const bool quick = args.quick;
  const std::int64_t budget = args.smoke ? 2000
                              : quick    ? 200000
                                         : 2000000;  // trajectory-steps per point (N = 2)
  std::printf("# trajectory-steps / s, sde-geometric, uniform starts (device %s, threads %d)\n",
              device == Device::cuda ? "cuda" : "cpu", threads);
  std::printf("%4s %4s %14s %14s\n", "N", "d", "matrix", "reduced");
  for (int n : {2, 8, 32})
    for (int d : {3, 4, 8, 16, 32, 64}) {
      if (args.smoke && (n > 2 || d > 4)) continue;
      // keep each point's cost roughly constant: O(N^2 d + N d^2) per step
      const double work = double(n) * n * d + double(n) * d * d + double(d) * d * 4;
      const std::int64_t ts = std::max<std::int64_t>(
          std::int64_t(double(budget) * (4 * 3 + 2 * 9 + 36) / work), args.smoke ? 200 : 12800);
      std::printf("%4d %4d %14.4g %14.4g\n", n, d,
                  rate(n, d, SphereNoise::matrix, ts, device, threads),
                  rate(n, d, SphereNoise::reduced, ts, device, threads));
      std::fflush(stdout);
    }

  // One phase-diagram cell: N = 2, rho0 = 0, T = 30, dt = 0.02 (1500 steps),
  // reduced noise; the standard error of P(antipodal) at 1000 trajectories is
  // at most 0.016 (p = 0.5) and ~0.013 at p = 0.25.
  std::printf("\n# one (beta, d) cell: N=2, T=30, dt=0.02, 1000 trajectories, reduced noise\n");
  std::printf("%4s %6s %10s %12s %10s\n", "d", "beta", "seconds", "P(antip.)", "stderr");
  for (int d : {3, 10}) {
    SphereSpec s;
    s.tokens = 2;
    s.dim = d;
    s.beta = 2.0;
    s.horizon = 30.0;
    s.dt = 0.02;
    s.steps = 0;
    s.noise = SphereNoise::reduced;
    s.trajectories = args.smoke ? 8 : quick ? 200 : 1000;
    if (args.smoke) s.horizon = 1.0;
    s.device = device;
    s.threads = threads;
    const SphereResult r = run_sphere(s);
    std::printf("%4d %6.2f %10.3f %12.4f %10.4f\n", d, s.beta, r.seconds, r.p_antipodal().p(),
                r.p_antipodal().stderr_());
  }
  return 0;
}
