// `attnmc sde`: an ensemble of the covariance SDE of shaped Transformers
// (models.md section 1), configured like every command ([model] [input]
// [sde] [ensemble] [run], host/config/family_config.hpp). Writes stats.h5,
// summary.json and table.txt like `run`.
#include <cmath>
#include <iomanip>
#include <sstream>
#include <utility>

#include "attnmc/sde.hpp"
#include "attnmc/sphere.hpp"
#include "host/cli/command.hpp"
#include "host/config.hpp"
#include "host/config/family_config.hpp"
#include "host/mpi/split_ensemble.hpp"

namespace attnmc::cli {
namespace {

// The reference network of width 128 and depth 128: T = 1, dt = 1 / 128.
const char* const kDefaultSde = R"(
[model]
width = 128
depth = 128
[ensemble]
members = 10000
seed = 1
)";

std::string sde_table(const SdeResult& r, bool timing) {
  const SdeSpec& s = r.spec;
  std::ostringstream o;
  o << std::fixed << "# attnmc sde: " << sde_dynamics_name(s.dynamics) << ", "
    << sde_scheme_name(s.scheme) << ", m = " << s.model.tokens << ", T = " << s.horizon
    << ", steps = " << s.steps << ", dt = " << std::setprecision(6) << s.dt << ", "
    << s.trajectories << " paths on " << r.device << "\n";
  o << "# blow-ups " << r.blowups << " (|V_ab| > " << std::setprecision(0) << std::scientific
    << s.blowup_threshold << " max V0_aa), PSD projections " << r.projections << " in "
    << r.projected_trajectories << " paths, rho clips " << r.rho_clips;
  if (timing) o << ", " << std::fixed << std::setprecision(2) << r.seconds << " s";
  o << "\n";
  o << std::setw(9) << "t" << std::setw(9) << "blowup";
  for (double q : s.quantiles)
    o << std::setw(10) << ("rho01_q" + std::to_string(int(q * 100 + .5)));
  for (double q : s.quantiles) o << std::setw(10) << ("V00_q" + std::to_string(int(q * 100 + .5)));
  o << std::setw(11) << "rho01_mean"
    << "\n";
  o << std::fixed;
  for (std::size_t j = 0; j < r.record_times.size(); ++j) {
    const LayerStatistics& l = r.stats.per_layer()[j];
    o << std::setw(9) << std::setprecision(4) << r.record_times[j] << std::setw(9) << l.blowup;
    for (double q : s.quantiles) o << std::setw(10) << r.stats.quantile(int(j), 0, 1, q, true);
    for (double q : s.quantiles) o << std::setw(10) << r.stats.quantile(int(j), 0, 0, q, false);
    o << std::setw(11) << l.rho[1].mean() << "\n";
  }
  return o.str();
}

// The SDE's statistics in the shape of a finite ensemble, for stats.h5 and
// `attnmc merge`: records are labelled by step and the "width" is 1 / dt,
// so the file's t = layer / width is the SDE time (t is also stored). The
// statistics come separately so that a caller can move them in (a copy
// would duplicate every reserved sketch page, the largest thing a run holds).
EnsembleResult as_ensemble(const SdeResult& r, EnsembleStatistics stats) {
  EnsembleResult e;
  e.spec.model = r.spec.model;
  e.spec.model.width = int(std::llround(1.0 / r.spec.dt));
  e.spec.model.depth = int(r.spec.steps);
  e.spec.input = r.spec.input;
  e.spec.members = r.spec.trajectories;
  e.spec.seed = r.spec.seed;
  e.spec.record_layers.assign(r.spec.record_steps.begin(), r.spec.record_steps.end());
  e.spec.device = r.spec.device;
  e.spec.threads = r.spec.threads;
  e.spec.histogram_bins = r.spec.histogram_bins;
  e.spec.quantiles = r.spec.quantiles;
  e.spec.quantile_accuracy = r.spec.quantile_accuracy;
  e.spec.rho_quantile_bins = r.spec.rho_quantile_bins;
  e.spec.exact_quantiles = r.spec.exact_quantiles;
  e.spec.member_begin = r.spec.member_begin;
  e.spec.member_end = r.spec.member_end;
  e.family = "sde";
  e.record_times = r.record_times;
  e.device = r.device;
  e.sampler = std::string("sde-") + sde_scheme_name(r.spec.scheme);
  e.chunk = r.chunk;
  e.threads = r.threads;
  e.stats = std::move(stats);
  e.seconds_simulate = r.seconds;
  return e;
}

// The configuration the SDE uses, in its own sections: coefficients of the
// model (no width, depth or head_dim: the step and horizon say it), input,
// time stepping, ensemble, run.
nlohmann::json sde_config_json(const SdeSpec& s) {
  const nlohmann::json run = run_spec_json(as_ensemble(SdeResult{s}, {}).spec);
  nlohmann::json j;
  j["model"] = run["model"];
  for (const char* k : {"width", "depth", "head_dim", "T", "kind", "attention", "pre_norm"})
    j["model"].erase(k);
  j["input"] = run["input"];
  j["sde"] = {{"dynamics", sde_dynamics_name(s.dynamics)},
              {"scheme", sde_scheme_name(s.scheme)},
              {"horizon", s.horizon},
              {"steps", s.steps},
              {"dt", s.dt},
              {"record_steps", s.record_steps},
              {"blowup_threshold", s.blowup_threshold}};
  j["ensemble"] = {{"members", s.trajectories},
                   {"seed", s.seed},
                   {"chunk", s.chunk},
                   {"memory_cap", s.memory_cap},
                   {"histogram_bins", s.histogram_bins},
                   {"quantiles", s.quantiles},
                   {"quantile_accuracy", s.quantile_accuracy},
                   {"rho_quantile_bins", s.rho_quantile_bins},
                   {"exact_quantiles", s.exact_quantiles},
                   {"member_begin", s.member_begin},
                   {"member_end", s.member_end}};
  j["run"] = run["run"];
  return j;
}

CommandResult sde_one(const ConfigSource& src, StagedDirectory& dir, const RunContext& cx) {
  const SdeSpec spec = resolve_sde(load_sde_spec(src));
  SdeResult r = mpi::run_sde(cx.world, spec, cx.progress, cx.scale_out);
  CommandResult out;
  out.table = sde_table(r, cx.timing);
  out.members = spec.end_member() - spec.member_begin;
  const SdeSpec& s = r.spec;
  const nlohmann::json identity = {{"dynamics", sde_dynamics_name(s.dynamics)},
                                   {"scheme", sde_scheme_name(s.scheme)},
                                   {"horizon", s.horizon},
                                   {"steps", s.steps},
                                   {"record_steps", s.record_steps},
                                   {"blowup_threshold", s.blowup_threshold}};
  // The statistics are lent to the file's shape and taken back.
  EnsembleResult e = as_ensemble(r, std::move(r.stats));
  write_stats_h5(dir.file("stats.h5"), e, identity);
  nlohmann::json j = run_summary_json(e);
  r.stats = std::move(e.stats);
  j["config"] = sde_config_json(s);
  std::vector<std::int64_t> per;
  for (const LayerStatistics& l : r.stats.per_layer()) per.push_back(l.blowup);
  j["sde"] = {{"record_times", r.record_times},
              {"blowups", r.blowups},
              {"blowups_per_record", per},
              {"projections", r.projections},
              {"projected_trajectories", r.projected_trajectories},
              {"rho_clips", r.rho_clips}};
  if (flag(cx, "check-step")) {
    SdeSpec half = r.spec;
    half.steps *= 2;
    half.record_every *= 2;
    half.record_steps.clear();
    const SdeResult h = mpi::run_sde(cx.world, half, {}, cx.scale_out);
    const int order = s.scheme == SdeScheme::rho_weak2 ? 2 : 1;
    j["step_check"] = step_check_json(s.dt, order, sde_headlines(r), sde_headlines(h));
    out.table += step_check_table(j["step_check"]);
    out.scalars["step_bias_detected"] = j["step_check"]["bias_detected"];
  }
  write_summary(dir, j, cx);
  dir.write_text("table.txt", out.table);

  const int k = int(r.stats.layers().size()) - 1;
  const LayerStatistics& L = r.stats.per_layer()[k];
  out.scalars["t"] = r.record_times.back();
  out.scalars["members"] = L.members;
  out.scalars["blowups"] = r.blowups;
  out.scalars["nonfinite"] = L.nonfinite;
  if (s.model.tokens > 1) {
    out.scalars["rho01_mean"] = L.rho[1].mean();
    for (double q : s.quantiles)
      out.scalars[format("rho01_q%g", 100 * q)] = r.stats.quantile(k, 0, 1, q, true);
  }
  for (double q : s.quantiles)
    out.scalars[format("V00_q%g", 100 * q)] = r.stats.quantile(k, 0, 0, q, false);
  if (L.members > 0 && L.blowup + L.nonfinite >= L.members)
    out.failure = format("every one of the %lld paths blew up or is non-finite by t = %g",
                         (long long)L.members, r.record_times.back());
  return out;
}

}  // namespace

