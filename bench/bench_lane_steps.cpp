// The CPU lane kernels of the SDE and sphere samplers on their own, single
// thread: the per-step draw (gaussian_member_planes), the SDE's Euler step
// (sde_euler_step_lanes) and the sphere's attention, Gram-Schmidt and update
// (kernels/sphere_lanes.hpp), in ns per trajectory-step. No statistics, no
// output: what a change to one of these kernels gives, measured without the
// rest of the engine (bench/ab_sde_sphere.py times whole runs). Each kernel
// runs in a loop of its own, timed as a whole (the thread's CPU time).
//
//   bench_lane_steps [--quick]
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <vector>

#include "bench/bench_args.hpp"
#include "kernels/gaussian_lanes.hpp"
#include "kernels/sde_lanes.hpp"
#include "kernels/sphere_lanes.hpp"

using namespace attnmc;

namespace {

constexpr int L = kernels::kGaussLanes;

double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// The SDE at the peers' settings (attention dynamics, gamma = tau0 = 1,
// T = 0.5 in 50 steps): the draw of m(m+1)/2 + m^2 normals and the step.
template <int M>
void sde(long work) {
  kernels::SdeCoefficients c;
  c.m = M;
  c.dt = 0.01;
  c.attn_drift = 1.0;
  c.attn_noise = 1.0 / M;
  c.kappa = 1.0;
  c.blowup = 1e6;
  double V[M * M][L], Lf[M * M][L], zs[M * M][L], za[M * M][L], v0[M * M], l0[M * M];
  kernels::SdeCounters cnt0, cnt[L];
  bool live[L], ok[L];
  for (int a = 0; a < M; ++a)
    for (int b = 0; b < M; ++b) v0[a * M + b] = a == b ? 1.0 : 0.3;
  kernels::sde_restore<M, M>(v0, M, l0, cnt0);
  std::uint32_t member[L];
  auto reset = [&] {
    for (int l = 0; l < L; ++l)
      for (int e = 0; e < M * M; ++e) {
        V[e][l] = v0[e];
        Lf[e][l] = l0[e];
      }
  };
  for (int l = 0; l < L; ++l) {
    live[l] = true;
    member[l] = std::uint32_t(l);
  }
  reset();
  const long steps = work / (M * M * L) + 1;
  double check = 0;
  double t = cpu_seconds();
  for (long s = 0; s < steps; ++s) {
    rng::StreamKey k = rng::make_key(1, rng::Purpose::sde_noise, 0, std::uint32_t(s), 0);
    kernels::gaussian_member_planes<L>(k, member, M * (M + 1) / 2, zs);
    k.slot = 1;
    kernels::gaussian_member_planes<L>(k, member, M * M, za);
    check += zs[0][0] + za[M * M - 1][L - 1];
  }
  const double draw = cpu_seconds() - t;
  long blown = 0;
  t = cpu_seconds();
  for (long s = 0; s < steps; ++s) {
    kernels::sde_euler_step_lanes<M, M, L>(V, Lf, M, c, zs, za, live, cnt, ok);
    for (int l = 0; l < L; ++l) blown += ok[l] ? 0 : 1;
    if (s % 8 == 7) {  // the same increments every step: restart before V drifts far
      check += V[1][0];
      reset();
    }
  }
  const double step = cpu_seconds() - t;
  const double n = double(steps) * L;
  std::printf(
      "sde m=%d %-22s draw %7.1f  step %7.1f ns per trajectory-step  (check %.6g, %ld blown)\n", M,
      "", draw / n * 1e9, step / n * 1e9, check, blown);
}

// The sphere at the peers' settings (geometric scheme, beta 1, T 1 in 200
// steps), random unit starts, fresh pseudo-random noise every step.
void sphere(int n_tokens, int d, bool reduced, long work) {
  kernels::SphereCoefficients c;
  c.n = n_tokens;
  c.d = d;
  c.reduced = reduced;
  c.scheme = kernels::kSphereGeometric;
  c.dt = 1.0 / 200;
  std::vector<double> buf(kernels::sphere_lane_doubles(c) * L);
  const kernels::SphereLanes<L> sl = kernels::sphere_lanes<L>(buf.data(), c);
  std::uint32_t state = 1;
  auto uniform = [&] {
    state = state * 1664525u + 1013904223u;
    return double(state >> 8) * (1.0 / 16777216.0) - 0.5;
  };
  for (int e = 0; e < n_tokens * d; ++e)
    for (int l = 0; l < L; ++l) sl.x[e][l] = uniform();
  for (int i = 0; i < n_tokens; ++i) kernels::normalise_lanes<L>(sl.x + i * d, d);
  const int draw = kernels::sphere_noise_capacity(c);
  const long steps = work / (n_tokens * n_tokens * d * L) + 1;
  int rank[L] = {};
  double t_att = 0, t_red = 0, t_step = 0;
  for (long s = 0; s < steps; ++s) {
    for (int e = 0; e < draw; ++e)
      for (int l = 0; l < L; ++l) sl.z[e][l] = 3.0 * uniform();
    double t0 = cpu_seconds();
    kernels::sphere_attention_lanes<L>(sl, c);
    double t1 = cpu_seconds();
    if (reduced) kernels::sphere_reduce_lanes<L>(sl, c, rank);
    double t2 = cpu_seconds();
    kernels::sphere_step_drawn_lanes<L>(sl, c, rank);
    double t3 = cpu_seconds();
    t_att += t1 - t0;
    t_red += t2 - t1;
    t_step += t3 - t2;
  }
  double check = 0;
  for (int e = 0; e < n_tokens * d; ++e)
    for (int l = 0; l < L; ++l) check += sl.x[e][l];
  const double n = double(steps) * L;
  std::printf(
      "sphere N=%d d=%-2d %-8s attention %6.1f  Gram-Schmidt %6.1f  update %6.1f ns per "
      "trajectory-step  (check %.6g)\n",
      n_tokens, d, reduced ? "reduced" : "matrix", t_att / n * 1e9, t_red / n * 1e9,
      t_step / n * 1e9, check);
}

}  // namespace

int main(int argc, char** argv) {
  bench::BenchArgs args;
  if (!bench::parse_bench_args(argc, argv, {}, &args)) return 2;
  const long work = args.smoke ? 20000L : args.quick ? 2000000L : 20000000L;
  std::printf(
      "single thread; the sphere's three parts are timed per call (the clock's own\n"
      "cost, ~12 ns per trajectory-step, is in each)\n");
  sde<2>(work);
  sde<4>(work);
  sde<8>(work);
  for (int n : {2, 8})
    for (int d : {3, 16})
      for (bool reduced : {false, true}) sphere(n, d, reduced, work / 4);
  return 0;
}
