// The sphere-model family on the driver (host/driver.hpp): validates a
// spec, picks the backend, checks the memory cap before any work, and folds
// each chunk's per-trajectory results into the outcome counts and
// inner-product statistics in trajectory order (so chunking and threading
// never change the result).

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "attnmc/error.hpp"
#include "attnmc/sphere.hpp"
#include "host/backend.hpp"
#include "host/chunking.hpp"
#include "host/driver.hpp"
#include "kernels/sphere_job.hpp"

namespace attnmc {
namespace {

using Clock = std::chrono::steady_clock;

kernels::SphereCoefficients coefficients_of(const SphereSpec& s) {
  kernels::SphereCoefficients c;
  c.n = s.tokens;
  c.d = s.dim;
  c.scheme = int(s.scheme);
  c.reduced = s.noise == SphereNoise::reduced;
  c.has_qk = !s.qk.empty();
  c.steps = s.steps;
  c.dt = s.horizon / double(s.steps);
  c.beta = s.beta;
  c.sigma = s.sigma;
  c.eps = s.eps;
  return c;
}

void require(bool ok, const char* parameter, const std::string& message) {
  if (!ok) throw InputError(parameter, message);
}

}  // namespace

const char* scheme_name(SphereScheme s) {
  switch (s) {
    case SphereScheme::network:
      return "network";
    case SphereScheme::sde_projected:
      return "sde-projected";
    case SphereScheme::sde_geometric:
      return "sde-geometric";
    case SphereScheme::flow:
      return "flow";
  }
  return "?";
}

SphereScheme parse_scheme(const std::string& name) {
  for (SphereScheme s : {SphereScheme::network, SphereScheme::sde_projected,
                         SphereScheme::sde_geometric, SphereScheme::flow})
    if (name == scheme_name(s)) return s;
  throw InputError("sphere.scheme",
                   "unknown scheme '" + name + "' (network, sde-projected, sde-geometric, flow)");
}

const char* outcome_name(SphereOutcome o) {
  switch (o) {
    case SphereOutcome::collapse:
      return "collapse";
    case SphereOutcome::antipodal:
      return "antipodal";
    case SphereOutcome::other:
      return "other";
    case SphereOutcome::nonfinite:
      return "nonfinite";
  }
  return "?";
}

double Proportion::p() const {
  return trials > 0 ? double(successes) / double(trials) : std::numeric_limits<double>::quiet_NaN();
}
double Proportion::stderr_() const { return std::sqrt(p() * (1.0 - p()) / double(trials)); }
// Wilson score interval at 95% (z = 1.96): sensible also at p = 0 or 1.
double Proportion::wilson_lo() const {
  const double z = 1.959963984540054, n = double(trials), ph = p();
  const double c = ph + z * z / (2 * n), r = z * std::sqrt(ph * (1 - ph) / n + z * z / (4 * n * n));
  return std::clamp((c - r) / (1 + z * z / n), 0.0, ph);  // clamp: rounding at p = 0
}
double Proportion::wilson_hi() const {
  const double z = 1.959963984540054, n = double(trials), ph = p();
  const double c = ph + z * z / (2 * n), r = z * std::sqrt(ph * (1 - ph) / n + z * z / (4 * n * n));
  return std::clamp((c + r) / (1 + z * z / n), ph, 1.0);
}

SphereSpec resolve_sphere(const SphereSpec& in) {
  SphereSpec s = in;
  require(s.tokens >= 2 && s.tokens <= kernels::kMaxSphereTokens, "model.tokens",
          "must be in [2, " + std::to_string(kernels::kMaxSphereTokens) + "]");
  require(s.dim >= 2 && s.dim <= 4096, "model.dim", "must be in [2, 4096]");
  require(std::isfinite(s.horizon) && s.horizon > 0, "sphere.horizon", "must be positive");
  require(std::isfinite(s.beta) && s.beta >= 0, "model.beta", "must be finite and >= 0");
  require(std::isfinite(s.sigma) && s.sigma >= 0, "model.sigma", "must be finite and >= 0");
  require(std::isfinite(s.eps) && s.eps > 0 && s.eps < 1, "sphere.eps", "must be in (0, 1)");
  if (s.steps == 0) {
    require(std::isfinite(s.dt) && s.dt > 0, "sphere.dt", "must be positive");
    s.steps = std::int64_t(std::ceil(s.horizon / s.dt - 1e-9));
  }
  require(s.steps >= 1 && s.steps <= std::numeric_limits<std::int32_t>::max(), "sphere.steps",
          "must be in [1, 2^31)");
  s.dt = s.horizon / double(s.steps);
  require(s.trajectories >= 1 && s.trajectories <= std::numeric_limits<std::uint32_t>::max(),
          "ensemble.members", "must be in [1, 2^32)");
  require(s.member_end <= s.trajectories, "ensemble.member_end", "must be <= trajectories");
  require(s.member_begin < s.end_member(), "ensemble.member_begin", "must be < member_end");
  require(s.qk.empty() || s.qk.size() == std::size_t(s.dim) * s.dim, "model.qk_file",
          "must hold d x d = " + std::to_string(s.dim * s.dim) + " numbers");
  for (double v : s.qk) require(std::isfinite(v), "model.qk_file", "contains a non-finite value");
  require(s.histogram_bins >= 1, "ensemble.histogram_bins", "must be >= 1");
  if (s.init == SphereInit::rho0) {
    require(s.tokens == 2, "input.rho0",
            "a start given by rho0 needs exactly 2 tokens (use uniform or a file)");
    require(std::isfinite(s.rho0) && s.rho0 >= -1 && s.rho0 <= 1, "input.rho0",
            "must be in [-1, 1]");
  }
  if (s.init == SphereInit::tokens) {
    require(s.tokens0.size() == std::size_t(s.tokens) * s.dim, "input.tokens_file",
            "expected " + std::to_string(s.tokens) + " x " + std::to_string(s.dim) + " numbers");
    for (int i = 0; i < s.tokens; ++i) {
      double n2 = 0;
      for (int p = 0; p < s.dim; ++p) n2 += s.tokens0[i * s.dim + p] * s.tokens0[i * s.dim + p];
      require(std::isfinite(n2) && n2 > 0, "input.tokens_file",
              "token " + std::to_string(i) + " is zero or non-finite");
      for (int p = 0; p < s.dim; ++p) s.tokens0[i * s.dim + p] /= std::sqrt(n2);
    }
  }
  require(s.record_every >= 0, "sphere.record_every", "must be >= 0");
  std::vector<std::int64_t> rec = s.record_steps;
  rec.push_back(0);
  rec.push_back(s.steps);
  if (s.record_every > 0)
    for (std::int64_t k = s.record_every; k < s.steps; k += s.record_every) rec.push_back(k);
  for (std::int64_t k : rec)
    require(k >= 0 && k <= s.steps, "sphere.record_every", "must be in [0, steps]");
  std::sort(rec.begin(), rec.end());
  rec.erase(std::unique(rec.begin(), rec.end()), rec.end());
  s.record_steps = rec;
  require(s.memory_cap > 0, "ensemble.memory_cap", "must be positive");
  host::check_threads(s.threads, "run.threads");
  return s;
}

std::vector<double> sphere_start(const SphereSpec& s) {
  const int d = s.dim;
  if (s.init == SphereInit::tokens) return s.tokens0;
  if (s.init == SphereInit::uniform) return {};
  std::vector<double> x(2 * std::size_t(d), 0.0);
  x[0] = 1.0;
  x[d] = s.rho0;
  x[d + 1] = std::sqrt(std::max(0.0, 1.0 - s.rho0 * s.rho0));
  return x;
}

std::vector<double> read_sphere_tokens(const std::string& path, int tokens, int dim,
                                       const std::string& key) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(key, "cannot read '" + path + "': it is a directory");
  std::ifstream in(path);
  if (!in) throw InputError(key, "cannot read '" + path + "': " + std::strerror(errno));
  std::vector<double> v;
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    std::replace(line.begin(), line.end(), ',', ' ');
    std::istringstream ls(line);
    std::string word;
    while (ls >> word) {
      try {
        std::size_t used = 0;
        v.push_back(std::stod(word, &used));
        if (used != word.size()) throw std::invalid_argument(word);
      } catch (const std::exception&) {
        throw InputError(key, "'" + word + "' in '" + path + "' is not a number");
      }
    }
  }
  if (v.size() != std::size_t(tokens) * dim)
    throw InputError(key, "'" + path + "' holds " + std::to_string(v.size()) +
                              " numbers, expected " + std::to_string(tokens) + " x " +
                              std::to_string(dim));
  return v;
}

