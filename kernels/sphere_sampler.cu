// Sphere-model sampler: one trajectory per functor call (Thrust for_each over
// a counting iterator), each with its own slice of a workspace buffer. The
// per-step math is in kernels/sphere_math.hpp. One source, two backends:
// compiled by nvcc (namespace attnmc::cuda) and by the host compiler for
// Thrust's OpenMP device system (namespace attnmc::omp).
//
// A trajectory is sequential in its steps, so the parallelism is across
// trajectories; randomness is keyed by (seed, sphere, trajectory, step), so a
// trajectory's path does not depend on which thread or chunk ran it.
#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <cstdint>
#include <vector>

#include "kernels/launch.hpp"
#include "kernels/sphere_job.hpp"
#include "kernels/sphere_math.hpp"

namespace attnmc::ATTNMC_BACKEND_NS {
namespace {

using kernels::SphereCoefficients;
using kernels::launch::for_each_index;
using kernels::launch::Index;
using kernels::launch::raw;

struct RunTrajectory {
  SphereCoefficients c;
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

  ATTNMC_HD void operator()(Index t) const {
    const kernels::SphereWork w = kernels::sphere_work(work + t * per_work, c);
    const std::uint32_t member = std::uint32_t(first_member + std::uint64_t(t));
    kernels::sphere_start_tokens(w, c, x0, seed, member);
    int r = 0;
    if (r < records && record_steps[r] == 0) record(w, t, r++);
    for (std::int64_t step = 1; step <= c.steps; ++step) {
      kernels::sphere_attention(w, c, qk);
      kernels::sphere_step(w, c, seed, member, std::uint32_t(step));
      if (r < records && record_steps[r] == step) record(w, t, r++);
    }
    int k = 0;
    double err = 0.0;
    outcome[t] = std::int8_t(kernels::sphere_classify(w.x, c.n, c.d, c.eps, &k, &err));
    clusters[t] = std::int16_t(k);
    norm_error[t] = err;
    for (int e = 0; e < c.n * c.d; ++e) final_tokens[t * c.n * c.d + e] = w.x[e];
  }
};

}  // namespace

std::size_t sphere_bytes_per_trajectory(const SphereCoefficients& c) {
  // Workspace + outputs (records are counted by the caller's record buffer).
  return (kernels::sphere_workspace_doubles(c) + std::size_t(c.n) * c.d) * sizeof(double) + 16;
}

void sphere_chunk(const kernels::SphereJob& job, const kernels::SphereChunkOut& out) {
  kernels::launch::use_cpu_threads(job.threads);
  const SphereCoefficients& c = job.model;
  const Index count = Index(job.count), nd = Index(c.n) * c.d;
  const std::size_t per_work = kernels::sphere_workspace_doubles(c);
  thrust::device_vector<double> x0, qk;
  if (job.x0 != nullptr) x0.assign(job.x0, job.x0 + nd);
  if (job.qk != nullptr) qk.assign(job.qk, job.qk + Index(c.d) * c.d);
  thrust::device_vector<std::int64_t> rec(job.record_steps, job.record_steps + job.records);
  thrust::device_vector<double> work(std::size_t(count) * per_work);
  thrust::device_vector<float> grams(std::size_t(count) * job.records * c.n * c.n);
  thrust::device_vector<std::int8_t> outcome(count);
  thrust::device_vector<std::int16_t> clusters(count);
  thrust::device_vector<double> norm_error(count), final_tokens(std::size_t(count) * nd);

  RunTrajectory f{c,
                  job.seed,
                  job.first_member,
                  job.x0 ? raw(x0) : nullptr,
                  job.qk ? raw(qk) : nullptr,
                  raw(rec),
                  job.records,
                  raw(work),
                  per_work,
                  raw(grams),
                  raw(outcome),
                  raw(clusters),
                  raw(norm_error),
                  raw(final_tokens)};
  for_each_index(count, f);
  thrust::copy(grams.begin(), grams.end(), out.grams);
  thrust::copy(outcome.begin(), outcome.end(), out.outcome);
  thrust::copy(clusters.begin(), clusters.end(), out.clusters);
  thrust::copy(norm_error.begin(), norm_error.end(), out.norm_error);
  thrust::copy(final_tokens.begin(), final_tokens.end(), out.final_tokens);
}

}  // namespace attnmc::ATTNMC_BACKEND_NS
