// See prior_engine.hpp.
#include "host/paths/prior_engine.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "attnmc/error.hpp"
#include "host/backend.hpp"
#include "host/chunking.hpp"
#include "host/driver.hpp"
#include "kernels/paths/paths_prior_job.hpp"

namespace attnmc {
namespace {

kernels::PathsShape paths_shape(const PathsSpec& s, const PathsTask& t) {
  if (s.layers() > kernels::kPathsMaxLayers)
    throw InputError("heads.layers", "at most " + std::to_string(kernels::kPathsMaxLayers) +
                                         " layers in the prior Monte Carlo");
  kernels::PathsShape sh;
  sh.layers = s.layers();
  for (int l = 0; l < s.layers(); ++l) sh.heads[l] = s.heads_in(l);
  for (int l = 0; l <= s.layers(); ++l) sh.widths[l] = s.widths[std::size_t(l)];
  for (int l = 0; l < s.layers() + 2; ++l) sh.sd[l] = float(std::sqrt(s.variances[std::size_t(l)]));
  sh.n_in = t.n_in;
  sh.sequences = t.sequences();
  sh.paths = s.paths();
  return sh;
}

struct Buffer {
  std::vector<float> f;
  std::size_t per = 0;
  void resize(std::uint64_t count) { f.resize(std::size_t(count) * per); }
};

struct Plan {
  host::Backend backend;
  host::ChunkPlan chunks;
};

Plan plan(const PathsSpec& s, const kernels::PathsShape& sh, std::uint64_t first, std::uint64_t end,
          std::size_t statistics_bytes) {
  Plan p;
  p.backend = host::select_backend(s.device);
  host::check_threads(s.threads, "run.threads");
  host::MemoryRule rule;
  rule.memory_cap = s.memory_cap;
  rule.free_memory = p.backend.free_memory;
  const std::size_t per_out = std::size_t(sh.sequences) * sh.paths * sizeof(float);
  rule.per_item = omp::paths_prior_bytes_per_network(sh) + 2 * per_out;
  const std::size_t features = std::size_t(sh.sequences) * sh.paths * sh.n_in;
  rule.fixed.push_back(
      {features * (sizeof(float) * 2 + sizeof(double)), "path features", "task.test"});
  rule.fixed.push_back({statistics_bytes, "kernel statistics", "ensemble.path_sequences"});
  rule.requested = s.chunk;
  p.chunks = host::plan_chunks(std::move(rule), first, end, s.threads, 4096);
  return p;
}

template <typename Sink>
void run_chunks(const std::vector<double>& xi, const kernels::PathsShape& sh, std::uint64_t seed,
                const Plan& p, Sink sink) {
  const std::vector<float> features(xi.begin(), xi.end());
  kernels::PathsPriorJob job;
  job.shape = sh;
  job.features = features.data();
  job.seed = seed;
  const auto chunk = host::on_backend(p.backend, &attnmc::omp::paths_prior_chunk,
#if defined(ATTNMC_WITH_CUDA)
                                      &attnmc::cuda::paths_prior_chunk
#else
                                      &attnmc::omp::paths_prior_chunk
#endif
  );
  Buffer proto;
  proto.per = std::size_t(sh.sequences) * sh.paths;
  host::drive(
      p.backend, p.chunks, proto,
      [&](const kernels::ExecContext& cx, std::uint64_t first, std::uint64_t count, Buffer& b) {
        kernels::PathsPriorJob j = job;
        j.first_member = first;
        j.count = count;
        chunk(cx, j, kernels::PathsPriorOut{b.f.data()});
      },
      sink);
}

// Sum and sum of squares of one scalar per network, in member order.
struct Acc {
  double s = 0, s2 = 0;
  void add(double x) {
    s += x;
    s2 += x * x;
  }
  ScalarEstimate estimate(std::uint64_t n) const {
    ScalarEstimate e;
    if (n == 0) return e;
    e.mean = s / double(n);
    const double var = n > 1 ? std::max(0.0, (s2 - s * s / double(n)) / double(n - 1)) : 0.0;
    e.se = std::sqrt(var / double(n));
    return e;
  }
};

}  // namespace

std::vector<float> simulate_paths_prior(const PathsSpec& s, const PathsTask& t, std::uint64_t first,
                                        std::uint64_t count) {
  const kernels::PathsShape sh = paths_shape(s, t);
  const Plan p = plan(s, sh, first, first + count, 0);
  std::vector<float> all;
  run_chunks(path_features(s, t), sh, s.seed, p,
             [&](const Buffer& b, std::uint64_t, std::uint64_t k) {
               all.insert(all.end(), b.f.begin(), b.f.begin() + std::ptrdiff_t(k * b.per));
             });
  return all;
}

PathsPriorResult run_paths_prior(const PathsSpec& s, const PathsTask& t, const Progress& progress,
                                 const PathsPriorOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  kernels::PathsShape sh = paths_shape(s, t);
  sh.drop_head_norm = options.drop_head_norm;
  PathsPriorResult r;
  const int M = t.sequences(), Pp = s.paths();
  const int n = s.path_sequences > 0 ? std::min(s.path_sequences, M) : std::min(M, 64);
  r.sequences = M;
  r.path_sequences = n;
  r.paths = Pp;
  const std::size_t MM = std::size_t(M) * M, D = std::size_t(n) * Pp;
  const std::size_t statistics_bytes =
      sizeof(double) * (5 * MM + 6 * D * D + std::size_t(M) * Pp * t.n_in + 4 * std::size_t(M));
  const Plan p = plan(s, sh, 0, s.members, statistics_bytes);
  // The closed forms the networks are compared with. K_p = scale G[., ., p, p]
  // = scale Xi_p Xi_p^T / norm (Xi_p: M x N_in), so the alignments need
  // only Xi_p^T f (N_in-vectors), not M x M products.
  const std::vector<double> xi = path_features(s, t);
  const std::vector<double> G = path_overlaps_from_features(s, t.n_in, xi, n);
  r.k_gp = gp_kernel_from_features(s, t.n_in, xi, M);
  const double scale = prior_scale(s);
  double norm = t.n_in;
  for (int l = 0; l < s.layers(); ++l) norm *= s.heads_in(l);
  const int nin = t.n_in;
  // |K_p|_F^2 = (scale / norm)^2 |Xi_p^T Xi_p|_F^2 (N_in x N_in Gram), |K_GP|_F^2 directly.
  std::vector<double> kp_norm2(std::size_t(Pp), 0.0);
  for (int q = 0; q < Pp; ++q) {
    std::vector<double> g(std::size_t(nin) * nin, 0.0);
    for (int mu = 0; mu < M; ++mu) {
      const double* x = xi.data() + (std::size_t(mu) * Pp + q) * nin;
      for (int a = 0; a < nin; ++a)
        for (int b = 0; b < nin; ++b) g[std::size_t(a) * nin + b] += x[a] * x[b];
    }
    double acc = 0;
    for (double v : g) acc += v * v;
    kp_norm2[std::size_t(q)] = acc * (scale / norm) * (scale / norm);
  }
  // The path-pair block (mu, p) x (nu, q) on the first n sequences: GP = K_p on the diagonal.
  r.pp_gp.assign(D * D, 0.0);
  for (int mu = 0; mu < n; ++mu)
    for (int nu = 0; nu < n; ++nu)
      for (int q = 0; q < Pp; ++q) {
        const std::size_t i = ((std::size_t(mu) * n + nu) * Pp + q) * Pp + q;
        r.pp_gp[i] = scale * G[i];
      }
  std::vector<double> kn_norm2(std::size_t(Pp), 0.0);  // |K_p|^2 on the block
  for (int mu = 0; mu < n; ++mu)
    for (int nu = 0; nu < n; ++nu)
      for (int q = 0; q < Pp; ++q) {
        const double v = r.pp_gp[((std::size_t(mu) * n + nu) * Pp + q) * Pp + q];
        kn_norm2[std::size_t(q)] += v * v;
      }
  double kgp_norm2 = 0;
  for (double v : r.k_gp) kgp_norm2 += v * v;
  if (!(kgp_norm2 > 0))
    throw InputError("task", "the prior kernel K_GP is zero: the sequences carry no features");

  // Streaming sums (upper triangle mu <= nu of K; the whole path-pair block).
  std::vector<double> ks(MM, 0.0), ks2(MM, 0.0), fs(std::size_t(M), 0.0), fs2(std::size_t(M), 0.0);
  std::vector<double> ps(D * D, 0.0), ps2(D * D, 0.0);
  Acc align;
  std::vector<Acc> path_align(static_cast<std::size_t>(Pp)), cross(std::size_t(Pp) * (Pp - 1) / 2);
  std::vector<double> fsum(static_cast<std::size_t>(M)), proj(std::size_t(Pp) * nin * 2);
  std::uint64_t good = 0, done = 0;
  const int threads = p.chunks.threads;
  run_chunks(xi, sh, s.seed, p, [&](const Buffer& b, std::uint64_t, std::uint64_t count) {
    for (std::uint64_t k = 0; k < count; ++k) {
      const float* f = b.f.data() + std::size_t(k) * b.per;
      bool finite = true;
      for (std::size_t e = 0; e < b.per; ++e) finite = finite && std::isfinite(f[e]);
      ++done;
      if (!finite) {
        ++r.nonfinite;
        continue;
      }
      ++good;
      for (int mu = 0; mu < M; ++mu) {
        double acc = 0;
        for (int q = 0; q < Pp; ++q) acc += double(f[std::size_t(mu) * Pp + q]);
        fsum[std::size_t(mu)] = acc;
        fs[std::size_t(mu)] += acc;
        fs2[std::size_t(mu)] += acc * acc;
      }
      // K entries: rows in parallel, each entry still added in member order.
#pragma omp parallel for num_threads(threads) schedule(static)
      for (int mu = 0; mu < M; ++mu) {
        const double a = fsum[std::size_t(mu)];
        double* row = ks.data() + std::size_t(mu) * M;
        double* row2 = ks2.data() + std::size_t(mu) * M;
        for (int nu = mu; nu < M; ++nu) {
          const double v = a * fsum[std::size_t(nu)];
          row[nu] += v;
          row2[nu] += v * v;
        }
      }
      // Xi_q^T f_q and Xi_q^T f (sum over paths): f^T K_GP f = scale / norm
      // sum_q |Xi_q^T f|^2, f_q^T K_q f_q = scale / norm |Xi_q^T f_q|^2.
#pragma omp parallel for num_threads(threads) schedule(static)
      for (int q = 0; q < Pp; ++q) {
        double* own = proj.data() + std::size_t(q) * nin * 2;
        double* all = own + nin;
        for (int a = 0; a < nin; ++a) own[a] = all[a] = 0.0;
        for (int mu = 0; mu < M; ++mu) {
          const double* x = xi.data() + (std::size_t(mu) * Pp + q) * nin;
          const double fq = double(f[std::size_t(mu) * Pp + q]), ft = fsum[std::size_t(mu)];
          for (int a = 0; a < nin; ++a) {
            own[a] += fq * x[a];
            all[a] += ft * x[a];
          }
        }
      }
      double fkf = 0;
      for (int q = 0; q < Pp; ++q) {
        const double* own = proj.data() + std::size_t(q) * nin * 2;
        const double* all = own + nin;
        double so = 0, sa = 0;
        for (int a = 0; a < nin; ++a) {
          so += own[a] * own[a];
          sa += all[a] * all[a];
        }
        fkf += sa;
        path_align[std::size_t(q)].add(
            kp_norm2[std::size_t(q)] > 0 ? so * scale / norm / kp_norm2[std::size_t(q)] : 0.0);
      }
      align.add(fkf * scale / norm / kgp_norm2);
      // Cross alignments on the block: f_q^T (K_q + K_o) f_o / (|K_q|^2 + |K_o|^2), mean 0.
      std::size_t c = 0;
      for (int q = 0; q < Pp; ++q)
        for (int o = q + 1; o < Pp; ++o, ++c) {
          double x = 0;
          for (int mu = 0; mu < n; ++mu)
            for (int nu = 0; nu < n; ++nu) {
              const std::size_t base = (std::size_t(mu) * n + nu) * Pp;
              x += double(f[std::size_t(mu) * Pp + q]) *
                   (r.pp_gp[(base + q) * Pp + q] + r.pp_gp[(base + o) * Pp + o]) *
                   double(f[std::size_t(nu) * Pp + o]);
            }
          const double den = kn_norm2[std::size_t(q)] + kn_norm2[std::size_t(o)];
          cross[c].add(den > 0 ? x / den : 0.0);
        }
        // path-pair block: (mu, p) x (nu, q) on the first n sequences
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::size_t i = 0; i < D; ++i) {
        const double a = double(f[i]);
        double* row = ps.data() + i * D;
        double* row2 = ps2.data() + i * D;
        for (std::size_t j = 0; j < D; ++j) {
          const double v = a * double(f[j]);
          row[j] += v;
          row2[j] += v * v;
        }
      }
    }
    if (progress) progress(done, s.members);
  });
  r.networks = done;
  const double N = double(good);
  auto mean_se = [&](double sum, double sum2, double& mean, double& se) {
    mean = good ? sum / N : std::nan("");
    const double var = good > 1 ? std::max(0.0, (sum2 - sum * sum / N) / (N - 1)) : std::nan("");
    se = std::sqrt(var / N);
  };
  r.k_mc.assign(MM, 0.0);
  r.k_mc_se.assign(MM, 0.0);
  double diff2 = 0, se2 = 0, z2 = 0;
  std::uint64_t entries = 0;
  for (int mu = 0; mu < M; ++mu)
    for (int nu = mu; nu < M; ++nu) {
      const std::size_t i = std::size_t(mu) * M + nu, j = std::size_t(nu) * M + mu;
      mean_se(ks[i], ks2[i], r.k_mc[i], r.k_mc_se[i]);
      r.k_mc[j] = r.k_mc[i];
      r.k_mc_se[j] = r.k_mc_se[i];
      const double d = r.k_mc[i] - r.k_gp[i];
      const double w = mu == nu ? 1.0 : 2.0;
      diff2 += w * d * d;
      se2 += w * r.k_mc_se[i] * r.k_mc_se[i];
      if (r.k_mc_se[i] > 0) {
        const double z = d / r.k_mc_se[i];
        z2 += z * z;
        r.max_abs_z = std::max(r.max_abs_z, std::fabs(z));
        ++entries;
      }
    }
  r.distance = std::sqrt(diff2 / kgp_norm2);
  r.noise_floor = std::sqrt(se2 / kgp_norm2);
  r.mean_z2 = entries ? z2 / double(entries) : std::nan("");
  r.f_mean.assign(std::size_t(M), 0.0);
  r.f_mean_se.assign(std::size_t(M), 0.0);
  for (int mu = 0; mu < M; ++mu)
    mean_se(fs[std::size_t(mu)], fs2[std::size_t(mu)], r.f_mean[std::size_t(mu)],
            r.f_mean_se[std::size_t(mu)]);
  // path-pair block: (mu, p) x (nu, q) -> [mu, nu, p, q]
  r.pp_mc.assign(D * D, 0.0);
  r.pp_mc_se.assign(D * D, 0.0);
  for (int mu = 0; mu < n; ++mu)
    for (int nu = 0; nu < n; ++nu)
      for (int a = 0; a < Pp; ++a)
        for (int q = 0; q < Pp; ++q) {
          const std::size_t src = (std::size_t(mu) * Pp + a) * D + std::size_t(nu) * Pp + q;
          const std::size_t dst = ((std::size_t(mu) * n + nu) * Pp + a) * Pp + q;
          mean_se(ps[src], ps2[src], r.pp_mc[dst], r.pp_mc_se[dst]);
        }
  r.alignment = align.estimate(good);
  for (const Acc& a : path_align) r.path_alignment.push_back(a.estimate(good));
  for (const Acc& a : cross) r.cross_alignment.push_back(a.estimate(good));
  r.device = device_name(p.backend.device);
  r.threads = p.chunks.threads;
  r.chunk = p.chunks.chunk;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace attnmc
