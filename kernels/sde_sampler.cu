// SDE sampler: a group of trajectories per functor call (Thrust for_each over
// a counting iterator; one per thread on CUDA, a group of SIMD lanes on the
// CPU). The state (V and its factor L, m x m doubles) lives on the functor's
// stack; the per-step math is in kernels/sde_math.hpp. One
// source, two backends: compiled by nvcc (namespace attnmc::cuda) and by the
// host compiler for Thrust's OpenMP device system (namespace attnmc::omp).
//
// Randomness is keyed by (seed, sde_noise, trajectory, step, slot), so a
// trajectory's path does not depend on which thread or chunk ran it. Small m
// gets its own instantiation (loops of fixed length unroll); larger m runs
// the generic one.
#include <cstdint>
#include <limits>

#include "kernels/gaussian_lanes.hpp"
#include "kernels/launch.hpp"
#include "kernels/sde_job.hpp"
#include "kernels/sde_lanes.hpp"
#include "kernels/sde_math.hpp"

namespace attnmc::ATTNMC_BACKEND_NS {
namespace {

using kernels::ExecContext;
using kernels::SdeCoefficients;
using kernels::launch::for_each_index;
using kernels::launch::Index;

// Trajectories per functor call: on the CPU a group whose Gaussian
// increments are drawn across SIMD lanes, one lane per trajectory
// (kernels/gaussian_lanes.hpp); on CUDA one trajectory per thread.
// 16 lanes fill an AVX-512 register of the float generator (two of the
// double algebra); the m > 8 instantiation keeps 8 (its stack grows as
// CAP^2 per lane).
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
constexpr int sde_lanes(int) { return 1; }
#else
constexpr int sde_lanes(int cap) { return cap <= 8 ? 16 : 8; }
#endif

// Trajectories G*kSdeLanes .. of the chunk, each exactly as alone: lanes share
// nothing but the loop over steps, so a path's bits do not depend on its
// group (nor on chunking or threads).
template <int M, int CAP>
struct RunSdeGroup {
  static constexpr int kSdeLanes = sde_lanes(CAP);
  SdeCoefficients c;
  std::uint64_t seed;
  std::uint64_t first_member;
  Index count;
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

  // The step's unit Gaussian increments of every lane, structure of arrays:
  // zs[e][l] (m(m+1)/2) and za[e][l] (m^2, with attention noise), lane l
  // keyed by its own member.
  ATTNMC_HD void draw(int m, std::uint32_t step, const std::uint32_t* member,
                      double (*zs)[kSdeLanes], double (*za)[kSdeLanes]) const {
    constexpr int L = kSdeLanes;
    for (int pass = 0; pass < 2; ++pass) {
      const int n = pass == 0 ? kernels::sde_symmetric_count(m) : m * m;
      if (pass == 1 && c.attn_noise == 0.0) break;
      const rng::StreamKey key =
          rng::make_key(seed, rng::Purpose::sde_noise, 0, step,
                        pass == 0 ? kernels::kSdeSlotSymmetric : kernels::kSdeSlotAttention);
      kernels::gaussian_member_planes<L>(key, member, n, pass == 0 ? zs : za);
    }
  }

  // Results of lane l (trajectory t): records not reached are blow-ups.
  ATTNMC_HD void finish(int m, Index t, int r, std::int64_t blown,
                        const kernels::SdeCounters& cnt) const {
    const float inf = std::numeric_limits<float>::infinity();
    for (; r < records; ++r)
      for (int e = 0; e < m * m; ++e) grams[(t * records + r) * m * m + e] = inf;
    blowup_step[t] = blown;
    projections[t] = cnt.projections;
    rho_clips[t] = cnt.rho_clips;
  }

