// SDE sampler: one trajectory per functor call (Thrust for_each over a
// counting iterator). The state (V and its factor L, m x m doubles) lives on
// the functor's stack; the per-step math is in kernels/sde_math.hpp. One
// source, two backends: compiled by nvcc (namespace attnmc::cuda) and by the
// host compiler for Thrust's OpenMP device system (namespace attnmc::omp).
//
// Randomness is keyed by (seed, sde_noise, trajectory, step, slot), so a
// trajectory's path does not depend on which thread or chunk ran it. Small m
// gets its own instantiation (loops of fixed length unroll); larger m runs
// the generic one.
#include <cstdint>
#include <limits>

#include "kernels/launch.hpp"
#include "kernels/sde_job.hpp"
#include "kernels/sde_math.hpp"

namespace attnmc::ATTNMC_BACKEND_NS {
namespace {

using kernels::ExecContext;
using kernels::SdeCoefficients;
using kernels::launch::for_each_index;
using kernels::launch::Index;

template <int M, int CAP>
struct RunSdeTrajectory {
  SdeCoefficients c;
  std::uint64_t seed;
  std::uint64_t first_member;
  const double* v0;  // device, m x m
  const std::int64_t* record_steps;
  int records;
  float* grams;  // count x records x m x m
  std::int64_t* blowup_step;
  std::int32_t* projections;
  std::int32_t* rho_clips;

  ATTNMC_HD void record(const double* V, int m, Index t, int r) const {
    float* g = grams + (t * records + r) * m * m;
    for (int e = 0; e < m * m; ++e) g[e] = float(V[e]);
  }

  ATTNMC_HD void operator()(Index t) const {
    const int m = M > 0 ? M : c.m;
    const std::uint32_t member = std::uint32_t(first_member + std::uint64_t(t));
    double V[CAP * CAP], L[CAP * CAP];
    for (int e = 0; e < m * m; ++e) V[e] = v0[e];
    kernels::SdeCounters cnt;
    kernels::sde_restore<M, CAP>(V, m, L, cnt);
    // rho-SDE (m = 2): the diagonal is held at V0 (not simulated).
    const double s01 = sqrt(V[0] * V[m + 1]);
    const bool rho_sde = c.scheme == kernels::kSdeRhoEuler || c.scheme == kernels::kSdeRhoWeak2;
    double rho = rho_sde ? V[1] / s01 : 0.0;
    int r = 0;
    if (r < records && record_steps[r] == 0) record(V, m, t, r++);
    std::int64_t blown = -1;
    for (std::int64_t step = 1; step <= c.steps; ++step) {
      const rng::StreamKey ks = rng::make_key(seed, rng::Purpose::sde_noise, member,
                                              std::uint32_t(step), kernels::kSdeSlotSymmetric);
      if (c.scheme == kernels::kSdeEuler || c.scheme == kernels::kSdeWeakEuler) {
        const rng::StreamKey ka = rng::make_key(seed, rng::Purpose::sde_noise, member,
                                                std::uint32_t(step), kernels::kSdeSlotAttention);
        if (!kernels::sde_euler_step<M, CAP>(V, L, m, c, ks, ka, cnt)) {
          blown = step;
          break;
        }
      } else {
        const double z = double(rng::gaussian4f(rng::philox_block(ks, 0)).z[0]);
        rho = kernels::rho_step(rho, c, z, cnt);
        V[1] = V[m] = rho * s01;
      }
      if (r < records && record_steps[r] == step) record(V, m, t, r++);
    }
    const float inf = std::numeric_limits<float>::infinity();
    for (; r < records; ++r)
      for (int e = 0; e < m * m; ++e) grams[(t * records + r) * m * m + e] = inf;
    blowup_step[t] = blown;
    projections[t] = cnt.projections;
    rho_clips[t] = cnt.rho_clips;
  }
};

template <int M, int CAP>
void run_chunk(const ExecContext& cx, const kernels::SdeJob& job, const double* v0,
               const std::int64_t* rec, float* grams, std::int64_t* blow, std::int32_t* proj,
               std::int32_t* clips) {
  RunSdeTrajectory<M, CAP> f{
      job.model, job.seed, job.first_member, v0, rec, job.records, grams, blow, proj, clips};
  for_each_index(cx, Index(job.count), f);
}

}  // namespace

void sde_chunk(const ExecContext& cx, const kernels::SdeJob& job, const kernels::SdeChunkOut& out) {
  const kernels::launch::Scope scope(cx);
  const int m = job.model.m;
  const std::size_t count = job.count, mm = std::size_t(m) * m;
  auto buffers = cx.arena->frame();
  double* v0 = buffers.take<double>(mm);
  std::int64_t* rec = buffers.take<std::int64_t>(std::size_t(job.records));
  float* grams = buffers.take<float>(count * job.records * mm);
  std::int64_t* blow = buffers.take<std::int64_t>(count);
  std::int32_t* proj = buffers.take<std::int32_t>(count);
  std::int32_t* clips = buffers.take<std::int32_t>(count);
  kernels::launch::copy_to_device(cx, v0, job.v0, mm);
  kernels::launch::copy_to_device(cx, rec, job.record_steps, std::size_t(job.records));
  auto go = [&](auto fn) { fn(cx, job, v0, rec, grams, blow, proj, clips); };
  switch (m) {
    case 2:
      go(run_chunk<2, 2>);
      break;
    case 3:
      go(run_chunk<3, 3>);
      break;
    case 4:
      go(run_chunk<4, 4>);
      break;
    case 8:
      go(run_chunk<8, 8>);
      break;
    default:
      if (m < 8)
        go(run_chunk<0, 8>);
      else
        go(run_chunk<0, kernels::kMaxSdeTokens>);
  }
  // Record q of a path that blew up at step `at` is a blow-up from q on.
  deliver_grams(cx, buffers, out.gram, grams, blow, rec, count, m, job.records);
  kernels::launch::copy_to_host(cx, out.blowup_step, blow, count);
  kernels::launch::copy_to_host(cx, out.projections, proj, count);
  kernels::launch::copy_to_host(cx, out.rho_clips, clips, count);
}

}  // namespace attnmc::ATTNMC_BACKEND_NS
