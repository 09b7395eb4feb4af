// Command line of the SDE and of the finite-vs-SDE comparison. Options map
// one to one onto SdeSpec / CompareSpec fields. Outputs go through the
// atomic output directories of host/output.hpp: `sde` writes stats.h5,
// summary.json and table.txt like `run`; `compare` writes table.txt and
// compare.json (quantiles per time and series, distances, terminal rho
// samples) and, unless --no-plot, compare.png via scripts/plot_compare.py.
#include "host/cli/compare_command.hpp"

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "attnmc/error.hpp"
#include "attnmc/sde.hpp"
#include "host/cli/seed_option.hpp"
#include "host/compare.hpp"
#include "host/output.hpp"

namespace attnmc {
namespace {

// Model options shared by both commands.
struct ModelOptions {
  ModelSpec model;
  double rho0 = 0.5;
  std::vector<double> gram;
  std::string device = "auto";
  int threads = 0;
  std::uint64_t seed = 1;
  std::string output;
  bool force = false, quiet = false;

  void add_to(CLI::App* c) {
    c->add_option("--tokens,-m", model.tokens, "tokens m")->capture_default_str();
    c->add_option("--heads", model.heads, "heads H")->capture_default_str();
    c->add_option("--tau0", model.tau0, "temperature tau0")->capture_default_str();
    c->add_option("--gamma", model.gamma, "residual weight gamma (lambda = sqrt(1 - gamma^2))");
    c->add_option("--lambda", model.lambda, "residual weight lambda");
    c->add_flag("--mlp", model.mlp, "shaped ReLU MLP block after attention");
    c->add_option("--c-plus", model.c_plus, "MLP slope shape c_plus")->capture_default_str();
    c->add_option("--c-minus", model.c_minus, "MLP slope shape c_minus")->capture_default_str();
    c->add_option("--rho0", rho0, "input: V0 = (1 - rho0) I + rho0 11^T")->capture_default_str();
    c->add_option("--gram", gram, "input: V0 as m*m numbers, row-major (overrides --rho0)")
        ->delimiter(',');
    c->add_option("--seed", seed, "random seed, 0 to 2^64 - 1")
        ->check(cli::seed_validator())
        ->capture_default_str();
    c->add_option("--threads", threads, "CPU threads (0 = all)")->capture_default_str();
    c->add_option("--device", device, "cpu | cuda | auto")->capture_default_str();
    c->add_option("--output,-o", output, "output directory (none: print the table only)");
    c->add_flag("--force", force, "replace an existing non-empty output directory");
    c->add_flag("--quiet,-q", quiet, "print nothing but errors");
  }
  InputSpec input() const {
    InputSpec in;
    if (!gram.empty()) {
      in.kind = InputSpec::Kind::gram;
      in.gram = gram;
    } else {
      in.rho0 = rho0;
    }
    return in;
  }
  Device dev() const {
    if (device == "cpu") return Device::cpu;
    if (device == "cuda") return Device::cuda;
    if (device == "auto") return Device::automatic;
    throw InputError("device", "expected cpu, cuda or auto, got '" + device + "'");
  }
};

std::string sde_table(const SdeResult& r) {
  const SdeSpec& s = r.spec;
  std::ostringstream o;
  o << std::fixed << "# attnmc sde: " << sde_dynamics_name(s.dynamics) << ", "
    << sde_scheme_name(s.scheme) << ", m = " << s.model.tokens << ", T = " << s.horizon
    << ", steps = " << s.steps << ", dt = " << std::setprecision(6) << s.dt << ", "
    << s.trajectories << " paths on " << r.device << "\n";
  o << "# blow-ups " << r.blowups << " (|V_ab| > " << std::setprecision(0) << std::scientific
    << s.blowup_threshold << " max V0_aa), PSD projections " << r.projections << " in "
    << r.projected_trajectories << " paths, rho clips " << r.rho_clips << ", " << std::fixed
    << std::setprecision(2) << r.seconds << " s\n";
  o << std::setw(9) << "t" << std::setw(9) << "blowup";
  for (double q : s.quantiles)
    o << std::setw(10) << ("rho01_q" + std::to_string(int(q * 100 + .5)));
  for (double q : s.quantiles) o << std::setw(10) << ("V00_q" + std::to_string(int(q * 100 + .5)));
  o << std::setw(11) << "rho01_mean"
    << "\n";
  for (std::size_t j = 0; j < r.record_times.size(); ++j) {
    const LayerStatistics& l = r.stats.per_layer()[j];
    o << std::setw(9) << std::setprecision(4) << r.record_times[j] << std::setw(9) << l.blowup;
    for (double q : s.quantiles) o << std::setw(10) << r.stats.quantile(int(j), 0, 1, q, true);
    for (double q : s.quantiles) o << std::setw(10) << r.stats.quantile(int(j), 0, 0, q, false);
    o << std::setw(11) << l.rho[1].mean() << "\n";
  }
  return o.str();
}

// The SDE's statistics in the shape of a finite ensemble, for the shared
// output writers: records are labelled by step and the "width" is 1 / dt,
// so the files' t = layer / width is the SDE time.
EnsembleResult as_ensemble(const SdeResult& r) {
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
  e.family = "sde";
  e.record_times = r.record_times;
  e.device = r.device;
  e.sampler = std::string("sde-") + sde_scheme_name(r.spec.scheme);
  e.chunk = r.chunk;
  e.threads = r.threads;
  e.stats = r.stats;
  e.seconds_simulate = r.seconds;
  return e;
}

void write_sde_output(const ModelOptions& o, const SdeResult& r, const std::string& table) {
  const EnsembleResult e = as_ensemble(r);
  StagedDirectory dir(o.output, o.force);
  const SdeSpec& s = r.spec;
  const nlohmann::json identity = {{"dynamics", sde_dynamics_name(s.dynamics)},
                                   {"scheme", sde_scheme_name(s.scheme)},
                                   {"horizon", s.horizon},
                                   {"steps", s.steps},
                                   {"record_steps", s.record_steps},
                                   {"blowup_threshold", s.blowup_threshold}};
  write_stats_h5(dir.file("stats.h5"), e, identity);
  nlohmann::json j = run_summary_json(e);
  j["sde"] = {{"dynamics", sde_dynamics_name(s.dynamics)},
              {"scheme", sde_scheme_name(s.scheme)},
              {"horizon", s.horizon},
              {"steps", s.steps},
              {"dt", s.dt},
              {"record_times", r.record_times},
              {"blowup_threshold", s.blowup_threshold},
              {"blowups", r.blowups},
              {"projections", r.projections},
              {"projected_trajectories", r.projected_trajectories},
              {"rho_clips", r.rho_clips}};
  std::vector<std::int64_t> per;
  for (const LayerStatistics& l : r.stats.per_layer()) per.push_back(l.blowup);
  j["sde"]["blowups_per_record"] = per;
  dir.write_text("summary.json", j.dump(2) + "\n");
  dir.write_text("table.txt", table);
  dir.commit();
}

nlohmann::json compare_json(const CompareResult& r) {
  nlohmann::json j;
  const CompareSpec& s = r.spec;
  j["horizon"] = s.horizon;
  j["times"] = r.times;
  j["quantile_levels"] = s.quantiles;
  j["pair"] = {s.a, s.b};
  j["widths"] = s.widths;
  j["members"] = s.members;
  j["trajectories"] = s.trajectories;
  j["w1"] = r.w1;
  j["ks"] = r.ks;
  j["w1_slope"] = r.w1_slope;
  j["ks_slope"] = r.ks_slope;
  j["seconds"] = r.seconds;
  j["model"] = {{"tokens", s.model.tokens}, {"heads", s.model.heads},
                {"tau0", s.model.tau0},     {"mlp", s.model.mlp},
                {"c_plus", s.model.c_plus}, {"c_minus", s.model.c_minus}};
  for (const CompareSeries& c : r.series) {
    std::vector<double> finite;
    for (double v : c.terminal_rho)
      if (std::isfinite(v)) finite.push_back(v);
    j["series"].push_back({{"label", c.label},
                           {"width", c.width},
                           {"sampler", c.sampler},
                           {"rho_quantiles", c.rho_q},
                           {"vaa_quantiles", c.vaa_q},
                           {"blowups", c.blowups},
                           {"nonfinite", c.nonfinite},
                           {"seconds", c.seconds},
                           {"terminal_rho", finite}});
  }
  return j;
}

// scripts/plot_compare.py beside the binary's source tree.
void plot(const std::string& dir, bool quiet) {
  namespace fs = std::filesystem;
  std::string script = "scripts/plot_compare.py";
#if defined(ATTNMC_SOURCE_DIR)
  if (!fs::exists(script)) script = std::string(ATTNMC_SOURCE_DIR) + "/scripts/plot_compare.py";
#endif
  const std::string cmd = "python3 '" + script + "' '" + dir + "/compare.json' '" + dir +
                          "/compare.png'" + (quiet ? " > /dev/null 2>&1" : "");
  if (std::system(cmd.c_str()) != 0 && !quiet)
    std::fprintf(stderr, "attnmc: warning: plotting failed (%s); the table and JSON are written\n",
                 cmd.c_str());
}

}  // namespace

void add_compare_command(CLI::App& app) {
  // ----------------------------------------------------------------- sde
  auto so = std::make_shared<ModelOptions>();
  auto ss = std::make_shared<SdeSpec>();
  auto sde_dyn = std::make_shared<std::string>("auto");
  auto sde_scheme = std::make_shared<std::string>("euler");
  ss->model.width = 128;
  ss->model.depth = 128;
  CLI::App* sde = app.add_subcommand(
      "sde", "Ensemble of the covariance SDE of shaped Transformers (models.md section 1)");
  so->add_to(sde);
  sde->add_option("--dynamics", *sde_dyn, "auto | attention | mlp | both | neural-covariance")
      ->capture_default_str();
  sde->add_option("--scheme", *sde_scheme, "euler | weak-euler | rho-euler | rho-weak2")
      ->capture_default_str();
  sde->add_option("--width,-n", ss->model.width, "reference width n (t = l / n; dt = 1 / n)")
      ->capture_default_str();
  sde->add_option("--depth,-d", ss->model.depth, "reference depth d (T = d / n)")
      ->capture_default_str();
  sde->add_option("--horizon,-T", ss->horizon, "horizon T (0: d / n)")->capture_default_str();
  sde->add_option("--steps", ss->steps, "steps (0: ceil(T / dt))")->capture_default_str();
  sde->add_option("--dt", ss->dt, "step (0: 1 / n)")->capture_default_str();
  sde->add_option("--trajectories,-B", ss->trajectories, "paths")->capture_default_str();
  sde->add_option("--record-every", ss->record_every, "steps between records (0: ~32 records)");
  sde->add_option("--record-times", ss->record_times, "explicit record times")->delimiter(',');
  sde->add_option("--blowup-threshold", ss->blowup_threshold,
                  "blow-up when |V_ab| > this times max V0_aa")
      ->capture_default_str();
  sde->add_option("--chunk", ss->chunk, "paths per chunk (0: fit the memory cap)");
  sde->callback([so, ss, sde_dyn, sde_scheme] {
    SdeSpec s = *ss;
    s.model.tokens = so->model.tokens;
    s.model.heads = so->model.heads;
    s.model.tau0 = so->model.tau0;
    s.model.gamma = so->model.gamma;
    s.model.lambda = so->model.lambda;
    s.model.mlp = so->model.mlp;
    s.model.c_plus = so->model.c_plus;
    s.model.c_minus = so->model.c_minus;
    s.dynamics = parse_sde_dynamics(*sde_dyn);
    s.scheme = parse_sde_scheme(*sde_scheme);
    s.input = so->input();
    s.seed = so->seed;
    s.threads = so->threads;
    s.device = so->dev();
    if (!so->output.empty()) check_output_dir(so->output, so->force);
    const SdeResult r = run_sde(s);
    const std::string table = sde_table(r);
    if (!so->quiet) std::cout << table;
    if (!so->output.empty()) write_sde_output(*so, r, table);
  });

  // ----------------------------------------------------------------- compare
  auto co = std::make_shared<ModelOptions>();
  auto cs = std::make_shared<CompareSpec>();
  auto sampler = std::make_shared<std::string>("auto");
  auto pair = std::make_shared<std::vector<int>>(std::vector<int>{0, 1});
  auto no_plot = std::make_shared<bool>(false);
  co->output = "out/compare";
  // Default experiment (about a minute on 2 cores): see README.
  co->model.tokens = 3;
  co->rho0 = 0.3;
  co->model.tau0 = 1.5;
  cs->horizon = 0.5;
  cs->records = 4;
  cs->widths = {8, 16, 32, 64, 128, 256};
  cs->members = 20000;
  cs->trajectories = 50000;
  CLI::App* cmp = app.add_subcommand(
      "compare", "Finite networks at several widths (d / n fixed) vs the SDE at T = d / n");
  co->add_to(cmp);
  cmp->add_option("--widths", cs->widths, "network widths")->delimiter(',')->capture_default_str();
  cmp->add_option("--horizon,-T", cs->horizon, "T = d / n")->capture_default_str();
  cmp->add_option("--records", cs->records, "record times j T / records")->capture_default_str();
  cmp->add_option("--members,-B", cs->members, "networks per width")->capture_default_str();
  cmp->add_option("--trajectories", cs->trajectories, "SDE paths")->capture_default_str();
  cmp->add_option("--sde-steps", cs->sde_steps, "SDE steps (0: 4 per layer of the widest)");
  cmp->add_option("--sampler", *sampler, "auto | exact | direct")->capture_default_str();
  cmp->add_option("--pair", *pair, "token pair a,b")->delimiter(',')->expected(2);
  cmp->add_flag("--no-plot", *no_plot, "do not call scripts/plot_compare.py");
  cmp->callback([co, cs, sampler, pair, no_plot] {
    CompareSpec s = *cs;
    s.model.tokens = co->model.tokens;
    s.model.heads = co->model.heads;
    s.model.tau0 = co->model.tau0;
    s.model.gamma = co->model.gamma;
    s.model.lambda = co->model.lambda;
    s.model.mlp = co->model.mlp;
    s.model.c_plus = co->model.c_plus;
    s.model.c_minus = co->model.c_minus;
    s.input = co->input();
    s.seed = co->seed;
    s.threads = co->threads;
    s.device = co->dev();
    s.a = (*pair)[0];
    s.b = (*pair)[1];
    if (*sampler == "auto")
      s.sampler = Sampler::automatic;
    else if (*sampler == "exact")
      s.sampler = Sampler::exact;
    else if (*sampler == "direct")
      s.sampler = Sampler::direct;
    else
      throw InputError("sampler", "expected auto, exact or direct, got '" + *sampler + "'");
    if (!co->output.empty()) check_output_dir(co->output, co->force);
    const CompareResult r = run_compare(s, [co](std::uint64_t done, std::uint64_t total) {
      if (!co->quiet)
        std::fprintf(stderr, "\r%llu / %llu", (unsigned long long)done, (unsigned long long)total);
    });
    if (!co->quiet) std::fprintf(stderr, "\n");
    std::ostringstream t;
    write_compare_table(t, r);
    t << "# " << std::fixed << std::setprecision(1) << r.seconds << " s\n";
    if (!co->quiet) std::cout << t.str();
    if (!co->output.empty()) {
      StagedDirectory dir(co->output, co->force);
      dir.write_text("table.txt", t.str());
      dir.write_text("compare.json", compare_json(r).dump() + "\n");
      dir.commit();
      if (!*no_plot) plot(co->output, co->quiet);
    }
  });
}

}  // namespace attnmc
