// The attention-paths prior Monte Carlo: one random network per functor call
// (Thrust for_each over a counting iterator), each with its own float
// workspace; the per-network math is kernels/paths/paths_prior_math.hpp.
// One source, two backends: compiled by nvcc (namespace attnmc::cuda) and by
// the host compiler for Thrust's OpenMP device system (namespace attnmc::omp).
// Randomness is keyed by (seed, paths, member, layer, head), so a network
// does not depend on which thread or chunk ran it.
#include <cstdint>

#include "kernels/launch.hpp"
#include "kernels/paths/paths_prior_job.hpp"
#include "kernels/paths/paths_prior_math.hpp"

namespace attnmc::ATTNMC_BACKEND_NS {
namespace {

using kernels::launch::for_each_index;
using kernels::launch::Index;

struct RunPathsNetwork {
  kernels::PathsShape s;
  const float* features;  // device
  std::uint64_t seed, first_member;
  float* work;
  std::size_t per_work;
  float* f;  // count x M x paths

  ATTNMC_HD void operator()(Index t) const {
    kernels::paths_network(s, features, seed, std::uint32_t(first_member + std::uint64_t(t)),
                           work + std::size_t(t) * per_work,
                           f + std::size_t(t) * std::size_t(s.sequences) * s.paths);
  }
};

}  // namespace

std::size_t paths_prior_bytes_per_network(const kernels::PathsShape& s) {
  return (kernels::paths_work_floats(s) + std::size_t(s.sequences) * s.paths) * sizeof(float);
}

void paths_prior_chunk(const kernels::ExecContext& cx, const kernels::PathsPriorJob& job,
                       const kernels::PathsPriorOut& out) {
  const kernels::launch::Scope scope(cx);
  const kernels::PathsShape& s = job.shape;
  const std::size_t count = job.count;
  const std::size_t feats = std::size_t(s.sequences) * s.paths * s.n_in;
  const std::size_t per_out = std::size_t(s.sequences) * s.paths;
  const std::size_t per_work = kernels::paths_work_floats(s);
  auto frame = cx.arena->frame();
  float* features = frame.take<float>(feats);
  kernels::launch::copy_to_device(cx, features, job.features, feats);
  float* work = frame.take<float>(count * per_work);
  float* f = frame.take<float>(count * per_out);
  for_each_index(cx, Index(count),
                 RunPathsNetwork{s, features, job.seed, job.first_member, work, per_work, f});
  kernels::launch::copy_to_host(cx, out.f_paths, f, count * per_out);
}

}  // namespace attnmc::ATTNMC_BACKEND_NS
