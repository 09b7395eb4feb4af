// The attnmc command line: `run` (one ensemble from a TOML file and
// overrides), `collapse` (rank collapse of softmax vs shaped attention),
// `presets`, plus the sphere-model commands. Bad input exits with code 2 and
// `attnmc: error: <parameter>: <message>`; any other failure exits with 1.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "attnmc/engine.hpp"
#include "attnmc/error.hpp"
#include "attnmc/version.hpp"
#include "host/cli/compare_command.hpp"
#include "host/cli/sphere_command.hpp"
#include "host/config.hpp"
#include "host/output.hpp"
#include "host/stats_state.hpp"

namespace attnmc::cli {
namespace {

namespace fs = std::filesystem;

// The default experiment: a shaped-attention ensemble that runs in about a
// minute on two CPU cores (sampler "auto" picks the exact Gram chain, whose
// cost does not grow with width; statistics stream into sketches, so memory
// does not grow with the number of networks).
const char* const kDefaultRun = R"(
[model]
preset = "shaped"
width = 256
tokens = 4
depth = 256
[input]
rho0 = 0.5
[ensemble]
members = 100000
seed = 1
chunk = 5000
)";

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

// Options shared by `run` and `collapse`.
struct CommonOptions {
  std::string config;
  std::vector<std::string> set;
  std::string device, seed, threads, members, range;
  std::string output;
  bool force = false, quiet = false, progress = false;

  void add_to(CLI::App* c, const std::string& default_output) {
    output = default_output;
    c->add_option("config", config, "TOML configuration file (default: built-in experiment)");
    c->add_option("--set,-s", set, "override a configuration key: section.key=value (repeatable)")
        ->allow_extra_args(false);  // one key=value per --set; the config stays positional
    c->add_option("--device", device, "cpu | cuda | auto (= run.device)");
    // Checked as ensemble.seed (config.cpp, get_seed), which it sets.
    c->add_option("--seed", seed, "random seed, 0 to 2^64 - 1 (= ensemble.seed)");
    c->add_option("--threads", threads, "CPU threads, 0 = all (= run.threads)");
    c->add_option("--members,-B", members, "ensemble size (= ensemble.members)");
    c->add_option("--range", range,
                  "run only members BEGIN:END of the ensemble, a piece for `attnmc merge` "
                  "(= ensemble.member_begin, ensemble.member_end)");
    c->add_option("--output,-o", output, "output directory")->capture_default_str();
    c->add_flag("--force", force, "replace an existing non-empty output directory");
    c->add_flag("--quiet,-q", quiet, "print nothing but errors");
    c->add_flag("--progress", progress, "show progress on stderr even when it is not a terminal");
  }

  // The file (or the built-in text), then --set, then the named flags.
  ConfigSource source(const char* builtin) const {
    ConfigSource s;
    s.path = config;
    if (config.empty()) s.text = builtin;
    s.overrides = set;
    if (!device.empty()) s.overrides.push_back("run.device=" + device);
    // Quoted: TOML integers stop at 2^63 - 1, seeds at 2^64 - 1.
    if (!seed.empty()) s.overrides.push_back("ensemble.seed=\"" + seed + "\"");
    if (!threads.empty()) s.overrides.push_back("run.threads=" + threads);
    if (!members.empty()) s.overrides.push_back("ensemble.members=" + members);
    if (!range.empty()) {
      const std::size_t colon = range.find(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == range.size())
        throw InputError("--range", "expected BEGIN:END, e.g. 0:5000 (got '" + range + "')");
      s.overrides.push_back("ensemble.member_begin=" + range.substr(0, colon));
      s.overrides.push_back("ensemble.member_end=" + range.substr(colon + 1));
    }
    return s;
  }

