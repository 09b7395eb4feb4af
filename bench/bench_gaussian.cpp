// The keyed RNG's own costs, single thread: Philox4x32-10 per 32-bit word and
// the float Box-Muller transform per standard normal (rng.hpp). These set the
// roofline of every sampler that draws Gaussians.
//
//   bench_gaussian [--quick]
#include <chrono>
#include <cstdio>

#include "attnmc/rng.hpp"
#include "bench/bench_args.hpp"

using namespace attnmc;

int main(int argc, char** argv) {
  bench::BenchArgs args;
  if (!bench::parse_bench_args(argc, argv, {}, &args)) return 2;
  const std::uint32_t blocks = args.smoke ? 100000u : args.quick ? 2000000u : 20000000u;
  const rng::StreamKey key = rng::make_key(1, rng::Purpose::weights, 1, 1, 0);
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  std::uint32_t words = 0;
  for (std::uint32_t b = 0; b < blocks; ++b) {
    const rng::Words4 w = rng::philox_block(key, b);
    words += w.w[0] ^ w.w[3];
  }
  auto t1 = Clock::now();
  float sum = 0;
  for (std::uint32_t b = 0; b < blocks; ++b) {
    const rng::Gauss4f g = rng::gaussian4f(rng::philox_block(key, b));
    sum += g.z[0] + g.z[3];
  }
  auto t2 = Clock::now();
  const double n = 4.0 * blocks;
  std::printf("philox4x32-10: %.2f ns per 32-bit word\n",
              std::chrono::duration<double>(t1 - t0).count() / n * 1e9);
  std::printf("philox + float Box-Muller: %.2f ns per normal  (checksums %u %g)\n",
              std::chrono::duration<double>(t2 - t1).count() / n * 1e9, words, double(sum));
  return 0;
}