namespace {

// One chunk's results on the host: per-trajectory outcomes, the device
// reduction's aggregate and, when asked, the Gram matrices.
struct SphereBuffer {
  std::size_t per_gram = 0, nd = 0;
  bool keep_grams = false;
  SphereTrajectories t;
  kernels::GramAggregate aggregate;
  void resize(std::uint64_t count) {
    t.grams.resize(keep_grams ? count * per_gram : 0);
    t.outcome.resize(count);
    t.clusters.resize(count);
    t.norm_error.resize(count);
    t.final_tokens.resize(count * nd);
  }
};

struct SpherePlan {
  host::Backend backend;
  bool host_grams = false;  // every trajectory's grams come back to the host
  host::ChunkPlan chunks;
};

// Backend and chunk size of trajectories [first, end) with `statistics` as
// the fixed costs of what the caller aggregates into; throws before any work
// when the run cannot fit the memory cap.
SpherePlan plan_sphere(const SphereSpec& s, std::uint64_t first, std::uint64_t end,
                       std::vector<host::MemoryCost> statistics, bool host_grams) {
  SpherePlan p;
  p.backend = host::select_backend(s.device);
  p.host_grams = host_grams;
  const kernels::SphereCoefficients c = coefficients_of(s);
  const std::size_t records = s.record_steps.size(), nd = std::size_t(s.tokens) * s.dim;
  const std::size_t grams = records * std::size_t(s.tokens) * s.tokens * sizeof(float);
  host::MemoryRule rule;
  rule.memory_cap = s.memory_cap;
  rule.free_memory = p.backend.free_memory;
  // Device buffers, then two host buffers of outcomes and final tokens, and
  // the delivery of the records (device reduction, host copies).
  const bool reduce = !statistics.empty();
  const host::GramDeliveryCosts delivery =
      host::gram_delivery_costs(p.backend, s.tokens, int(records), reduce, host_grams);
  rule.per_item = omp::sphere_bytes_per_trajectory(c) + grams + 2 * (nd * sizeof(double) + 16) +
                  delivery.per_item;
  rule.fixed = std::move(statistics);
  if (reduce) rule.fixed.push_back(delivery.fixed);
  // Start tokens and Q^T K on the host and the device (d x d: the dimension sets it).
  rule.fixed.push_back({2 * (nd + s.qk.size()) * sizeof(double) + records * sizeof(std::int64_t),
                        "start tokens and Q^T K", "dim"});
  rule.requested = s.chunk;
  rule.cap_key = "memory_cap";
  p.chunks = host::plan_chunks(std::move(rule), first, end, s.threads);
  return p;
}

// Runs the plan; sink(trajectories, count) gets each chunk in trajectory order.
template <typename Sink>
void run_sphere_chunks(const SphereSpec& s, const SpherePlan& p,
                       const kernels::GramStatisticsJob* reduction, Sink sink) {
  const std::vector<double> x0 = sphere_start(s);
  kernels::SphereJob job;
  job.model = coefficients_of(s);
  job.seed = s.seed;
  job.x0 = x0.empty() ? nullptr : x0.data();
  job.qk = s.qk.empty() ? nullptr : s.qk.data();
  job.record_steps = s.record_steps.data();
  job.records = int(s.record_steps.size());
  const auto chunk = host::on_backend(p.backend, &attnmc::omp::sphere_chunk,
#if defined(ATTNMC_WITH_CUDA)
                                      &attnmc::cuda::sphere_chunk
#else
                                      &attnmc::omp::sphere_chunk
#endif
  );
  SphereBuffer proto;
  proto.per_gram = s.record_steps.size() * std::size_t(s.tokens) * s.tokens;
  proto.nd = std::size_t(s.tokens) * s.dim;
  proto.keep_grams = p.host_grams;
  host::drive(
      p.backend, p.chunks, proto,
      [&](const kernels::ExecContext& cx, std::uint64_t first, std::uint64_t count,
          SphereBuffer& b) {
        kernels::SphereJob j = job;
        j.first_member = first;
        j.count = count;
        kernels::SphereChunkOut out;
        out.gram = kernels::gram_output(p.host_grams, b.t.grams.data(), reduction, b.aggregate);
        out.outcome = b.t.outcome.data();
        out.clusters = b.t.clusters.data();
        out.norm_error = b.t.norm_error.data();
        out.final_tokens = b.t.final_tokens.data();
        chunk(cx, j, out);
      },
      [&](const SphereBuffer& b, std::uint64_t, std::uint64_t count) { sink(b, count); });
}

}  // namespace

