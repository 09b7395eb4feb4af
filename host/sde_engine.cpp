// SDE driver: validates a spec, turns the model into SDE coefficients,
// picks the backend, splits the trajectories into chunks that fit the
// memory cap, and folds each chunk into the statistics in trajectory order
// (so chunking and threading never change the result).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "attnmc/error.hpp"
#include "attnmc/sde.hpp"
#include "host/backend.hpp"
#include "host/chunking.hpp"
#include "kernels/sde_job.hpp"

namespace attnmc {
namespace {

using Clock = std::chrono::steady_clock;
using ChunkFn = void (*)(const kernels::SdeJob&, const kernels::SdeChunkOut&);

struct SdeBackend {
  Device device;
  ChunkFn chunk;
  std::size_t free_memory;
};

SdeBackend sde_backend(Device requested) {
  const host::Backend b = host::select_backend(requested);
#if defined(ATTNMC_WITH_CUDA)
  if (b.device == Device::cuda) return {Device::cuda, &attnmc::cuda::sde_chunk, b.free_memory};
#endif
  return {Device::cpu, &attnmc::omp::sde_chunk, b.free_memory};
}

void require(bool ok, const char* parameter, const std::string& message) {
  if (!ok) throw InputError(parameter, message);
}

bool has_attention(SdeDynamics d) { return d == SdeDynamics::attention || d == SdeDynamics::both; }

kernels::SdeCoefficients sde_coefficients_of(const SdeSpec& s, const std::vector<double>& v0) {
  const ModelSpec& mo = s.model;
  const double g2 = mo.gamma * mo.gamma, l2 = mo.lambda * mo.lambda;
  kernels::SdeCoefficients c;
  c.m = mo.tokens;
  c.scheme = int(s.scheme);
  c.steps = s.steps;
  c.dt = s.horizon / double(s.steps);
  c.nu_scale = (mo.c_plus - mo.c_minus) * (mo.c_plus - mo.c_minus) / (2.0 * M_PI);
  if (has_attention(s.dynamics)) {
    c.attn_drift = g2 / (mo.tau0 * mo.tau0);
    c.attn_noise = g2 / (double(mo.tokens) * mo.tau0 * std::sqrt(double(mo.heads)));
    c.kappa += g2 * (2.0 * l2 + g2);
  }
  if (s.dynamics == SdeDynamics::mlp || s.dynamics == SdeDynamics::both) {
    c.mlp_drift = g2;
    c.kappa += 2.0 * g2;
  }
  if (s.dynamics == SdeDynamics::neural_covariance) {
    c.mlp_drift = 1.0;
    c.kappa = 1.0;
  }
  double vmax = 0.0;
  for (int a = 0; a < mo.tokens; ++a) vmax = std::max(vmax, v0[a * mo.tokens + a]);
  c.blowup = s.blowup_threshold * vmax;
  return c;
}

}  // namespace

kernels::SdeCoefficients kernels::sde_coefficients(const SdeSpec& s) {
  return sde_coefficients_of(s, sde_initial_gram(s));
}

namespace {

std::size_t bytes_per_trajectory(const SdeSpec& s) {
  const std::size_t grams = s.record_steps.size() * std::size_t(s.model.tokens) * s.model.tokens;
  return 2 * grams * sizeof(float) + 2 * (8 + 4 + 4);  // device + host copies
}

}  // namespace

const char* sde_scheme_name(SdeScheme s) {
  switch (s) {
    case SdeScheme::euler:
      return "euler";
    case SdeScheme::rho_euler:
      return "rho-euler";
    case SdeScheme::rho_weak2:
      return "rho-weak2";
    case SdeScheme::weak_euler:
      return "weak-euler";
  }
  return "?";
}

SdeScheme parse_sde_scheme(const std::string& name) {
  for (SdeScheme s :
       {SdeScheme::euler, SdeScheme::rho_euler, SdeScheme::rho_weak2, SdeScheme::weak_euler})
    if (name == sde_scheme_name(s)) return s;
  throw InputError("sde.scheme",
                   "unknown scheme '" + name + "' (euler, weak-euler, rho-euler, rho-weak2)");
}

const char* sde_dynamics_name(SdeDynamics d) {
  switch (d) {
    case SdeDynamics::automatic:
      return "auto";
    case SdeDynamics::attention:
      return "attention";
    case SdeDynamics::mlp:
      return "mlp";
    case SdeDynamics::both:
      return "both";
    case SdeDynamics::neural_covariance:
      return "neural-covariance";
  }
  return "?";
}

SdeDynamics parse_sde_dynamics(const std::string& name) {
  for (SdeDynamics d : {SdeDynamics::automatic, SdeDynamics::attention, SdeDynamics::mlp,
                        SdeDynamics::both, SdeDynamics::neural_covariance})
    if (name == sde_dynamics_name(d)) return d;
  throw InputError("sde.dynamics", "unknown dynamics '" + name +
                                       "' (auto, attention, mlp, both, neural-covariance)");
}

SdeSpec resolve_sde(const SdeSpec& in) {
  SdeSpec s = in;
  s.model = resolve_model(in.model);
  require(s.model.attention == AttentionKind::shaped, "model.attention",
          "the SDE limit exists for shaped attention only");
  require(!s.model.pre_norm, "model.pre_norm", "the SDE limit has no pre-normalisation");
  require(s.model.tokens >= 2 && s.model.tokens <= kernels::kMaxSdeTokens, "model.tokens",
          "the SDE supports 2 to " + std::to_string(kernels::kMaxSdeTokens) + " tokens");
  if (s.dynamics == SdeDynamics::automatic)
    s.dynamics = s.model.mlp ? SdeDynamics::both : SdeDynamics::attention;
  if (s.scheme == SdeScheme::rho_euler || s.scheme == SdeScheme::rho_weak2) {
    require(s.dynamics == SdeDynamics::mlp || s.dynamics == SdeDynamics::neural_covariance,
            "sde.scheme", "the rho-SDE closes only for MLP-only dynamics (mlp, neural-covariance)");
    require(s.model.tokens == 2, "sde.scheme", "the rho-SDE schemes need exactly 2 tokens");
  }
  (void)sde_initial_gram(s);  // validates the input now
  if (s.horizon == 0.0) s.horizon = double(s.model.depth) / double(s.model.width);
  require(std::isfinite(s.horizon) && s.horizon > 0, "sde.horizon", "must be positive");
  if (s.steps == 0) {
    if (s.dt == 0.0) s.dt = 1.0 / double(s.model.width);
    require(std::isfinite(s.dt) && s.dt > 0, "sde.dt", "must be positive");
    s.steps = std::int64_t(std::ceil(s.horizon / s.dt - 1e-9));
  }
  require(s.steps >= 1 && s.steps <= std::numeric_limits<std::int32_t>::max(), "sde.steps",
          "must be in [1, 2^31)");
  s.dt = s.horizon / double(s.steps);
  require(s.trajectories >= 1 && s.trajectories <= std::numeric_limits<std::uint32_t>::max(),
          "sde.trajectories", "must be in [1, 2^32)");
  require(s.blowup_threshold > 1, "sde.blowup_threshold", "must be > 1");
  require(s.histogram_bins >= 1 && s.histogram_bins <= 100000, "sde.histogram_bins",
          "must be in [1, 100000]");
  require(s.threads >= 0, "run.threads", "must be >= 0");
  require(s.memory_cap > 0, "sde.memory_cap", "must be positive");
  for (double q : s.quantiles) require(q >= 0 && q <= 1, "sde.quantiles", "must lie in [0, 1]");
  require(s.record_every >= 0, "sde.record_every", "must be >= 0");
  std::vector<std::int64_t> rec = {0, s.steps};
  if (!s.record_times.empty()) {
    for (double t : s.record_times) {
      require(t >= 0 && t <= s.horizon * (1 + 1e-12), "sde.record_times",
              "times must lie in [0, T]");
      rec.push_back(std::min(s.steps, std::int64_t(std::llround(t / s.dt))));
    }
  } else {
    const std::int64_t every =
        s.record_every > 0 ? s.record_every : std::max<std::int64_t>(1, s.steps / 32);
    for (std::int64_t k = every; k < s.steps; k += every) rec.push_back(k);
  }
  std::sort(rec.begin(), rec.end());
  rec.erase(std::unique(rec.begin(), rec.end()), rec.end());
  s.record_steps = rec;
  return s;
}

std::vector<double> sde_initial_gram(const SdeSpec& s) {
  const int m = s.model.tokens;
  if (s.input.kind != InputSpec::Kind::tokens) {
    // Validate through the network's own input path on a tiny width.
    ModelSpec small = s.model;
    small.width = std::max(m, 1);
    const std::vector<double> x = initial_tokens(s.input, small);
    std::vector<double> v(std::size_t(m) * m, 0.0);
    for (int a = 0; a < m; ++a)
      for (int b = 0; b < m; ++b) {
        double acc = 0;
        for (int i = 0; i < small.width; ++i)
          acc += x[a * small.width + i] * x[b * small.width + i];
        v[a * m + b] = acc / small.width;
      }
    return v;
  }
  const std::vector<double> x = initial_tokens(s.input, s.model);
  const int n = s.model.width;
  std::vector<double> v(std::size_t(m) * m, 0.0);
  for (int a = 0; a < m; ++a)
    for (int b = 0; b < m; ++b) {
      double acc = 0;
      for (int i = 0; i < n; ++i) acc += x[std::size_t(a) * n + i] * x[std::size_t(b) * n + i];
      v[a * m + b] = acc / n;
    }
  return v;
}

namespace {

// Runs trajectories [first, first + count) chunk by chunk; sink(buf, k) gets
// each chunk in trajectory order.
template <typename Sink>
std::uint64_t for_each_sde_chunk(const SdeSpec& s, const SdeBackend& backend, std::uint64_t first,
                                 std::uint64_t count, Sink sink) {
  const std::size_t per = bytes_per_trajectory(s);
  const std::uint64_t chunk = host::chunk_size(s.memory_cap, backend.free_memory, per, s.chunk,
                                               count, "sde.memory_cap", "sde.chunk");
  const std::vector<double> v0 = sde_initial_gram(s);
  kernels::SdeJob job;
  job.model = sde_coefficients_of(s, v0);
  job.seed = s.seed;
  job.v0 = v0.data();
  job.record_steps = s.record_steps.data();
  job.records = int(s.record_steps.size());
  job.threads = host::resolve_threads(s.threads);
  const std::size_t mm = std::size_t(s.model.tokens) * s.model.tokens;
  SdeTrajectories buf;
  buf.grams.resize(chunk * job.records * mm);
  buf.blowup_step.resize(chunk);
  buf.projections.resize(chunk);
  buf.rho_clips.resize(chunk);
  const kernels::SdeChunkOut out{buf.grams.data(), buf.blowup_step.data(), buf.projections.data(),
                                 buf.rho_clips.data()};
  for (std::uint64_t done = 0; done < count; done += chunk) {
    job.first_member = first + done;
    job.count = std::min(chunk, count - done);
    backend.chunk(job, out);
    sink(buf, job.count);
  }
  return chunk;
}

}  // namespace

SdeTrajectories simulate_sde(const SdeSpec& s, std::uint64_t first, std::uint64_t count) {
  const SdeBackend backend = sde_backend(s.device);
  const std::size_t per_gram = s.record_steps.size() * std::size_t(s.model.tokens) * s.model.tokens;
  SdeTrajectories all;
  for_each_sde_chunk(s, backend, first, count, [&](const SdeTrajectories& b, std::uint64_t k) {
    all.grams.insert(all.grams.end(), b.grams.begin(), b.grams.begin() + k * per_gram);
    all.blowup_step.insert(all.blowup_step.end(), b.blowup_step.begin(), b.blowup_step.begin() + k);
    all.projections.insert(all.projections.end(), b.projections.begin(), b.projections.begin() + k);
    all.rho_clips.insert(all.rho_clips.end(), b.rho_clips.begin(), b.rho_clips.begin() + k);
  });
  return all;
}

SdeResult run_sde(const SdeSpec& in, const Progress& progress) {
  const auto t0 = Clock::now();
  SdeResult r;
  r.spec = resolve_sde(in);
  const SdeSpec& s = r.spec;
  const SdeBackend backend = sde_backend(s.device);
  r.device = device_name(backend.device);
  r.threads = host::resolve_threads(s.threads);
  std::vector<int> layers;
  for (std::int64_t k : s.record_steps) {
    layers.push_back(int(k));
    r.record_times.push_back(double(k) * s.dt);
  }
  r.stats = EnsembleStatistics(s.model.tokens, layers, s.histogram_bins,
                               std::numeric_limits<double>::infinity());
  const std::size_t records = s.record_steps.size();
  const std::size_t per_gram = records * std::size_t(s.model.tokens) * s.model.tokens;
  std::vector<unsigned char> blown(records);
  std::uint64_t done = 0;
  r.chunk = for_each_sde_chunk(s, backend, 0, s.trajectories,
                               [&](const SdeTrajectories& b, std::uint64_t k) {
                                 for (std::uint64_t t = 0; t < k; ++t) {
                                   const std::int64_t at = b.blowup_step[t];
                                   for (std::size_t q = 0; q < records; ++q)
                                     blown[q] = at >= 0 && s.record_steps[q] >= at;
                                   r.stats.add_member(b.grams.data() + t * per_gram, blown.data());
                                   if (at >= 0) ++r.blowups;
                                   r.projections += b.projections[t];
                                   if (b.projections[t] > 0) ++r.projected_trajectories;
                                   r.rho_clips += b.rho_clips[t];
                                 }
                                 done += k;
                                 if (progress) progress(done, s.trajectories);
                               });
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

}  // namespace attnmc