  bool show_progress() const { return !quiet && (progress || ::isatty(STDERR_FILENO)); }
};

// Progress on stderr at most four times a second.
Progress progress_printer(bool enabled, std::string label) {
  if (!enabled) return {};
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  auto start = std::chrono::steady_clock::now();
  return [=](std::uint64_t done, std::uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (done < total && now - *last < std::chrono::milliseconds(250)) return;
    *last = now;
    const double s = std::chrono::duration<double>(now - start).count();
    std::fprintf(stderr, "\r%s: %llu / %llu members (%3.0f%%) %6.1f s", label.c_str(),
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                 100.0 * double(done) / double(total), s);
    if (done == total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  };
}

// About `count` record indices spread over [0, R), always the first and last.
std::vector<int> table_rows(int records, int count) {
  std::vector<int> rows;
  for (int i = 0; i < count; ++i) {
    const int r = int(std::lround(double(i) * (records - 1) / std::max(1, count - 1)));
    if (rows.empty() || rows.back() != r) rows.push_back(r);
  }
  return rows;
}

// Mean over pairs a < b of the ensemble-mean correlation.
double mean_pair_rho(const LayerStatistics& L, int m) {
  double sum = 0;
  int pairs = 0;
  for (int a = 0; a < m; ++a)
    for (int b = a + 1; b < m; ++b, ++pairs) sum += L.rho[std::size_t(a) * m + b].mean();
  return pairs > 0 ? sum / pairs : std::nan("");
}

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

std::string input_description(const RunSpec& s) {
  switch (s.input.kind) {
    case InputSpec::Kind::correlation:
      return format("rho0=%g", s.input.rho0);
    case InputSpec::Kind::gram:
      return "gram matrix";
    default:
      return "tokens from " + s.input.source;
  }
}

// The printed table: correlation rho_01 (and the mean over pairs when m > 2)
// and the diagonal V_00 at a handful of depths, with excluded-member counts.
std::string run_table(const EnsembleResult& r) {
  const RunSpec& s = r.spec;
  const EnsembleStatistics& st = r.stats;
  const int m = s.model.tokens;
  std::string out;
  out +=
      format("attnmc %s: model %s, width n=%d, tokens m=%d, depth d=%d (T=d/n=%g), heads %d, %s\n",
             kVersion, model_kind_name(s.model).c_str(), s.model.width, m, s.model.depth,
             double(s.model.depth) / s.model.width, s.model.heads, input_description(s).c_str());
  out += format("members %llu, seed %llu, device %s, sampler %s, ",
                static_cast<unsigned long long>(s.members), static_cast<unsigned long long>(s.seed),
                r.device.c_str(), r.sampler.c_str());
  if (r.chunk == 0)  // nothing ran: the statistics of pieces, merged
    out += format("merged: members [%llu, %llu)\n", static_cast<unsigned long long>(s.member_begin),
                  static_cast<unsigned long long>(s.end_member()));
  else
    out +=
        format("%d threads, chunk %llu; %.2f s simulate + %.2f s statistics\n", r.threads,
               static_cast<unsigned long long>(r.chunk), r.seconds_simulate, r.seconds_statistics);
  const bool pairs = m > 1, many = m > 2;
  std::string head = format("%6s %7s", "layer", "t");
  if (pairs) head += format(" | %8s %8s %8s %8s %8s", "rho01", "sd", "q10", "q50", "q90");
  if (many) head += format(" | %9s", "rho(pairs)");
  head += format(" | %9s %9s %9s %9s %9s", "V00", "sd", "q10", "q50", "q90");
  head += format(" | %9s %9s\n", "nonfinite", "overflow");
  out += head;
  out += std::string(head.size() - 1, '-') + "\n";
  for (int k : table_rows(int(st.layers().size()), 9)) {
    const LayerStatistics& L = st.per_layer()[k];
    out += format("%6d %7.3f", L.layer, double(L.layer) / s.model.width);
    if (pairs) {
      const Moments& rho = L.rho[1];
      out += format(" | %8.4f %8.4f %8.4f %8.4f %8.4f", rho.mean(), rho.stddev(),
                    st.quantile(k, 0, 1, 0.1, true), st.quantile(k, 0, 1, 0.5, true),
                    st.quantile(k, 0, 1, 0.9, true));
    }
    if (many) out += format(" | %10.4f", mean_pair_rho(L, m));
    const Moments& v = L.gram[0];
    out += format(" | %9.4g %9.4g %9.4g %9.4g %9.4g", v.mean(), v.stddev(),
                  st.quantile(k, 0, 0, 0.1, false), st.quantile(k, 0, 0, 0.5, false),
                  st.quantile(k, 0, 0, 0.9, false));
    out += format(" | %9lld %9lld\n", static_cast<long long>(L.nonfinite),
                  static_cast<long long>(L.overflow));
  }
  return out;
}

void run_command(const CommonOptions& o) {
  const RunSpec spec = load_resolved_run_spec(o.source(kDefaultRun));
  check_output_dir(o.output, o.force);  // before spending any time simulating
  const EnsembleResult r = run_ensemble(spec, progress_printer(o.show_progress(), "run"));
  const std::string table = run_table(r);
  write_run_output(o.output, o.force, r, table);
  if (!o.quiet) std::printf("%s(written to %s)\n", table.c_str(), o.output.c_str());
}

// scripts/plot_collapse.py: beside the binary, one level up, or in the source tree.
std::string find_script(const std::string& name) {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  std::vector<fs::path> candidates;
  if (!ec) {
    candidates.push_back(exe.parent_path() / "scripts" / name);
    candidates.push_back(exe.parent_path().parent_path() / "scripts" / name);
  }
#ifdef ATTNMC_SOURCE_DIR
  candidates.push_back(fs::path(ATTNMC_SOURCE_DIR) / "scripts" / name);
#endif
  for (const fs::path& p : candidates)
    if (fs::is_regular_file(p, ec)) return p.string();
  return {};
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

void collapse_command(const CommonOptions& o, bool plot) {
  const RunSpec base = load_run_spec(o.source(kDefaultCollapse));
  const char* presets[] = {"softmax", "softmax-prenorm", "shaped"};
  std::vector<RunSpec> specs;
  for (const char* p : presets) {
    RunSpec s = base;
    const ModelSpec kind = model_preset(p);
    s.model.attention = kind.attention;
    s.model.pre_norm = kind.pre_norm;
    s.model.mlp = kind.mlp;
    specs.push_back(resolve_run(s));
  }
  check_output_dir(o.output, o.force);
  std::vector<EnsembleResult> results;
  for (std::size_t i = 0; i < specs.size(); ++i)
    results.push_back(run_ensemble(specs[i], progress_printer(o.show_progress(), presets[i])));

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
          format("%s,%d,%.6g,%.8g,%.8g,%.8g,%.8g,%.8g,%.8g,%lld,%lld,%lld\n", presets[i], L.layer,
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
  for (const char* p : presets) head += format(" | %15s", p);
  head += format(" | %9s\n", "nonfinite");
  table += head + std::string(head.size() - 1, '-') + "\n";
  // Collapse happens within a few layers: show layers 0, 1, 2, 4, 8, ... and the last.
  const std::vector<int>& recorded = results[0].stats.layers();
  for (int k = 0; k < int(recorded.size()); ++k) {
    const int layer = recorded[k];
    if (layer != 0 && (layer & (layer - 1)) != 0 && k + 1 != int(recorded.size())) continue;
    table += format("%6d %7.3f", layer, double(layer) / s0.model.width);
    std::int64_t nonfinite = 0;
    for (const EnsembleResult& r : results) {
      const LayerStatistics& L = r.stats.per_layer()[k];
      table += format(" | %15.4f", mean_pair_rho(L, m));
      nonfinite += L.nonfinite;
    }
    table += format(" | %9lld\n", static_cast<long long>(nonfinite));
  }

  nlohmann::json summary;
  summary["version"] = kVersion;
  summary["seed"] = s0.seed;
  for (std::size_t i = 0; i < results.size(); ++i)
    summary["runs"][presets[i]] = run_summary_json(results[i]);

  StagedDirectory stage(o.output, o.force);
  stage.write_text("collapse.csv", csv);
  stage.write_text("table.txt", table);
  stage.write_text("summary.json", summary.dump(2) + "\n");
  std::string plot_note;
  if (plot) {
    const std::string script = find_script("plot_collapse.py");
    if (script.empty()) {
      plot_note = "collapse.png not made: scripts/plot_collapse.py not found";
    } else {
      const std::string cmd = "python3 " + shell_quote(script) + " " +
                              shell_quote(stage.file("collapse.csv")) + " " +
                              shell_quote(stage.file("collapse.png"));
      const int status = std::system(cmd.c_str());
      if (status != 0)
        plot_note =
            "collapse.png not made (python3 with numpy and matplotlib is needed); "
            "the CSV has the data";
    }
  }
  stage.commit();
  if (!plot_note.empty()) std::fprintf(stderr, "attnmc: note: %s\n", plot_note.c_str());
  if (!o.quiet) std::printf("%s(written to %s)\n", table.c_str(), o.output.c_str());
}

// `attnmc merge A B ... -o C`: pieces of one ensemble (output directories or
// stats.h5 files) into the statistics of the whole, to the bit.
void merge_command(const std::vector<std::string>& inputs, const std::string& output, bool force,
                   bool quiet) {
  check_output_dir(output, force);
  std::vector<StatisticsState> pieces;
  for (const std::string& in : inputs) pieces.push_back(read_statistics_state(in));
  const StatisticsState merged = merge_states(pieces, inputs);
  EnsembleResult r;
  r.family = merged.id.family;
  r.device = merged.id.device;
  r.sampler = merged.id.sampler;
  r.stats = merged.stats;
  nlohmann::json config = nlohmann::json::parse(merged.id.config);
  nlohmann::json family = config.contains("family") ? config["family"] : nlohmann::json(nullptr);
  config.erase("family");
  r.spec = run_spec_from_json(config);
  r.spec.record_layers = merged.stats.layers();
  r.spec.member_begin = merged.id.member_begin;
  r.spec.member_end = merged.id.member_end;
  if (r.family != "run") r.record_times = merged.t;  // SDE records are steps: keep their times
  std::string table;
  if (r.family == "run") {
    r.spec = resolve_run(r.spec);
    table = run_table(r);
  }
  StagedDirectory stage(output, force);
  write_stats_h5(stage.file("stats.h5"), r, family);
  nlohmann::json j = run_summary_json(r);
  j["merged_from"] = inputs;
  j.erase("timings");
  j.erase("chunk");
  j.erase("threads");
  stage.write_text("summary.json", j.dump(2) + "\n");
  if (!table.empty()) stage.write_text("table.txt", table);
  stage.commit();
  if (!quiet)
    std::printf("%smerged %zu pieces: members [%llu, %llu) of %llu (written to %s)\n",
                table.c_str(), inputs.size(),
                static_cast<unsigned long long>(merged.id.member_begin),
                static_cast<unsigned long long>(merged.id.member_end),
                static_cast<unsigned long long>(merged.id.members), output.c_str());
}

void presets_command() {
  for (const std::string& name : model_preset_names()) {
    const ModelSpec m = resolve_model(model_preset(name));
    std::printf(
        "%-16s attention=%s pre_norm=%s mlp=%s width=%d tokens=%d depth=%d heads=%d "
        "tau0=%g lambda=%.4f gamma=%.4f\n",
        name.c_str(), m.attention == AttentionKind::shaped ? "shaped" : "softmax",
        m.pre_norm ? "true" : "false", m.mlp ? "true" : "false", m.width, m.tokens, m.depth,
        m.heads, m.tau0, m.lambda, m.gamma);
  }
}

int error_exit(const std::string& message, int code) {
  std::fflush(stdout);
  std::fprintf(stderr, "attnmc: error: %s\n", message.c_str());
  return code;
}

}  // namespace
}  // namespace attnmc::cli

int main(int argc, char** argv) {
  using namespace attnmc;
  using namespace attnmc::cli;
  CLI::App app{"attnmc: Monte Carlo ensembles of deep Transformers at random initialisation"};
  app.set_version_flag("--version", std::string("attnmc ") + kVersion);
  app.require_subcommand(1);

  CommonOptions run_opts;
  CLI::App* run = app.add_subcommand(
      "run", "Run one ensemble (built-in shaped-attention experiment when no config is given)");
  run_opts.add_to(run, "out/default");

  CommonOptions collapse_opts;
  bool no_plot = false;
  CLI::App* collapse = app.add_subcommand(
      "collapse",
      "Mean token correlation vs depth: softmax, pre-norm softmax and shaped attention");
  collapse_opts.add_to(collapse, "out/collapse");
  collapse->add_flag("--no-plot", no_plot, "write the CSV only, do not call plot_collapse.py");

  CLI::App* presets = app.add_subcommand("presets", "List the model presets");
  std::vector<std::string> merge_inputs;
  std::string merge_output;
  bool merge_force = false, merge_quiet = false;
  CLI::App* merge = app.add_subcommand(
      "merge", "Merge pieces of one ensemble (attnmc run --range) into the whole, to the bit");
  merge->add_option("pieces", merge_inputs, "output directories (or stats.h5 files) of the pieces")
      ->required();
  merge->add_option("--output,-o", merge_output, "output directory")->required();
  merge->add_flag("--force", merge_force, "replace an existing non-empty output directory");
  merge->add_flag("--quiet,-q", merge_quiet, "print nothing but errors");
  add_sphere_commands(app);
  add_compare_command(app);

  try {
    // An unknown command is an error (exit 2), also with --help after it.
    if (argc > 1 && argv[1][0] != '-') {
      bool known = false;
      std::string names;
      for (const CLI::App* sub : app.get_subcommands({})) {
        known = known || sub->get_name() == argv[1];
        names += (names.empty() ? "" : ", ") + sub->get_name();
      }
      if (!known)
        throw InputError(
            "command", std::string("unknown command '") + argv[1] + "' (commands: " + names + ")");
    }
    app.parse(argc, argv);
    if (run->parsed()) run_command(run_opts);
    if (collapse->parsed()) collapse_command(collapse_opts, !no_plot);
    if (presets->parsed()) presets_command();
    if (merge->parsed()) merge_command(merge_inputs, merge_output, merge_force, merge_quiet);
    return 0;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    return error_exit(std::string("command line: ") + e.what() + " (see attnmc --help)", 2);
  } catch (const InputError& e) {
    return error_exit(e.what(), 2);
  } catch (const std::exception& e) {
    return error_exit(e.what(), 1);
  }
}
