// Weight-space posterior chains of the attention-paths family (run.mode =
// direct): one HMC chain per functor call (Thrust for_each over a counting
// iterator), each with its own double workspace; the chain's math is
// kernels/paths/paths_direct_math.hpp. One source, two backends: nvcc
// (namespace attnmc::cuda) and the host compiler for Thrust's OpenMP device
// system (namespace attnmc::omp). Randomness keyed by (seed, paths_direct,
// chain, step, slot): a chain does not depend on its thread or chunk.
#include <cstdint>

#include "kernels/launch.hpp"
#include "kernels/paths/paths_direct_job.hpp"
#include "kernels/paths/paths_direct_math.hpp"

namespace attnmc::ATTNMC_BACKEND_NS {
namespace {

using kernels::launch::for_each_index;
using kernels::launch::Index;

struct RunChain {
  kernels::PathsDirectJob job;
  const double* features;  // device
  const double* labels;    // device
  double* work;
  std::size_t per_work;
  double *f_sum, *f2_sum, *u1_sum, *stats;

  ATTNMC_HD void operator()(Index t) const {
    const int test = job.settings.test, pp = job.shape.paths * job.shape.paths;
    double* fs = f_sum + std::size_t(t) * test;
    double* f2 = f2_sum + std::size_t(t) * test;
    double* u1 = u1_sum + std::size_t(t) * pp;
    for (int k = 0; k < test; ++k) fs[k] = f2[k] = 0.0;
    for (int k = 0; k < pp; ++k) u1[k] = 0.0;
    kernels::paths_direct_chain(job, features, labels,
                                std::uint32_t(job.first_member + std::uint64_t(t)),
                                work + std::size_t(t) * per_work, fs, f2, u1,
                                stats + std::size_t(t) * kernels::kPathsDirectStats);
  }
};

}  // namespace

std::size_t paths_direct_bytes_per_chain(const kernels::PathsShape& s, int train, int test) {
  return (kernels::paths_direct_work(s, train) + 2 * std::size_t(test) +
          std::size_t(s.paths) * s.paths + kernels::kPathsDirectStats) *
         sizeof(double);
}

void paths_direct_chunk(const kernels::ExecContext& cx, const kernels::PathsDirectJob& job,
                        const kernels::PathsDirectOut& out) {
  const kernels::launch::Scope scope(cx);
  const kernels::PathsShape& s = job.shape;
  const std::size_t count = job.count, test = std::size_t(job.settings.test);
  const std::size_t M = std::size_t(job.settings.train) + test;
  const std::size_t feats = M * s.paths * s.n_in, pp = std::size_t(s.paths) * s.paths;
  const std::size_t per_work = kernels::paths_direct_work(s, job.settings.train);
  auto frame = cx.arena->frame();
  double* features = frame.take<double>(feats);
  kernels::launch::copy_to_device(cx, features, job.features, feats);
  double* labels = frame.take<double>(std::size_t(job.settings.train));
  kernels::launch::copy_to_device(cx, labels, job.labels, std::size_t(job.settings.train));
  double* work = frame.take<double>(count * per_work);
  double* f_sum = frame.take<double>(count * test);
  double* f2_sum = frame.take<double>(count * test);
  double* u1_sum = frame.take<double>(count * pp);
  double* stats = frame.take<double>(count * kernels::kPathsDirectStats);
  for_each_index(cx, Index(count),
                 RunChain{job, features, labels, work, per_work, f_sum, f2_sum, u1_sum, stats});
  kernels::launch::copy_to_host(cx, out.f_sum, f_sum, count * test);
  kernels::launch::copy_to_host(cx, out.f2_sum, f2_sum, count * test);
  kernels::launch::copy_to_host(cx, out.u1_sum, u1_sum, count * pp);
  kernels::launch::copy_to_host(cx, out.stats, stats, count * kernels::kPathsDirectStats);
}

}  // namespace attnmc::ATTNMC_BACKEND_NS
