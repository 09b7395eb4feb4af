// Oversmoothing-family benchmark: network-layers per second at ViT sizes
// (m tokens in {16, 64, 197}, width n in {64, 192, 384, 768}; softmax
// attention with fixed W_Q, W_K, fixed H, post-LayerNorm), against the GEMM
// roofline of this machine: OpenBLAS sgemm on the same flops, all threads.
// A network-layer costs 2 (2 m n nk + m^2 nk + m n^2 + m^2 n) flops (nk = n);
// the one-time construction of H per network (QR of an n x n matrix, ~4 n^3
// doubles' work) is timed apart, as the difference of two depths removes it.
//
//   bench_oversmoothing [--device cpu|cuda] [--threads N] [--quick] [--smoke: m = 16, n <= 192]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "attnmc/oversmoothing.hpp"
#include "bench/bench_args.hpp"

using namespace attnmc;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_of(const OversmoothingSpec& s) {
  const auto t0 = Clock::now();
  run_oversmoothing(s);
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double layer_flops(int m, int n) {
  const double nk = n;
  return 2.0 * (2.0 * m * n * nk + double(m) * m * nk + double(m) * n * n + double(m) * m * n);
}

// sgemm GFLOP/s of (rows x n) (n x n): the batched X H of `rows / m` networks.
// Best of three rounds of at least `min_seconds` each: a shared machine's
// load only ever slows a round down, so the best is the roofline estimate.
double sgemm_gflops(int rows, int n, double min_seconds) {
  std::vector<float> a(std::size_t(rows) * n, 0.5f), b(std::size_t(n) * n, 0.25f),
      c(std::size_t(rows) * n);
  auto once = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, n, 1.0f, a.data(), n, b.data(),
                n, 0.0f, c.data(), n);
  };
  once();
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    const auto t0 = Clock::now();
    long repeats = 0;
    double s = 0;
    do {
      once();
      ++repeats;
      s = std::chrono::duration<double>(Clock::now() - t0).count();
    } while (s < min_seconds);
    best = std::max(best, 2.0 * rows * double(n) * n * double(repeats) / s * 1e-9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  bench::BenchArgs args;
  if (!bench::parse_bench_args(argc, argv, {}, &args)) return 2;
  std::printf(
      "# oversmoothing: softmax attention (fixed W_Q, W_K), fixed H, post-LN; device %s, "
      "threads %d\n",
      args.device == Device::cuda ? "cuda" : "cpu", args.threads);
  // The machine's GEMM roofline: a large square sgemm on every thread.
  const double peak = sgemm_gflops(1024, 1024, args.quick ? 0.05 : 0.5);
  std::printf("# sgemm peak (1024^3, best of 3): %.1f GFLOP/s\n", peak);
  std::printf("%4s %4s %8s %16s %12s %12s %14s %9s %8s\n", "m", "n", "networks", "net-layers/s",
              "GFLOP/s", "sgemm GF/s", "H build s/net", "of sgemm", "of peak");
  for (int m : {16, 64, 197})
    for (int n : {64, 192, 384, 768}) {
      if (args.smoke && (m > 16 || n > 192)) continue;  // seconds, for gpu-check's dry run
      OversmoothingSpec s;
      s.tokens = m;
      s.width = n;
      s.attention = OsAttentionKind::softmax;
      s.spectrum = SpectrumKind::minus;
      s.norm = NormPlacement::post;
      s.gram_statistics = 0;
      s.device = args.device;
      s.threads = args.threads;
      s.seed = 3;
      // Enough networks for every thread, depth so a point takes ~1 s (0.2 s quick).
      const double target = args.quick ? 0.2 : 1.0;
      s.members = 4;
      const double per_layer_guess = layer_flops(m, n) / 2e9;  // ~2 GFLOP/s a thread
      int d1 = std::max(2, int(target / (per_layer_guess * double(s.members) / 2)));
      s.depth = 1;
      // Records at layer 0 and the last only, at both depths, so that their
      // metrics (a Jacobi eigen-decomposition of the m x m Gram each) cancel
      // in the difference: the rate is that of the layers alone.
      s.record_layers = {};
      s.record_every = 1 << 30;
      const double t_short = seconds_of(s);
      // The layers must outweigh the H build (seconds per network at n = 768)
      // and its timing noise: deepen until they take at least half the run.
      double t_long = 0;
      for (;;) {
        s.depth = 1 + d1;
        t_long = seconds_of(s);
        if (t_long - t_short >= std::max(0.5 * t_long, 0.5 * target) || d1 >= (1 << 20)) break;
        d1 *= 2;
      }
      const double rate = double(s.members) * d1 / std::max(t_long - t_short, 1e-9);
      const double h_build = t_short / double(s.members);
      const int rows = m * int(s.members);
      const double roof = sgemm_gflops(rows, n, args.quick ? 0.02 : 0.2);
      const double gf = rate * layer_flops(m, n) * 1e-9;
      std::printf("%4d %4d %8llu %16.1f %12.2f %12.2f %14.4f %8.1f%% %7.1f%%\n", m, n,
                  (unsigned long long)s.members, rate, gf, roof, h_build, 100.0 * gf / roof,
                  100.0 * gf / peak);
      std::fflush(stdout);
    }
  return 0;
}