// The terminal mean rho_01 and the fraction of paths blown up, with standard errors.
std::vector<Headline> sde_headlines(const SdeResult& r) {
  const LayerStatistics& L = r.stats.per_layer().back();
  std::vector<Headline> h;
  if (r.spec.model.tokens > 1) {
    const Moments& m = L.rho[1];
    h.push_back({"mean rho01", m.mean(), m.stddev() / std::sqrt(double(m.count))});
  }
  const Proportion blown{L.blowup, L.members};
  h.push_back({"P(blow-up)", blown.p(), blown.stderr_()});
  return h;
}

Command sde_command() {
  using K = FlagAlias::Kind;
  Command c;
  c.name = "sde";
  c.help = "Ensemble of the covariance SDE of shaped Transformers (models.md section 1)";
  c.default_output = "out/sde";
  c.builtin = kDefaultSde;
  c.aliases = model_aliases();
  const std::vector<FlagAlias> own = {
      {"--width,-n", "model.width", "reference width n (t = l / n; dt = 1 / n)"},
      {"--depth,-d", "model.depth", "reference depth d (T = d / n)"},
      {"--dynamics", "sde.dynamics", "auto | attention | mlp | both | neural-covariance"},
      {"--scheme", "sde.scheme", "euler | weak-euler | rho-euler | rho-weak2"},
      {"--horizon,-T", "sde.horizon", "horizon T (0: d / n)"},
      {"--steps", "sde.steps", "steps (0: ceil(T / dt))"},
      {"--dt", "sde.dt", "step (0: 1 / n)"},
      {"--record-every", "sde.record_every", "steps between records (0: about 32 records)"},
      {"--record-times", "sde.record_times", "explicit record times t1,t2,...", K::list},
      {"--blowup-threshold", "sde.blowup_threshold", "blow-up when |V_ab| > this times max V0_aa"},
      {"--chunk", "ensemble.chunk", "paths per chunk (0: fit the memory cap)"},
  };
  c.aliases.insert(c.aliases.end(), own.begin(), own.end());
  c.switches = {{"check-step", kCheckStepHelp}};
  c.validate = [](const ConfigSource& src) {
    const SdeSpec s = resolve_sde(load_sde_spec(src));
    return s.end_member() - s.member_begin;
  };
  c.run = sde_one;
  c.scale_out = true;
  return c;
}

}  // namespace attnmc::cli