  // Gaussian Euler-Maruyama: the state of the group's trajectories as
  // structure of arrays (V[e][l]), every step's algebra across the lanes
  // (kernels/sde_lanes.hpp, the scalar step's bits lane by lane).
  ATTNMC_HD void run_euler(Index g) const {
    constexpr int L = kSdeLanes;
    const int m = M > 0 ? M : c.m;
    const Index t0 = g * L;
    const int lanes = int(count - t0 < L ? count - t0 : L);
    std::uint32_t member[L];
    double V[CAP * CAP][L], Lf[CAP * CAP][L], zs[CAP * CAP][L], za[CAP * CAP][L];
    double V0[CAP * CAP], L0[CAP * CAP];
    kernels::SdeCounters cnt0, cnt[L];
    std::int64_t blown[L];
    int r[L];
    bool live[L], ok[L];
    // Every lane starts from the same restored V0 (as each would alone).
    for (int e = 0; e < m * m; ++e) V0[e] = v0[e];
    kernels::sde_restore<M, CAP>(V0, m, L0, cnt0);
    for (int l = 0; l < L; ++l) {
      // Lanes past the chunk's end run on a real member but are never stored.
      member[l] = std::uint32_t(first_member + std::uint64_t(t0 + (l < lanes ? l : 0)));
      for (int e = 0; e < m * m; ++e) {
        V[e][l] = V0[e];
        Lf[e][l] = L0[e];
      }
      cnt[l] = cnt0;
      r[l] = 0;
      blown[l] = -1;
      live[l] = l < lanes;
      if (live[l] && r[l] < records && record_steps[r[l]] == 0) record(V0, m, t0 + l, r[l]++);
    }
    int alive = lanes;
    for (std::int64_t step = 1; step <= c.steps && alive > 0; ++step) {
      draw(m, std::uint32_t(step), member, zs, za);
      kernels::sde_euler_step_lanes<M, CAP, L>(V, Lf, m, c, zs, za, live, cnt, ok);
      for (int l = 0; l < lanes; ++l) {
        if (!live[l]) continue;
        if (!ok[l]) {
          // Blown up: park the lane on V0 so its (discarded) arithmetic stays finite.
          blown[l] = step;
          live[l] = false;
          --alive;
          for (int e = 0; e < m * m; ++e) {
            V[e][l] = V0[e];
            Lf[e][l] = L0[e];
          }
          continue;
        }
        if (r[l] < records && record_steps[r[l]] == step) {
          float* out = grams + ((t0 + l) * records + r[l]++) * m * m;
          for (int e = 0; e < m * m; ++e) out[e] = float(V[e][l]);
        }
      }
    }
    for (int l = 0; l < lanes; ++l) finish(m, t0 + l, r[l], blown[l], cnt[l]);
  }

  ATTNMC_HD void operator()(Index g) const {
    if (c.scheme == kernels::kSdeEuler) {
      run_euler(g);
      return;
    }
    constexpr int L = kSdeLanes;
    const int m = M > 0 ? M : c.m;
    const Index t0 = g * L;
    const int lanes = int(count - t0 < L ? count - t0 : L);
    std::uint32_t member[L];
    double V[L][CAP * CAP], Lf[L][CAP * CAP];
    double rho[L], s01[L];
    kernels::SdeCounters cnt[L];
    std::int64_t blown[L];
    int r[L];
    const bool rho_sde = c.scheme == kernels::kSdeRhoEuler || c.scheme == kernels::kSdeRhoWeak2;
    for (int l = 0; l < L; ++l) {
      // Lanes past the chunk's end draw for a real member but are never stored.
      member[l] = std::uint32_t(first_member + std::uint64_t(t0 + (l < lanes ? l : 0)));
      if (l >= lanes) continue;
      double* v = V[l];
      for (int e = 0; e < m * m; ++e) v[e] = v0[e];
      kernels::sde_restore<M, CAP>(v, m, Lf[l], cnt[l]);
      // rho-SDE (m = 2): the diagonal is held at V0 (not simulated).
      s01[l] = sqrt(v[0] * v[m + 1]);
      rho[l] = rho_sde ? v[1] / s01[l] : 0.0;
      r[l] = 0;
      blown[l] = -1;
      if (r[l] < records && record_steps[r[l]] == 0) record(v, m, t0 + l, r[l]++);
    }
    int live = lanes;
    for (std::int64_t step = 1; step <= c.steps && live > 0; ++step) {
      for (int l = 0; l < lanes; ++l) {
        if (blown[l] >= 0) continue;
        double* v = V[l];
        bool ok = true;
        const rng::StreamKey ks = rng::make_key(seed, rng::Purpose::sde_noise, member[l],
                                                std::uint32_t(step), kernels::kSdeSlotSymmetric);
        if (c.scheme == kernels::kSdeWeakEuler) {
          const rng::StreamKey ka = rng::make_key(seed, rng::Purpose::sde_noise, member[l],
                                                  std::uint32_t(step), kernels::kSdeSlotAttention);
          ok = kernels::sde_euler_step<M, CAP>(v, Lf[l], m, c, ks, ka, cnt[l]);
        } else {
          const double z = double(rng::gaussian4f(rng::philox_block(ks, 0)).z[0]);
          rho[l] = kernels::rho_step(rho[l], c, z, cnt[l]);
          v[1] = v[m] = rho[l] * s01[l];
        }
        if (!ok) {
          blown[l] = step;
          --live;
          continue;
        }
        if (r[l] < records && record_steps[r[l]] == step) record(v, m, t0 + l, r[l]++);
      }
    }
    for (int l = 0; l < lanes; ++l) finish(m, t0 + l, r[l], blown[l], cnt[l]);
  }
};

template <int M, int CAP>
void run_chunk(const ExecContext& cx, const kernels::SdeJob& job, const double* v0,
               const std::int64_t* rec, float* grams, std::int64_t* blow, std::int32_t* proj,
               std::int32_t* clips) {
  const Index count = Index(job.count);
  RunSdeGroup<M, CAP> f{
      job.model, job.seed, job.first_member, count, v0, rec, job.records, grams, blow, proj, clips};
  constexpr int L = RunSdeGroup<M, CAP>::kSdeLanes;
  for_each_index(cx, (count + L - 1) / L, f);
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
