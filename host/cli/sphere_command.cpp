// `attnmc sphere`: one ensemble of the stochastic Transformer on the sphere
// (models.md section 2), configured like every command ([model] [input]
// [sphere] [ensemble] [run], host/config/family_config.hpp). Writes
// summary.json (outcomes with standard errors and Wilson intervals, cluster
// counts, inner-product quantiles per record, the terminal histogram, the
// flow beside it with sphere.flow), stats.h5 and table.txt.
#include "host/cli/sphere_command.hpp"

#include <cmath>
#include <nlohmann/json.hpp>
#include <utility>

#include "attnmc/sphere.hpp"
#include "attnmc/version.hpp"
#include "host/cli/command.hpp"
#include "host/config/family_config.hpp"
#include "host/mpi/split_ensemble.hpp"
#include "host/output.hpp"
#include "host/sphere_outcomes.hpp"
#include "host/sphere_sweep.hpp"
#include "host/stats_state.hpp"

namespace attnmc::cli {
namespace {

// N = 2 tokens in d = 3 from <x_1, x_2> = 0, T = 1. The reduced noise is
// exact in law and cheaper (min(N, d) d normals a step instead of d^2): the
// default of `sphere` and `phase` alike.
const char* const kDefaultSphere = R"(
[model]
tokens = 2
dim = 3
beta = 1.0
sigma = 1.0
[sphere]
scheme = "sde-geometric"
noise = "reduced"
horizon = 1.0
dt = 0.01
[input]
rho0 = 0.0
[ensemble]
members = 1000
seed = 1
)";

nlohmann::json proportion_json(const Proportion& p) {
  return {{"count", p.successes},
          {"of", p.trials},
          {"p", p.p()},
          {"stderr", p.stderr_()},
          {"wilson95", {p.wilson_lo(), p.wilson_hi()}}};
}

std::string sphere_table(const SphereResult& r, bool timing) {
  const SphereSpec& s = r.spec;
  std::string t = format(
      "sphere: N=%d d=%d scheme=%s noise=%s beta=%g sigma=%g T=%g steps=%lld dt=%g\n", s.tokens,
      s.dim, scheme_name(s.scheme), s.noise == SphereNoise::matrix ? "matrix" : "reduced", s.beta,
      s.sigma, s.horizon, static_cast<long long>(s.steps), s.dt);
  t += format("trajectories=%llu seed=%llu device=%s threads=%d",
              static_cast<unsigned long long>(s.end_member() - s.member_begin),
              static_cast<unsigned long long>(s.seed), r.device.c_str(), r.threads);
  t += timing ? format("  %.2f s\n", r.seconds) : "\n";
  auto line = [&t](const char* name, const Proportion& p) {
    t += format("  P(%-9s) = %.4f +- %.4f  (95%% Wilson [%.4f, %.4f], %lld / %lld)\n", name, p.p(),
                p.stderr_(), p.wilson_lo(), p.wilson_hi(), static_cast<long long>(p.successes),
                static_cast<long long>(p.trials));
  };
  line("collapse", r.p_collapse());
  line("antipodal", r.p_antipodal());
  line("other", r.p_other());
  t += format("  non-finite trajectories: %lld; max ||x|^2 - 1| at the end: %.2e\n",
              static_cast<long long>(r.nonfinite), r.max_norm_error);
  t += format("  clusters (<x_i,x_j> > 1 - %g):", s.eps);
  for (std::size_t k = 1; k < r.clusters.size(); ++k)
    if (r.clusters[k] > 0) t += format(" %zu:%lld", k, static_cast<long long>(r.clusters[k]));
  const int last = int(r.stats.layers().size()) - 1;
  if (s.tokens > 1)
    t += format("\n  terminal <x_1, x_2>: q10 %.6f  q50 %.6f  q90 %.6f",
                r.stats.quantile(last, 0, 1, 0.1, false), r.stats.quantile(last, 0, 1, 0.5, false),
                r.stats.quantile(last, 0, 1, 0.9, false));
  return t + "\n";
}

nlohmann::json result_json(const SphereResult& r) {
  const SphereSpec& s = r.spec;
  nlohmann::json j;
  j["version"] = kVersion;
  j["spec"] = {{"tokens", s.tokens},
               {"dim", s.dim},
               {"scheme", scheme_name(s.scheme)},
               {"noise", s.noise == SphereNoise::matrix ? "matrix" : "reduced"},
               {"beta", s.beta},
               {"sigma", s.sigma},
               {"horizon", s.horizon},
               {"steps", s.steps},
               {"dt", s.dt},
               {"trajectories", s.trajectories},
               {"member_begin", s.member_begin},
               {"member_end", s.end_member()},
               {"seed", s.seed},
               {"eps", s.eps},
               {"init", s.init == SphereInit::rho0      ? "rho0"
                        : s.init == SphereInit::uniform ? "uniform"
                                                        : "tokens"},
               {"rho0", s.rho0},
               {"qk", s.qk}};
  j["device"] = r.device;
  j["threads"] = r.threads;
  j["seconds"] = r.seconds;
  j["collapse"] = proportion_json(r.p_collapse());
  j["antipodal"] = proportion_json(r.p_antipodal());
  j["other"] = proportion_json(r.p_other());
  j["nonfinite"] = r.nonfinite;
  j["clusters"] = r.clusters;
  j["mean_clusters"] = mean_clusters(r);
  j["max_norm_error"] = r.max_norm_error;
  nlohmann::json recs = nlohmann::json::array();
  for (std::size_t k = 0; k < r.stats.layers().size(); ++k) {
    nlohmann::json pairs = nlohmann::json::array();
    for (int a = 0; a < s.tokens; ++a)
      for (int b = a + 1; b < s.tokens; ++b) {
        const Moments& m = r.stats.per_layer()[k].gram[std::size_t(a) * s.tokens + b];
        pairs.push_back({{"i", a},
                         {"j", b},
                         {"mean", m.mean()},
                         {"sd", m.stddev()},
                         {"q10", r.stats.quantile(int(k), a, b, 0.1, false)},
                         {"q50", r.stats.quantile(int(k), a, b, 0.5, false)},
                         {"q90", r.stats.quantile(int(k), a, b, 0.9, false)}});
      }
    const int step = r.stats.layers()[k];
    recs.push_back({{"step", step}, {"time", step * s.dt}, {"pairs", pairs}});
  }
  j["records"] = recs;
  const auto& last = r.stats.per_layer().back();
  j["terminal_histogram_x12"] = {
      {"range", {-1.0, 1.0}},
      {"counts", std::vector<std::int64_t>(last.rho_histogram.begin(),
                                           last.rho_histogram.begin() + r.stats.histogram_bins())}};
  return j;
}

// The inner products as the statistics of a finite ensemble, for stats.h5:
// records are steps, t = step * dt, "gram" entries are <x_i, x_j>. The
// statistics come separately so that the caller can move them in (a copy
// would duplicate every reserved sketch page).
EnsembleResult as_ensemble(const SphereResult& r, EnsembleStatistics stats) {
  const SphereSpec& s = r.spec;
  EnsembleResult e;
  e.spec.model.tokens = s.tokens;
  e.spec.model.width = s.dim;
  e.spec.model.depth = int(s.steps);
  e.spec.members = s.trajectories;
  e.spec.seed = s.seed;
  e.spec.record_layers.assign(s.record_steps.begin(), s.record_steps.end());
  e.spec.histogram_bins = s.histogram_bins;
  e.spec.member_begin = s.member_begin;
  e.spec.member_end = s.member_end;
  e.spec.device = s.device;
  e.spec.threads = s.threads;
  e.family = "sphere";
  for (std::int64_t step : s.record_steps) e.record_times.push_back(double(step) * s.dt);
  e.device = r.device;
  e.sampler = std::string("sphere-") + scheme_name(s.scheme);
  e.chunk = r.chunk;
  e.threads = r.threads;
  e.stats = std::move(stats);
  e.seconds_simulate = r.seconds;
  return e;
}

// The outcome probabilities and the terminal mean <x_1, x_2>, with standard errors.
std::vector<Headline> sphere_headlines(const SphereResult& r) {
  std::vector<Headline> h;
  for (auto [name, p] :
       {std::pair{"P(collapse)", r.p_collapse()}, std::pair{"P(antipodal)", r.p_antipodal()},
        std::pair{"P(other)", r.p_other()}})
    h.push_back({name, p.p(), p.stderr_()});
  const LayerStatistics& L = r.stats.per_layer().back();
  if (r.spec.tokens > 1) {
    const Moments& m = L.gram[1];
    h.push_back({"mean <x1,x2>", m.mean(), m.stddev() / std::sqrt(double(m.count))});
  }
  return h;
}

SphereOutcomes outcomes_of(const SphereResult& r, const nlohmann::json& spec) {
  SphereOutcomes o;
  o.spec = spec;
  o.collapse = r.collapse, o.antipodal = r.antipodal, o.other = r.other;
  o.nonfinite = r.nonfinite;
  o.clusters = r.clusters;
  o.max_norm_error = r.max_norm_error;
  return o;
}

nlohmann::json stats_identity(const SphereResult& r) {
  return {{"scheme", scheme_name(r.spec.scheme)},
          {"noise", r.spec.noise == SphereNoise::matrix ? "matrix" : "reduced"},
          {"beta", r.spec.beta},
          {"sigma", r.spec.sigma},
          {"horizon", r.spec.horizon},
          {"steps", r.spec.steps}};
}

// stats.h5 of a sphere ensemble: the inner products' statistics (lent to
// the writer and taken back) and the outcome counts.
void write_sphere_stats(const std::string& path, SphereResult& r, const nlohmann::json& spec) {
  EnsembleResult e = as_ensemble(r, std::move(r.stats));
  write_stats_h5(path, e, stats_identity(r));
  r.stats = std::move(e.stats);
  append_sphere_outcomes(path, outcomes_of(r, spec));
}

CommandResult sphere_one(const ConfigSource& src, StagedDirectory& dir, const RunContext& cx) {
  const SphereRun run = load_sphere_run(src);
  SphereResult r = mpi::run_sphere(cx.world, run.spec, cx.progress, cx.scale_out);
  nlohmann::json j = result_json(r);
  CommandResult out;
  if (run.flow) {
    const SphereFlowOutcome f = run_flow_beside(r.spec);
    j["flow"] = {{"trajectories", f.trajectories()}, {"collapse", f.collapse},
                 {"antipodal", f.antipodal},         {"other", f.other},
                 {"nonfinite", f.nonfinite},         {"mean_clusters", f.mean_clusters}};
  }
  out.table = sphere_table(r, cx.timing);
  if (flag(cx, "check-step")) {
    SphereSpec half = r.spec;
    half.steps *= 2;
    half.record_every *= 2;
    half.record_steps.clear();
    const SphereResult h = mpi::run_sphere(cx.world, half, {}, cx.scale_out);
    j["step_check"] = step_check_json(r.spec.dt, 1, sphere_headlines(r), sphere_headlines(h));
    out.table += step_check_table(j["step_check"]);
    out.scalars["step_bias_detected"] = j["step_check"]["bias_detected"];
  }
  out.members = r.spec.end_member() - r.spec.member_begin;
  write_sphere_stats(dir.file("stats.h5"), r, j["spec"]);
  write_summary(dir, j, cx);
  dir.write_text("table.txt", out.table);
  for (const char* k : {"collapse", "antipodal", "other"}) {
    out.scalars[std::string("p_") + k] = j[k]["p"];
    out.scalars[std::string("se_") + k] = j[k]["stderr"];
  }
  out.scalars["nonfinite"] = r.nonfinite;
  out.scalars["mean_clusters"] = j["mean_clusters"];
  if (r.spec.tokens > 1) {
    const nlohmann::json& p = j["records"].back()["pairs"][0];
    for (const char* q : {"q10", "q50", "q90"}) out.scalars[std::string("ip12_") + q] = p[q];
  }
  if (run.flow)
    for (const char* k : {"collapse", "antipodal", "other"})
      out.scalars[std::string("flow_") + k] = j["flow"][k];
  if (r.finite() == 0 && r.nonfinite > 0)
    out.failure =
        format("every one of the %lld trajectories is non-finite", (long long)r.nonfinite);
  return out;
}

}  // namespace

