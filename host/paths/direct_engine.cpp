// See direct_engine.hpp.
#include "host/paths/direct_engine.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "attnmc/error.hpp"
#include "host/backend.hpp"
#include "host/chunking.hpp"
#include "host/driver.hpp"
#include "kernels/paths/paths_direct_job.hpp"

namespace attnmc {
namespace {

struct Buffer {
  std::size_t test = 0, pp = 0;
  std::vector<double> f, f2, u1, stats;
  void resize(std::uint64_t count) {
    f.resize(std::size_t(count) * test);
    f2.resize(std::size_t(count) * test);
    u1.resize(std::size_t(count) * pp);
    stats.resize(std::size_t(count) * kernels::kPathsDirectStats);
  }
};

// Mean over chains of a per-chain value, and its standard error.
struct Across {
  double s = 0, s2 = 0;
  void add(double x) {
    s += x;
    s2 += x * x;
  }
  void get(std::uint64_t n, double& mean, double& se) const {
    mean = s / double(n);
    const double var = n > 1 ? std::max(0.0, (s2 - s * s / double(n)) / double(n - 1)) : NAN;
    se = std::sqrt(var / double(n));
  }
};

}  // namespace

PathsDirectResult run_paths_direct(const PathsSpec& s, const PathsTask& t,
                                   const PathsDirectOptions& o, const Progress& progress) {
  const auto start = std::chrono::steady_clock::now();
  if (t.test < 1) throw InputError("task.test", "the direct posterior needs test sequences");
  if (s.layers() > kernels::kPathsMaxLayers)
    throw InputError("heads.layers", "at most " + std::to_string(kernels::kPathsMaxLayers) +
                                         " layers in the direct posterior");
  kernels::PathsDirectJob job;
  kernels::PathsShape& sh = job.shape;
  sh.layers = s.layers();
  for (int l = 0; l < s.layers(); ++l) sh.heads[l] = s.heads_in(l);
  for (int l = 0; l <= s.layers(); ++l) sh.widths[l] = s.widths[std::size_t(l)];
  for (int l = 0; l < s.layers() + 2; ++l) job.sd[l] = std::sqrt(s.variances[std::size_t(l)]);
  sh.n_in = t.n_in;
  sh.sequences = t.sequences();
  sh.paths = s.paths();
  job.settings.train = t.train;
  job.settings.test = t.test;
  job.settings.temperature = s.temperature;
  job.settings.burn_in = o.burn_in;
  job.settings.steps = o.steps;
  job.settings.leapfrog = o.leapfrog;
  job.settings.initial_step = o.initial_step;
  job.settings.target_accept = o.target_accept;
  job.seed = s.seed;
  const std::vector<double> xi = path_features(s, t);
  const std::vector<double> y(t.y.begin(), t.y.begin() + t.train);
  job.features = xi.data();
  job.labels = y.data();

  host::Backend backend = host::select_backend(s.device);
  host::check_threads(s.threads, "run.threads");
  host::MemoryRule rule;
  rule.memory_cap = s.memory_cap;
  rule.free_memory = backend.free_memory;
  rule.per_item = 3 * omp::paths_direct_bytes_per_chain(sh, t.train, t.test);
  rule.fixed.push_back({xi.size() * sizeof(double) * 2, "path features", "task.test"});
  rule.requested = s.chunk;
  // chains are long: small chunks keep every thread busy and progress moving
  const host::ChunkPlan plan = host::plan_chunks(std::move(rule), 0, s.members, s.threads, 256);
  const auto chunk = host::on_backend(backend, &attnmc::omp::paths_direct_chunk,
#if defined(ATTNMC_WITH_CUDA)
                                      &attnmc::cuda::paths_direct_chunk
#else
                                      &attnmc::omp::paths_direct_chunk
#endif
  );
  const int T = t.test, Pp = s.paths();
  Buffer proto;
  proto.test = std::size_t(T);
  proto.pp = std::size_t(Pp) * Pp;
  std::vector<Across> f(static_cast<std::size_t>(T)), f2(static_cast<std::size_t>(T)), u1(proto.pp);
  Across acc, mse;
  PathsDirectResult r;
  r.acceptance_min = r.step_min = INFINITY;
  r.acceptance_max = r.step_max = -INFINITY;
  double step_sum = 0;
  const double kept = double(std::max(1, o.steps));
  host::drive(
      backend, plan, proto,
      [&](const kernels::ExecContext& cx, std::uint64_t first, std::uint64_t count, Buffer& b) {
        kernels::PathsDirectJob j = job;
        j.first_member = first;
        j.count = count;
        chunk(cx, j, kernels::PathsDirectOut{b.f.data(), b.f2.data(), b.u1.data(), b.stats.data()});
      },
      [&](const Buffer& b, std::uint64_t, std::uint64_t count) {
        for (std::uint64_t c = 0; c < count; ++c) {
          for (int k = 0; k < T; ++k) {
            f[std::size_t(k)].add(b.f[c * T + k] / kept);
            f2[std::size_t(k)].add(b.f2[c * T + k] / kept);
          }
          for (std::size_t e = 0; e < proto.pp; ++e) u1[e].add(b.u1[c * proto.pp + e] / kept);
          const double* st = b.stats.data() + c * kernels::kPathsDirectStats;
          const double a = st[0] / kept;
          acc.add(a);
          r.acceptance_min = std::min(r.acceptance_min, a);
          r.acceptance_max = std::max(r.acceptance_max, a);
          step_sum += st[1];
          r.step_min = std::min(r.step_min, st[1]);
          r.step_max = std::max(r.step_max, st[1]);
          mse.add(st[2]);
          r.nonfinite += std::uint64_t(st[3]);
          ++r.chains;
        }
        if (progress) progress(r.chains, s.members);
      });
  const std::uint64_t n = r.chains;
  r.f_mean.resize(std::size_t(T));
  r.f_mean_se.resize(std::size_t(T));
  r.f_second.resize(std::size_t(T));
  r.f_second_se.resize(std::size_t(T));
  int right = 0;
  for (int k = 0; k < T; ++k) {
    f[std::size_t(k)].get(n, r.f_mean[std::size_t(k)], r.f_mean_se[std::size_t(k)]);
    f2[std::size_t(k)].get(n, r.f_second[std::size_t(k)], r.f_second_se[std::size_t(k)]);
    right += (r.f_mean[std::size_t(k)] > 0) == (t.y[std::size_t(t.train + k)] > 0);
  }
  r.test_accuracy = double(right) / T;
  r.u1_mean.resize(proto.pp);
  r.u1_mean_se.resize(proto.pp);
  for (std::size_t e = 0; e < proto.pp; ++e) u1[e].get(n, r.u1_mean[e], r.u1_mean_se[e]);
  double unused;
  acc.get(n, r.acceptance, unused);
  mse.get(n, r.train_mse, unused);
  r.step_mean = step_sum / double(n);
  r.device = device_name(backend.device);
  r.threads = plan.threads;
  r.chunk = plan.chunk;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace attnmc
