// `attnmc compare`: finite networks at several widths (T = d / n fixed)
// against the covariance SDE at T, configured like every command ([model]
// [input] [compare] [ensemble] [run], host/config/family_config.hpp).
// Writes table.txt, compare.json (quantiles per time and series, distances,
// terminal rho samples), summary.json and, unless --no-plot, compare.png
// via scripts/plot_compare.py.
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <sstream>

#include "attnmc/version.hpp"
#include "host/cli/command.hpp"
#include "host/compare.hpp"
#include "host/config/family_config.hpp"

namespace attnmc::cli {
namespace {

// The default experiment (about a minute on 2 cores): see README.
const char* const kDefaultCompare = R"(
[model]
tokens = 3
tau0 = 1.5
[input]
rho0 = 0.3
[compare]
horizon = 0.5
records = 4
widths = [8, 16, 32, 64, 128, 256]
trajectories = 50000
[ensemble]
members = 20000
seed = 1
)";

nlohmann::json compare_json(const CompareResult& r, bool timing) {
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
  if (timing) j["seconds"] = r.seconds;
  j["model"] = {{"tokens", s.model.tokens},     {"heads", s.model.heads},
                {"head_dim", s.model.head_dim}, {"tau0", s.model.tau0},
                {"mlp", s.model.mlp},           {"c_plus", s.model.c_plus},
                {"c_minus", s.model.c_minus}};
  for (const CompareSeries& c : r.series) {
    std::vector<double> finite;
    for (double v : c.terminal_rho)
      if (std::isfinite(v)) finite.push_back(v);
    nlohmann::json series = {{"label", c.label},         {"width", c.width},
                             {"sampler", c.sampler},     {"rho_quantiles", c.rho_q},
                             {"vaa_quantiles", c.vaa_q}, {"blowups", c.blowups},
                             {"nonfinite", c.nonfinite}, {"terminal_rho", finite}};
    if (timing) series["seconds"] = c.seconds;
    j["series"].push_back(series);
  }
  return j;
}

CommandResult compare_one(const ConfigSource& src, StagedDirectory& dir, const RunContext& cx) {
  const CompareSpec spec = load_compare_spec(src);
  const CompareResult r = run_compare(spec, cx.progress);
  std::ostringstream t;
  write_compare_table(t, r);
  if (cx.timing) t << "# " << std::fixed << std::setprecision(1) << r.seconds << " s\n";
  CommandResult out;
  out.table = t.str();
  out.members = spec.members * spec.widths.size() + spec.trajectories;
  const nlohmann::json cj = compare_json(r, cx.timing);
  dir.write_text("table.txt", out.table);
  dir.write_text("compare.json", cj.dump() + "\n");
  nlohmann::json summary = {{"version", kVersion}, {"seed", spec.seed}, {"command", "compare"}};
  for (const char* k : {"horizon", "times", "quantile_levels", "pair", "widths", "members",
                        "trajectories", "w1", "ks", "w1_slope", "ks_slope", "model", "seconds"})
    if (cj.contains(k)) summary[k] = cj[k];
  for (std::size_t i = 0; i < r.w1.size(); ++i) {
    out.scalars[format("w1_n%d", spec.widths[i])] = r.w1[i];
    out.scalars[format("ks_n%d", spec.widths[i])] = r.ks[i];
  }
  out.scalars["w1_slope"] = r.w1_slope;
  out.scalars["ks_slope"] = r.ks_slope;
  if (flag(cx, "check-step")) {  // the SDE side: its step against half of it
    const SdeSpec sde = resolve_sde(compare_sde_spec(spec));
    SdeSpec half = sde;
    half.steps *= 2;
    half.record_steps.clear();
    const nlohmann::json check =
        step_check_json(sde.dt, 1, sde_headlines(run_sde(sde)), sde_headlines(run_sde(half)));
    out.table += "SDE " + step_check_table(check);
    summary["step_check"] = check;
    out.scalars["step_bias_detected"] = check["bias_detected"];
    dir.write_text("table.txt", out.table);
  }
  write_summary(dir, summary, cx);
  const bool plot = cx.flags.count("no-plot") == 0 || !cx.flags.at("no-plot");
  if (plot) {
    const std::string script = find_script("plot_compare.py");
    const std::string cmd = script.empty()
                                ? std::string()
                                : "python3 " + shell_quote(script) + " " +
                                      shell_quote(dir.file("compare.json")) + " " +
                                      shell_quote(dir.file("compare.png")) + " > /dev/null 2>&1";
    if ((cmd.empty() || std::system(cmd.c_str()) != 0) && !cx.quiet)
      warn(
          "compare.png not made (python3 with numpy and matplotlib is needed); the table and "
          "JSON are written");
  }
  return out;
}

}  // namespace

Command compare_command() {
  using K = FlagAlias::Kind;
  Command c;
  c.name = "compare";
  c.help = "Finite networks at several widths (d / n fixed) vs the SDE at T = d / n";
  c.default_output = "out/compare";
  c.builtin = kDefaultCompare;
  c.aliases = model_aliases();
  const std::vector<FlagAlias> own = {
      {"--head-dim", "model.head_dim", "key/query width n_k of the finite networks (0: n / H)"},
      {"--widths", "compare.widths", "network widths n1,n2,...", K::list},
      {"--horizon,-T", "compare.horizon", "T = d / n"},
      {"--records", "compare.records", "record times j T / records"},
      {"--trajectories", "compare.trajectories", "SDE paths"},
      {"--sde-steps", "compare.sde_steps", "SDE steps (0: 4 per layer of the widest)"},
      {"--sampler", "ensemble.sampler", "auto | exact | direct"},
      {"--pair", "compare.pair", "token pair a,b", K::list},
  };
  c.aliases.insert(c.aliases.end(), own.begin(), own.end());
  c.switches = {{"no-plot", "do not call scripts/plot_compare.py"}, {"check-step", kCheckStepHelp}};
  c.pieces = false;  // several ensembles and distances between them: no pieces to merge
  c.validate = [](const ConfigSource& src) {
    const CompareSpec s = load_compare_spec(src);
    validate_compare(s);
    return s.members * s.widths.size() + s.trajectories;
  };
  c.run = compare_one;
  return c;
}

}  // namespace attnmc::cli