std::string merge_sphere_outputs(const std::vector<std::string>& inputs, const std::string& output,
                                 bool force) {
  check_output_dir(output, force);
  std::vector<StatisticsState> states;
  std::vector<SphereOutcomes> pieces;
  for (const std::string& in : inputs) {
    states.push_back(read_statistics_state(in));
    pieces.push_back(read_sphere_outcomes(in));
  }
  StatisticsState merged = merge_states(states, inputs);
  const SphereOutcomes o =
      merge_sphere_outcomes(pieces, merged.id.member_begin, merged.id.member_end);
  SphereResult r;
  r.spec = sphere_spec_from_summary(o.spec);
  r.spec.record_steps.assign(merged.stats.layers().begin(), merged.stats.layers().end());
  r.spec.histogram_bins = merged.stats.histogram_bins();
  r.device = merged.id.device;
  r.collapse = o.collapse, r.antipodal = o.antipodal, r.other = o.other;
  r.nonfinite = o.nonfinite;
  r.clusters = o.clusters;
  r.max_norm_error = o.max_norm_error;
  r.stats = std::move(merged.stats);
  nlohmann::json j = result_json(r);
  j["merged_from"] = inputs;
  j.erase("seconds");
  j.erase("threads");
  const std::string table = sphere_table(r, false);
  StagedDirectory stage(output, force);
  write_sphere_stats(stage.file("stats.h5"), r, j["spec"]);
  stage.write_text("summary.json", j.dump(2) + "\n");
  stage.write_text("table.txt", table);
  stage.commit();
  return table + format(
                     "merged %zu sphere pieces: trajectories [%llu, %llu) of %llu (written to "
                     "%s)\n",
                     inputs.size(), (unsigned long long)merged.id.member_begin,
                     (unsigned long long)merged.id.member_end,
                     (unsigned long long)merged.id.members, output.c_str());
}

