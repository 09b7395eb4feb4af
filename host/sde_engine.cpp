// The covariance-SDE family on the driver (host/driver.hpp): validates a
// spec, turns the model into SDE coefficients, picks the backend, checks
// the memory cap before any work, and folds each chunk into the statistics
// in trajectory order (so chunking and threading never change the result).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "attnmc/error.hpp"
#include "attnmc/sde.hpp"
#include "host/backend.hpp"
#include "host/chunking.hpp"
#include "host/driver.hpp"
#include "kernels/sde_job.hpp"

namespace attnmc {
namespace {

using Clock = std::chrono::steady_clock;

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

StatisticsOptions SdeSpec::statistics_options() const {
  StatisticsOptions o;
  o.histogram_bins = histogram_bins;
  o.overflow_threshold = std::numeric_limits<double>::infinity();
  o.quantile_accuracy = quantile_accuracy;
  o.rho_quantile_bins = rho_quantile_bins;
  o.exact_quantiles = exact_quantiles;
  return o;
}

SdeSpec resolve_sde(const SdeSpec& in) {
  SdeSpec s = in;
  s.model = resolve_model(in.model);
  require(s.model.attention == AttentionKind::shaped, "model.attention",
          "the SDE limit exists for shaped attention only");
  require(!s.model.pre_norm, "model.pre_norm", "the SDE limit has no pre-normalisation");
  require(!s.model.post_norm, "model.norm", "the SDE limit has no post-normalisation");
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
          "ensemble.members", "must be in [1, 2^32)");
  require(s.member_end <= s.trajectories, "ensemble.member_end", "must be <= ensemble.members");
  require(s.member_begin < s.end_member(), "ensemble.member_begin",
          "must be < ensemble.member_end");
  require(s.blowup_threshold > 1, "sde.blowup_threshold", "must be > 1");
  require(s.histogram_bins >= 1 && s.histogram_bins <= 100000, "ensemble.histogram_bins",
          "must be in [1, 100000]");
  host::check_threads(s.threads, "run.threads");
  require(s.memory_cap > 0, "ensemble.memory_cap", "must be positive");
  for (double q : s.quantiles)
    require(q >= 0 && q <= 1, "ensemble.quantiles", "must lie in [0, 1]");
  require(s.record_every >= 0, "sde.record_every", "must be >= 0");
  std::vector<std::int64_t> rec = {0, s.steps};
  if (!s.record_times.empty()) {
    // Strictly increasing times on distinct steps: a list that would be
    // silently sorted or merged is refused (issue 9).
    std::int64_t last_step = -1;
    for (std::size_t i = 0; i < s.record_times.size(); ++i) {
      const double t = s.record_times[i];
      require(t >= 0 && t <= s.horizon * (1 + 1e-12), "sde.record_times",
              "times must lie in [0, T]");
      const std::int64_t step = std::min(s.steps, std::int64_t(std::llround(t / s.dt)));
      if (i > 0) {
        const double prev = s.record_times[i - 1];
        require(t > prev, "sde.record_times",
                "entry " + std::to_string(i) + " (t = " + std::to_string(t) +
                    ") does not follow entry " + std::to_string(i - 1) +
                    ": list the times strictly increasing");
        require(step > last_step, "sde.record_times",
                "entries " + std::to_string(i - 1) + " and " + std::to_string(i) +
                    " fall on the same step " + std::to_string(step) +
                    " (dt = " + std::to_string(s.dt) + ")");
      }
      rec.push_back(step);
      last_step = step;
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

// One chunk's results on the host: per-trajectory counters, the device
// reduction's aggregate and, when asked, the Gram matrices.
struct SdeBuffer {
  std::size_t per_gram = 0;
  bool keep_grams = false;
  SdeTrajectories t;
  kernels::GramAggregate aggregate;
  void resize(std::uint64_t count) {
    t.grams.resize(keep_grams ? count * per_gram : 0);
    t.blowup_step.resize(count);
    t.projections.resize(count);
    t.rho_clips.resize(count);
  }
};

struct SdePlan {
  host::Backend backend;
  bool host_grams = false;  // every trajectory's grams come back to the host
  host::ChunkPlan chunks;
};

// Backend and chunk size of trajectories [first, end) with `statistics` as
// the fixed costs of what the caller aggregates into; throws before any work
// when the run cannot fit the memory cap.
SdePlan plan_sde(const SdeSpec& s, std::uint64_t first, std::uint64_t end,
                 std::vector<host::MemoryCost> statistics, bool host_grams) {
  SdePlan p;
  p.backend = host::select_backend(s.device);
  p.host_grams = host_grams;
  const std::size_t records = s.record_steps.size(), m = std::size_t(s.model.tokens);
  const std::size_t grams = records * m * m * sizeof(float);
  const std::size_t outputs = sizeof(std::int64_t) + 2 * sizeof(std::int32_t);
  host::MemoryRule rule;
  rule.memory_cap = s.memory_cap;
  rule.free_memory = p.backend.free_memory;
  const bool reduce = !statistics.empty();
  const host::GramDeliveryCosts delivery =
      host::gram_delivery_costs(p.backend, int(m), int(records), reduce, host_grams);
  rule.per_item = grams + 3 * outputs + delivery.per_item;  // device, two host buffers
  rule.fixed = std::move(statistics);
  if (reduce) rule.fixed.push_back(delivery.fixed);
  rule.fixed.push_back({2 * m * m * sizeof(double) + records * sizeof(std::int64_t),
                        "initial covariance and record steps", ""});
  rule.requested = s.chunk;
  p.chunks = host::plan_chunks(std::move(rule), first, end, s.threads);
  return p;
}

// Runs the plan; sink(buffer, count) gets each chunk in trajectory order,
// reduced on the device by `reduction` (null: none), with its grams when
// the plan says so.
template <typename Sink>
void run_sde_chunks(const SdeSpec& s, const SdePlan& p, const kernels::GramStatisticsJob* reduction,
                    Sink sink) {
  const std::vector<double> v0 = sde_initial_gram(s);
  kernels::SdeJob job;
  job.model = sde_coefficients_of(s, v0);
  job.seed = s.seed;
  job.v0 = v0.data();
  job.record_steps = s.record_steps.data();
  job.records = int(s.record_steps.size());
  const auto chunk = host::on_backend(p.backend, &attnmc::omp::sde_chunk,
#if defined(ATTNMC_WITH_CUDA)
                                      &attnmc::cuda::sde_chunk
#else
                                      &attnmc::omp::sde_chunk
#endif
  );
  SdeBuffer proto;
  proto.per_gram = s.record_steps.size() * std::size_t(s.model.tokens) * s.model.tokens;
  proto.keep_grams = p.host_grams;
  host::drive(
      p.backend, p.chunks, proto,
      [&](const kernels::ExecContext& cx, std::uint64_t first, std::uint64_t count, SdeBuffer& b) {
        kernels::SdeJob j = job;
        j.first_member = first;
        j.count = count;
        kernels::SdeChunkOut out;
        out.gram = kernels::gram_output(p.host_grams, b.t.grams.data(), reduction, b.aggregate);
        out.blowup_step = b.t.blowup_step.data();
        out.projections = b.t.projections.data();
        out.rho_clips = b.t.rho_clips.data();
        chunk(cx, j, out);
      },
      [&](const SdeBuffer& b, std::uint64_t, std::uint64_t count) { sink(b, count); });
}

}  // namespace

SdeTrajectories simulate_sde(const SdeSpec& s, std::uint64_t first, std::uint64_t count) {
  const SdePlan p = plan_sde(s, first, first + count, {}, true);
  const std::size_t per_gram = s.record_steps.size() * std::size_t(s.model.tokens) * s.model.tokens;
  SdeTrajectories all;
  run_sde_chunks(s, p, nullptr, [&](const SdeBuffer& buf, std::uint64_t k) {
    const SdeTrajectories& b = buf.t;
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
  const StatisticsOptions options = s.statistics_options();
  const std::size_t records = s.record_steps.size();
  const SdePlan p =
      plan_sde(s, s.member_begin, s.end_member(),
               host::statistics_costs(
                   s.model.tokens, records, options, s.end_member() - s.member_begin,
                   {"ensemble.histogram_bins", "sde.rho_quantile_bins", "sde.exact_quantiles"}),
               options.exact_quantiles);
  r.device = device_name(p.backend.device);
  r.threads = p.chunks.threads;
  r.chunk = p.chunks.chunk;
  std::vector<int> layers;
  for (std::int64_t k : s.record_steps) {
    layers.push_back(int(k));
    r.record_times.push_back(double(k) * s.dt);
  }
  r.stats = EnsembleStatistics(s.model.tokens, layers, options);
  r.stats.reserve_for(s.end_member() - s.member_begin);
  const kernels::GramStatisticsJob reduction = r.stats.device_job();
  std::uint64_t done = 0;
  run_sde_chunks(s, p, &reduction, [&](const SdeBuffer& buf, std::uint64_t k) {
    const SdeTrajectories& b = buf.t;
    for (std::uint64_t t = 0; t < k; ++t) {
      if (b.blowup_step[t] >= 0) ++r.blowups;
      r.projections += b.projections[t];
      if (b.projections[t] > 0) ++r.projected_trajectories;
      r.rho_clips += b.rho_clips[t];
    }
    r.stats.add_aggregate(buf.aggregate, b.grams.data(), k);
    done += k;
    if (progress) progress(done, s.end_member() - s.member_begin);
  });
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

}  // namespace attnmc
