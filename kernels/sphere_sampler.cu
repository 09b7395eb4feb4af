// Sphere-model sampler: a group of trajectories per functor call (Thrust
// for_each over a counting iterator; one per thread on CUDA, a group of SIMD
// lanes on the CPU), each with its own slice of a workspace buffer. The
// per-step math is in kernels/sphere_math.hpp. One source, two backends:
// compiled by nvcc (namespace attnmc::cuda) and by the host compiler for
// Thrust's OpenMP device system (namespace attnmc::omp).
//
// A trajectory is sequential in its steps, so the parallelism is across
// trajectories; randomness is keyed by (seed, sphere, trajectory, step), so a
// trajectory's path does not depend on which thread or chunk ran it.
#include <cstdint>

#include "kernels/gaussian_lanes.hpp"
#include "kernels/launch.hpp"
#include "kernels/sphere_job.hpp"
#include "kernels/sphere_lanes.hpp"
#include "kernels/sphere_math.hpp"

namespace attnmc::ATTNMC_BACKEND_NS {
namespace {

using kernels::SphereCoefficients;
using kernels::launch::for_each_index;
using kernels::launch::Index;

// Trajectories per functor call: on the CPU a group whose noise is drawn
// across SIMD lanes, one lane per trajectory (kernels/gaussian_lanes.hpp); on
// CUDA one trajectory per thread. 16 lanes fill an AVX-512 register of the
// float generator.
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
constexpr int kSphereLanes = 1;
#else
constexpr int kSphereLanes = 16;
#endif

struct RunTrajectories {
  SphereCoefficients c;
  Index count;
  std::uint64_t seed;
  std::uint64_t first_member;
  const double* x0;  // device, N x d, or null (uniform start)
  const double* qk;  // device, d x d, or null
  const std::int64_t* record_steps;
  int records;
  double* work;  // count x per_work
  std::size_t per_work;
  float* grams;  // count x records x N x N
  std::int8_t* outcome;
  std::int16_t* clusters;
  double* norm_error;
  double* final_tokens;  // count x N x d

  ATTNMC_HD void record(const kernels::SphereWork& w, Index t, int r) const {
    const int n = c.n, d = c.d;
    float* g = grams + (t * records + r) * n * n;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) g[i * n + j] = float(kernels::dot(w.x + i * d, w.x + j * d, d));
  }

  // The lane path (sphere_lanes_supported): the group's workspace block
  // (kSphereLanes trajectories' worth, the buffer is rounded up to whole
  // groups) holds the state as structure of arrays, X[e][l].
  ATTNMC_HD void run_lanes(Index g) const {
    constexpr int L = kSphereLanes;
    const int n = c.n, d = c.d, nd = n * d;
    const Index t0 = g * L;
    const int lanes = int(count - t0 < L ? count - t0 : L);
    const kernels::SphereLanes<L> sl = kernels::sphere_lanes<L>(work + t0 * per_work, c);
    double(*X)[L] = sl.x;
    std::uint32_t member[L];
    int r[L];
    // Start tokens, one lane at a time, through the lane's final_tokens slot;
    // lanes past the chunk's end run lane 0's trajectory and store nothing.
    for (int l = 0; l < L; ++l) {
      member[l] = std::uint32_t(first_member + std::uint64_t(t0 + (l < lanes ? l : 0)));
      double* x = final_tokens + (t0 + (l < lanes ? l : 0)) * nd;
      if (l < lanes) {
        kernels::SphereWork w;
        w.x = x;
        kernels::sphere_start_tokens(w, c, x0, seed, member[l]);
      }
      for (int e = 0; e < nd; ++e) X[e][l] = x[e];
      r[l] = 0;
    }
    for (int l = 0; l < lanes; ++l)
      if (r[l] < records && record_steps[r[l]] == 0) record_lane(X, t0 + l, l, r[l]++);
    const bool noisy = c.scheme != kernels::kSphereFlow;
    const int draw = kernels::sphere_noise_capacity(c);
    int rank[L] = {};
    for (std::int64_t step = 1; step <= c.steps; ++step) {
      kernels::sphere_attention_lanes<L>(sl, c);
      if (noisy) {
        if (c.reduced) kernels::sphere_reduce_lanes<L>(sl, c, rank);
        const rng::StreamKey key = kernels::sphere_noise_key(seed, 0, std::uint32_t(step));
        kernels::gaussian_member_planes<L>(key, member, draw, sl.z);
      }
      kernels::sphere_step_drawn_lanes<L>(sl, c, rank);
      for (int l = 0; l < lanes; ++l)
        if (r[l] < records && record_steps[r[l]] == step) record_lane(X, t0 + l, l, r[l]++);
    }
    for (int l = 0; l < lanes; ++l) {
      const Index t = t0 + l;
      double* x = final_tokens + t * nd;
      for (int e = 0; e < nd; ++e) x[e] = X[e][l];
      int k = 0;
      double err = 0.0;
      outcome[t] = std::int8_t(kernels::sphere_classify(x, n, d, c.eps, &k, &err));
      clusters[t] = std::int16_t(k);
      norm_error[t] = err;
    }
  }

  // record() of lane l of a structure-of-arrays state (the same sums).
  template <int L>
  ATTNMC_HD void record_lane(const double (*X)[L], Index t, int l, int r) const {
    const int n = c.n, d = c.d;
    float* g = grams + (t * records + r) * n * n;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        double s = 0.0;
        for (int p = 0; p < d; ++p) s += X[i * d + p][l] * X[j * d + p][l];
        g[i * n + j] = float(s);
      }
  }