std::vector<FlagAlias> sphere_aliases() {
  using K = FlagAlias::Kind;
  return {
      {"--scheme", "sphere.scheme", "network | sde-projected | sde-geometric | flow"},
      {"--noise", "sphere.noise", "reduced (exact in law, cheaper) | matrix (d x d V per step)"},
      {"--beta", "model.beta", "inverse temperature"},
      {"--sigma", "model.sigma", "value-matrix entry standard deviation"},
      {"--horizon,-T", "sphere.horizon", "time horizon T (network: 1 = models.md scaling)"},
      {"--steps,-L", "sphere.steps", "steps / layers (0: ceil(T / dt))"},
      {"--dt", "sphere.dt", "step size when --steps is 0"},
      {"--init", "input.init", "rho0 (N = 2) | uniform | tokens"},
      {"--rho0", "input.rho0", "initial <x_1, x_2> for --init rho0"},
      {"--tokens-file", "input.tokens_file", "N x d start tokens (text); sets --init tokens"},
      {"--qk-file", "model.qk_file", "d x d matrix Q^T K (text); default identity"},
      {"--eps", "sphere.eps", "outcome threshold: clusters join at <x_i, x_j> > 1 - eps"},
      {"--record-every", "sphere.record_every", "record inner products every k steps"},
      {"--chunk", "ensemble.chunk", "trajectories per chunk (0: fit the memory cap)"},
      {"--flow", "sphere.flow", "also run the deterministic flow from the same start", K::flag},
  };
}

Command sphere_command() {
  Command c;
  c.name = "sphere";
  c.help = "Stochastic Transformer on the sphere: one ensemble (models.md section 2)";
  c.default_output = "out/sphere";
  c.builtin = kDefaultSphere;
  c.aliases = {{"--tokens,-N", "model.tokens", "tokens N"},
               {"--dim,-d", "model.dim", "dimension d"}};
  for (const FlagAlias& a : sphere_aliases()) c.aliases.push_back(a);
  c.switches = {{"check-step", kCheckStepHelp}};
  c.validate = [](const ConfigSource& src) {
    const SphereSpec s = resolve_sphere(load_sphere_run(src).spec);
    return s.end_member() - s.member_begin;
  };
  c.run = sphere_one;
  c.scale_out = true;
  return c;
}

const char* sphere_default_config() { return kDefaultSphere; }

}  // namespace attnmc::cli
