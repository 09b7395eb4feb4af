// Exact-sampler benchmark: networks x layers per second of the exact
// (Gram-chain) sampler against the direct sampler in the same run, at
// widths 256, 1024, 4096 (m = 4, H = 1, n_k = 64, depth 16, shaped attention;
// --mlp adds the shaped MLP block, whose exact cost grows linearly in n).
// The direct sampler runs few networks at large n (it costs O(n^2) per layer).
//
//   bench_exact [--device cpu|cuda] [--threads N] [--mlp] [--quick]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "attnmc/engine.hpp"
#include "bench/bench_args.hpp"

using namespace attnmc;
using Clock = std::chrono::steady_clock;

namespace {

RunSpec spec_for(int n, bool mlp, Sampler sampler, std::uint64_t members, Device device,
                 int threads) {
  RunSpec s;
  s.model.width = n;
  s.model.tokens = 4;
  s.model.heads = 1;
  s.model.head_dim = 64;
  s.model.depth = 16;
  s.model.mlp = mlp;
  s.members = members;
  s.sampler = sampler;
  s.device = device;
  s.threads = threads;
  s.record_every = 16;
  return resolve_run(s);
}

// Networks x layers per second (best of `repeats` runs after one warm-up).
double rate(const RunSpec& s, int repeats) {
  simulate_grams(s, 0, std::min<std::uint64_t>(s.members, 4));  // warm-up (allocations, CUDA init)
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    simulate_grams(s, 0, s.members);
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return double(s.members) * s.model.depth / best;
}

}  // namespace

int main(int argc, char** argv) {
  bench::BenchArgs args;
  if (!bench::parse_bench_args(argc, argv, {"--mlp"}, &args)) return 2;
  Device device = args.device;
  const int threads = args.threads;
  const bool mlp = args.has("--mlp"), quick = args.quick;
  std::string why;
  const bool gpu = device != Device::cpu && cuda_available(&why);
  if (device == Device::automatic) device = gpu ? Device::cuda : Device::cpu;
  std::printf("bench_exact: device %s, m = 4, H = 1, n_k = 64, depth 16, %s\n", device_name(device),
              mlp ? "shaped attention + shaped MLP" : "shaped attention");
  std::printf("%8s %10s %16s %10s %16s %10s\n", "n", "exact nets", "exact net*lay/s", "direct nets",
              "direct net*lay/s", "speed-up");
  for (int n : {256, 1024, 4096}) {
    if (args.smoke && n > 256) break;
    std::uint64_t exact_members = gpu ? (quick ? 100000 : 1000000) : (quick ? 2000 : 20000);
    if (args.smoke) exact_members = 100;
    std::uint64_t direct_members = gpu ? (n <= 1024 ? 1024 : 64)
                                       : (n == 256    ? 64
                                          : n == 1024 ? 8
                                                      : 2);
    if (mlp && !gpu) exact_members /= n / 256;
    if (quick) direct_members = std::max<std::uint64_t>(1, direct_members / 4);
    const int repeats = quick ? 1 : 3;
    const double e =
        rate(spec_for(n, mlp, Sampler::exact, exact_members, device, threads), repeats);
    const double d =
        rate(spec_for(n, mlp, Sampler::direct, direct_members, device, threads), repeats);
    std::printf("%8d %10llu %16.4g %10llu %16.4g %10.4g\n", n, (unsigned long long)exact_members, e,
                (unsigned long long)direct_members, d, e / d);
  }
  return 0;
}
