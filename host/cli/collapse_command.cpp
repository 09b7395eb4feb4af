// `attnmc collapse`: rank collapse of softmax, pre-norm softmax and shaped
// attention (mean token correlation against depth), one run configuration
// with the three attention kinds.
#include <cstdlib>

#include "attnmc/engine.hpp"
#include "attnmc/version.hpp"
#include "host/cli/command.hpp"
#include "host/config.hpp"
#include "host/mpi/split_ensemble.hpp"

namespace attnmc::cli {
namespace {

// The rank-collapse picture: same width, depth, input and seed for all three.
const char* const kDefaultCollapse = R"(
[model]
width = 128
tokens = 4
depth = 256
[input]
rho0 = 0.5
[ensemble]
members = 2000
seed = 1
record_every = 1
)";

const char* const kPresets[] = {"softmax", "softmax-prenorm", "shaped"};

std::vector<RunSpec> collapse_specs(const ConfigSource& src) {
  const RunSpec base = load_run_spec(src);
  std::vector<RunSpec> specs;
  for (const char* p : kPresets) {
    RunSpec s = base;
    const ModelSpec kind = model_preset(p);
    s.model.attention = kind.attention;
    s.model.pre_norm = kind.pre_norm;
    s.model.mlp = kind.mlp;
    specs.push_back(resolve_run(s));
  }
  return specs;
}

CommandResult collapse_one(const ConfigSource& src, StagedDirectory& dir, const RunContext& cx) {
  const std::vector<RunSpec> specs = collapse_specs(src);
  std::vector<EnsembleResult> results;
  for (std::size_t i = 0; i < specs.size(); ++i)
    results.push_back(mpi::run_ensemble(cx.world, specs[i], cx.progress, cx.scale_out));

  const RunSpec& s0 = results[0].spec;
  const int m = s0.model.tokens;
  std::string csv =
      "model,layer,t,rho_mean_pairs,rho01_mean,rho01_sd,rho01_q10,rho01_q50,"
      "rho01_q90,members,nonfinite,overflow\n";
  for (std::size_t i = 0; i < results.size(); ++i) {
    const EnsembleStatistics& st = results[i].stats;
    for (std::size_t k = 0; k < st.layers().size(); ++k) {
      const LayerStatistics& L = st.per_layer()[k];
      const Moments& rho = L.rho[1];
      csv +=
          format("%s,%d,%.6g,%.8g,%.8g,%.8g,%.8g,%.8g,%.8g,%lld,%lld,%lld\n", kPresets[i], L.layer,
                 double(L.layer) / s0.model.width, mean_pair_rho(L, m), rho.mean(), rho.stddev(),
                 st.quantile(int(k), 0, 1, 0.1, true), st.quantile(int(k), 0, 1, 0.5, true),
                 st.quantile(int(k), 0, 1, 0.9, true), static_cast<long long>(L.members),
                 static_cast<long long>(L.nonfinite), static_cast<long long>(L.overflow));
    }
  }
  std::string table = format(
      "attnmc collapse: mean token correlation (over pairs) vs depth; width n=%d, tokens m=%d, "
      "%s, %llu members each, seed %llu, device %s\n",
      s0.model.width, m, input_description(s0).c_str(), static_cast<unsigned long long>(s0.members),
      static_cast<unsigned long long>(s0.seed), results[0].device.c_str());
  std::string head = format("%6s %7s", "layer", "t");
  for (const char* p : kPresets) head += format(" | %15s", p);
  head += format(" | %9s\n", "nonfinite");
  table += head + std::string(head.size() - 1, '-') + "\n";
  // Collapse happens within a few layers: show layers 0, 1, 2, 4, 8, ... and the last.
  const std::vector<int>& recorded = results[0].stats.layers();
  CommandResult out;
  for (int k = 0; k < int(recorded.size()); ++k) {
    const int layer = recorded[k];
    const bool last = k + 1 == int(recorded.size());
    if (layer != 0 && (layer & (layer - 1)) != 0 && !last) continue;
    table += format("%6d %7.3f", layer, double(layer) / s0.model.width);
    std::int64_t nonfinite = 0;
    for (std::size_t i = 0; i < results.size(); ++i) {
      const LayerStatistics& L = results[i].stats.per_layer()[k];
      table += format(" | %15.4f", mean_pair_rho(L, m));
      nonfinite += L.nonfinite;
      if (last) out.scalars[std::string("rho_pairs_mean_") + kPresets[i]] = mean_pair_rho(L, m);
    }
    table += format(" | %9lld\n", static_cast<long long>(nonfinite));
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    const std::string f = all_nonfinite_failure(results[i].stats, "networks");
    if (!f.empty() && out.failure.empty()) out.failure = std::string(kPresets[i]) + ": " + f;
    out.members += s0.members;
  }

  nlohmann::json summary;
  summary["version"] = kVersion;
  summary["seed"] = s0.seed;
  for (std::size_t i = 0; i < results.size(); ++i) {
    nlohmann::json run = run_summary_json(results[i]);
    if (!cx.timing) run.erase("timings");
    summary["runs"][kPresets[i]] = run;
  }
  dir.write_text("collapse.csv", csv);
  dir.write_text("table.txt", table);
  write_summary(dir, summary, cx);
  if (cx.flags.count("no-plot") == 0 || !cx.flags.at("no-plot")) {
    const std::string script = find_script("plot_collapse.py");
    std::string note;
    if (script.empty()) {
      note = "collapse.png not made: scripts/plot_collapse.py not found";
    } else {
      const std::string cmd = "python3 " + shell_quote(script) + " " +
                              shell_quote(dir.file("collapse.csv")) + " " +
                              shell_quote(dir.file("collapse.png"));
      if (std::system(cmd.c_str()) != 0)
        note =
            "collapse.png not made (python3 with numpy and matplotlib is needed); "
            "the CSV has the data";
    }
    if (!note.empty() && !cx.quiet) std::fprintf(stderr, "attnmc: note: %s\n", note.c_str());
  }
  out.table = table;
  return out;
}

}  // namespace

Command collapse_command() {
  Command c;
  c.name = "collapse";
  c.help = "Mean token correlation vs depth: softmax, pre-norm softmax and shaped attention";
  c.default_output = "out/collapse";
  c.builtin = kDefaultCollapse;
  c.switches = {{"no-plot", "write the CSV only, do not call plot_collapse.py"}};
  c.validate = [](const ConfigSource& src) {
    std::uint64_t n = 0;
    for (const RunSpec& s : collapse_specs(src)) n += s.members;
    return n;
  };
  c.run = collapse_one;
  c.scale_out = true;
  return c;
}

}  // namespace attnmc::cli