  // Trajectories g * kSphereLanes .. of the chunk, each exactly as alone (its
  // own workspace; lanes share only the loop over steps and the noise draw,
  // whose normals are keyed by member), so a path's bits do not depend on
  // its group.
  ATTNMC_HD void operator()(Index g) const {
    if (kernels::sphere_lanes_supported(c)) {
      run_lanes(g);
      return;
    }
    constexpr int L = kSphereLanes;
    const Index t0 = g * L;
    const int lanes = int(count - t0 < L ? count - t0 : L);
    kernels::SphereWork w[L];
    std::uint32_t member[L];
    int r[L], rank[L];
    for (int l = 0; l < L; ++l) {
      // Lanes past the chunk's end draw for a real member but store nothing.
      member[l] = std::uint32_t(first_member + std::uint64_t(t0 + (l < lanes ? l : 0)));
      if (l >= lanes) continue;
      w[l] = kernels::sphere_work(work + (t0 + l) * per_work, c);
      kernels::sphere_start_tokens(w[l], c, x0, seed, member[l]);
      r[l] = 0;
      if (r[l] < records && record_steps[r[l]] == 0) record(w[l], t0 + l, r[l]++);
    }
    const bool noisy = c.scheme != kernels::kSphereFlow;
    const int draw = kernels::sphere_noise_capacity(c);
    for (std::int64_t step = 1; step <= c.steps; ++step) {
      for (int l = 0; l < lanes; ++l) {
        kernels::sphere_attention(w[l], c, qk);
        rank[l] = noisy ? kernels::sphere_prepare_noise(w[l], c) : 0;
      }
      if (noisy) {
        const rng::StreamKey key = kernels::sphere_noise_key(seed, 0, std::uint32_t(step));
        for (int b = 0; 4 * b < draw; ++b) {
          std::uint32_t block[L];
          for (int l = 0; l < L; ++l) block[l] = std::uint32_t(b);
          float z[4][L];
          kernels::gaussian_lanes_f<L>(key, block, member, z);
          for (int q = 0; q < 4 && 4 * b + q < draw; ++q)
            for (int l = 0; l < lanes; ++l) w[l].z[4 * b + q] = z[q][l];
        }
      }
      for (int l = 0; l < lanes; ++l) {
        kernels::sphere_step_drawn(w[l], c, rank[l]);
        if (r[l] < records && record_steps[r[l]] == step) record(w[l], t0 + l, r[l]++);
      }
    }
    for (int l = 0; l < lanes; ++l) {
      const Index t = t0 + l;
      int k = 0;
      double err = 0.0;
      outcome[t] = std::int8_t(kernels::sphere_classify(w[l].x, c.n, c.d, c.eps, &k, &err));
      clusters[t] = std::int16_t(k);
      norm_error[t] = err;
      for (int e = 0; e < c.n * c.d; ++e) final_tokens[t * c.n * c.d + e] = w[l].x[e];
    }
  }
};

}  // namespace

std::size_t sphere_bytes_per_trajectory(const SphereCoefficients& c) {
  // Workspace + outputs (records are counted by the caller's record buffer).
  return (kernels::sphere_workspace_doubles(c) + std::size_t(c.n) * c.d) * sizeof(double) + 16;
}

void sphere_chunk(const kernels::ExecContext& cx, const kernels::SphereJob& job,
                  const kernels::SphereChunkOut& out) {
  const kernels::launch::Scope scope(cx);
  const SphereCoefficients& c = job.model;
  const std::size_t count = job.count, nd = std::size_t(c.n) * c.d, dd = std::size_t(c.d) * c.d;
  const std::size_t grams_size = count * job.records * c.n * c.n;
  const std::size_t per_work = kernels::sphere_workspace_doubles(c);
  auto buffers = cx.arena->frame();
  double* x0 = buffers.take<double>(job.x0 != nullptr ? nd : 0);
  double* qk = buffers.take<double>(job.qk != nullptr ? dd : 0);
  std::int64_t* rec = buffers.take<std::int64_t>(std::size_t(job.records));
  // Whole groups of lanes (the lane path lays a group's state out in its block).
  const std::size_t groups = (count + kSphereLanes - 1) / kSphereLanes;
  double* work = buffers.take<double>(groups * kSphereLanes * per_work);
  float* grams = buffers.take<float>(grams_size);
  std::int8_t* outcome = buffers.take<std::int8_t>(count);
  std::int16_t* clusters = buffers.take<std::int16_t>(count);
  double* norm_error = buffers.take<double>(count);
  double* final_tokens = buffers.take<double>(count * nd);
  if (job.x0 != nullptr) kernels::launch::copy_to_device(cx, x0, job.x0, nd);
  if (job.qk != nullptr) kernels::launch::copy_to_device(cx, qk, job.qk, dd);
  kernels::launch::copy_to_device(cx, rec, job.record_steps, std::size_t(job.records));

  RunTrajectories f{c,        Index(count), job.seed,    job.first_member, x0,    qk,
                    rec,      job.records,  work,        per_work,         grams, outcome,
                    clusters, norm_error,   final_tokens};
  for_each_index(cx, (Index(count) + kSphereLanes - 1) / kSphereLanes, f);
  deliver_grams(cx, buffers, out.gram, grams, nullptr, nullptr, count, c.n, job.records);
  kernels::launch::copy_to_host(cx, out.outcome, outcome, count);
  kernels::launch::copy_to_host(cx, out.clusters, clusters, count);
  kernels::launch::copy_to_host(cx, out.norm_error, norm_error, count);
  kernels::launch::copy_to_host(cx, out.final_tokens, final_tokens, count * nd);
}

}  // namespace attnmc::ATTNMC_BACKEND_NS