SphereTrajectories simulate_sphere(const SphereSpec& s, std::uint64_t first, std::uint64_t count) {
  const SpherePlan p = plan_sphere(s, first, first + count, {}, true);
  const std::size_t nn = std::size_t(s.tokens) * s.tokens, nd = std::size_t(s.tokens) * s.dim;
  const std::size_t per_gram = s.record_steps.size() * nn;
  SphereTrajectories all;
  run_sphere_chunks(s, p, nullptr, [&](const SphereBuffer& buf, std::uint64_t k) {
    const SphereTrajectories& b = buf.t;
    all.grams.insert(all.grams.end(), b.grams.begin(), b.grams.begin() + k * per_gram);
    all.outcome.insert(all.outcome.end(), b.outcome.begin(), b.outcome.begin() + k);
    all.clusters.insert(all.clusters.end(), b.clusters.begin(), b.clusters.begin() + k);
    all.norm_error.insert(all.norm_error.end(), b.norm_error.begin(), b.norm_error.begin() + k);
    all.final_tokens.insert(all.final_tokens.end(), b.final_tokens.begin(),
                            b.final_tokens.begin() + k * nd);
  });
  return all;
}

SphereResult run_sphere(const SphereSpec& in, const Progress& progress) {
  const auto t0 = Clock::now();
  SphereResult r;
  r.spec = resolve_sphere(in);
  const SphereSpec& s = r.spec;
  // The compatibility form of the statistics: default sketches, no stored samples.
  StatisticsOptions options;
  options.histogram_bins = s.histogram_bins;
  options.overflow_threshold = std::numeric_limits<double>::infinity();
  const SpherePlan p = plan_sphere(
      s, s.member_begin, s.end_member(),
      host::statistics_costs(s.tokens, s.record_steps.size(), options,
                             s.end_member() - s.member_begin, {"histogram_bins", "", ""}),
      false);
  r.device = device_name(p.backend.device);
  r.threads = p.chunks.threads;
  r.chunk = p.chunks.chunk;
  std::vector<int> layers(s.record_steps.begin(), s.record_steps.end());
  r.stats = EnsembleStatistics(s.tokens, layers, s.histogram_bins,
                               std::numeric_limits<double>::infinity());
  r.clusters.assign(std::size_t(s.tokens) + 1, 0);
  std::uint64_t done = 0;
  r.stats.reserve_for(s.end_member() - s.member_begin);
  const kernels::GramStatisticsJob reduction = r.stats.device_job();
  run_sphere_chunks(s, p, &reduction, [&](const SphereBuffer& buf, std::uint64_t k) {
    const SphereTrajectories& b = buf.t;
    r.stats.add_aggregate(buf.aggregate, nullptr, k);
    for (std::uint64_t t = 0; t < k; ++t) {
      switch (SphereOutcome(b.outcome[t])) {
        case SphereOutcome::collapse:
          ++r.collapse;
          break;
        case SphereOutcome::antipodal:
          ++r.antipodal;
          break;
        case SphereOutcome::other:
          ++r.other;
          break;
        case SphereOutcome::nonfinite:
          ++r.nonfinite;
          break;
      }
      if (b.outcome[t] != std::int8_t(SphereOutcome::nonfinite)) {
        ++r.clusters[std::size_t(b.clusters[t])];
        r.max_norm_error = std::max(r.max_norm_error, b.norm_error[t]);
      }
    }
    done += k;
    if (progress) progress(done, s.end_member() - s.member_begin);
  });
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

}  // namespace attnmc
