// The keyed RNG's own costs, single thread: Philox4x32-10 per 32-bit word and
// the float Box-Muller transform per standard normal (rng.hpp), one block at a
// time and across SIMD lanes (kernels/gaussian_lanes.hpp), next to the libm
// transform it replaced (logf / log1pf behind a branch on u < 1/2, kept here
// as the baseline). These set the roofline of every sampler that draws
// Gaussians. Times are the thread's CPU time, so a loaded machine's
// descheduling does not count.
//
//   bench_gaussian [--quick]
#include <time.h>

#include <cmath>
#include <cstdio>

#include "attnmc/rng.hpp"
#include "bench/bench_args.hpp"
#include "kernels/gaussian_lanes.hpp"

using namespace attnmc;

namespace {

double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// The float transform before issue 12 (libm log, branch on the half).
rng::Gauss4f gaussian4f_libm(const rng::Words4& w) {
  rng::Gauss4f g;
  for (int p = 0; p < 2; ++p) {
    const std::uint32_t x = w.w[2 * p];
    const float ln_u =
        x < 0x80000000u ? logf(rng::uniform_open_f(x)) : log1pf(-rng::uniform_open_f(~x));
    const float r = sqrtf(-2.0f * ln_u);
    float s, c;
    rng::detail::sincos_turns(w.w[2 * p + 1], &s, &c);
    g.z[2 * p] = r * c;
    g.z[2 * p + 1] = r * s;
  }
  return g;
}

}  // namespace

int main(int argc, char** argv) {
  bench::BenchArgs args;
  if (!bench::parse_bench_args(argc, argv, {}, &args)) return 2;
  const std::uint32_t blocks = args.smoke ? 100000u : args.quick ? 2000000u : 20000000u;
  const rng::StreamKey key = rng::make_key(1, rng::Purpose::weights, 1, 1, 0);
  const double n = 4.0 * blocks;
  auto report = [n](const char* what, double seconds, double checksum) {
    std::printf("%-44s %6.2f ns per output  %7.0f M/s  (checksum %g)\n", what, seconds / n * 1e9,
                n / seconds * 1e-6, checksum);
  };

  double t = cpu_seconds();
  std::uint32_t words = 0;
  for (std::uint32_t b = 0; b < blocks; ++b) {
    const rng::Words4 w = rng::philox_block(key, b);
    words += w.w[0] ^ w.w[3];
  }
  report("philox4x32-10, per 32-bit word", cpu_seconds() - t, double(words));

  t = cpu_seconds();
  float sum = 0;
  for (std::uint32_t b = 0; b < blocks; ++b) {
    const rng::Gauss4f g = gaussian4f_libm(rng::philox_block(key, b));
    sum += g.z[0] + g.z[3];
  }
  report("philox + libm Box-Muller (before), normal", cpu_seconds() - t, double(sum));

  t = cpu_seconds();
  sum = 0;
  for (std::uint32_t b = 0; b < blocks; ++b) {
    const rng::Gauss4f g = rng::gaussian4f(rng::philox_block(key, b));
    sum += g.z[0] + g.z[3];
  }
  report("philox + branch-free Box-Muller, normal", cpu_seconds() - t, double(sum));

  // The same draws through the lane generator (what the samplers run).
  constexpr int L = kernels::kGaussLanes;
  t = cpu_seconds();
  sum = 0;
  float buf[4 * L];
  for (std::uint32_t b = 0; b < blocks; b += L) {
    kernels::gaussian_run_f<L>(key, b, buf);
    sum += buf[0] + buf[4 * L - 1];
  }
  report("  the same, 16 lanes (gaussian_run_f)", cpu_seconds() - t, double(sum));

  // One lane per trajectory (the SDE's and the sphere's draws): lanes differ
  // in the member, a few blocks per call, planes out.
  t = cpu_seconds();
  sum = 0;
  {
    std::uint32_t block[L], member[L];
    float z[4][L];
    for (int l = 0; l < L; ++l) member[l] = std::uint32_t(l);
    for (std::uint32_t b = 0; b < blocks; b += L) {
      for (int l = 0; l < L; ++l) block[l] = (b / L) & 7u;
      kernels::gaussian_lanes_f<L>(key, block, member, z);
      sum += z[0][0] + z[3][L - 1];
      for (int l = 0; l < L; ++l) member[l] += L;
    }
  }
  report("  16 lanes over members (gaussian_lanes_f)", cpu_seconds() - t, double(sum));

  // The sphere's d = 16 matrix draw: 256 normals per lane and step, doubles.
  t = cpu_seconds();
  double dsum = 0;
  {
    std::uint32_t member[L];
    static double zd[256][L];
    for (int l = 0; l < L; ++l) member[l] = std::uint32_t(l);
    for (std::uint32_t b = 0; b < blocks; b += 64 * L) {
      kernels::gaussian_member_planes<L>(key, member, 256, zd);
      dsum += zd[0][0] + zd[255][L - 1];
      for (int l = 0; l < L; ++l) member[l] += L;
    }
  }
  report("  16 lanes x 256 normals (gaussian_member_planes)", cpu_seconds() - t, dsum);
  return 0;
}
