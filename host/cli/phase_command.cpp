// `attnmc phase`: see phase_command.hpp.
#include "host/cli/phase_command.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "attnmc/error.hpp"
#include "host/cli/sphere_command.hpp"
#include "host/cli/sweep_command.hpp"
#include "host/mpi/agree.hpp"
#include "host/mpi/world.hpp"
#include "host/sweep/run_sweep.hpp"
#include "host/sweep/store.hpp"

namespace attnmc::cli {
namespace {

namespace fs = std::filesystem;

// The phase diagram's defaults on top of the sphere's: a long horizon so
// that trajectories settle, 1000 trajectories per cell (standard error of a
// probability up to 0.016), and dt = 0.01. Measured at N = 2, d = 4,
// beta = 1.5, T = 30 with 20000 trajectories (standard error 0.0027),
// P(antipodal) against dt:
//   reduced noise: 0.1784 (0.02), 0.1793 (0.01), 0.1801 (0.005), 0.1819 (0.0025)
//   matrix noise:  0.1717 (0.02), 0.1826 (0.005)
// so the step bias at dt = 0.01 is about 0.002 (reduced) to 0.006 (matrix),
// below the 0.012 to 0.016 Monte Carlo error of the default ensemble; at the
// old 0.02 it reached 0.011 with matrix noise. `--check-step` measures it for
// any grid.
const char* const kPhaseDefaults[] = {"sphere.horizon=30.0", "sphere.dt=0.01"};

// "2,3,5" or "start:stop[:step]" (inclusive stop, to rounding).
std::vector<double> parse_grid(const std::string& text, const char* parameter) {
  std::vector<double> v;
  try {
    if (text.find(':') != std::string::npos) {
      std::vector<double> part;
      std::stringstream ss(text);
      std::string item;
      while (std::getline(ss, item, ':')) part.push_back(std::stod(item));
      if (part.size() < 2 || part.size() > 3) throw std::invalid_argument(text);
      const double step = part.size() == 3 ? part[2] : 1.0;
      if (!(step > 0)) throw InputError(parameter, "range step must be positive");
      const int n = int(std::floor((part[1] - part[0]) / step + 1e-9));
      for (int i = 0; i <= n; ++i) v.push_back(part[0] + i * step);
    } else {
      std::stringstream ss(text);
      std::string item;
      while (std::getline(ss, item, ',')) v.push_back(std::stod(item));
    }
  } catch (const InputError&) {
    throw;
  } catch (const std::exception&) {
    throw InputError(parameter,
                     "expected a list a,b,c or a range start:stop:step, got '" + text + "'");
  }
  if (v.empty()) throw InputError(parameter, "empty grid");
  return v;
}

// Values as TOML text: integers, or doubles with every digit.
std::vector<std::string> toml_values(const std::vector<double>& v, bool integers,
                                     const char* parameter) {
  std::vector<std::string> out;
  for (double x : v) {
    if (integers && x != std::floor(x)) throw InputError(parameter, "must be integers");
    if (integers) {
      out.push_back(std::to_string(static_cast<long long>(x)));
    } else {
      std::ostringstream s;
      s << std::setprecision(17) << x;
      std::string t = s.str();
      if (t.find_first_of(".eEn") == std::string::npos) t += ".0";
      out.push_back(t);
    }
  }
  return out;
}

// phase.csv from the cells' summary.json: one row per cell, the columns of
// the phase table (host/sphere_sweep.hpp, write_sweep_csv, without seconds).
std::string phase_csv(const fs::path& store, const std::vector<nlohmann::json>& cells) {
  std::ostringstream os;
  os << "tokens,dim,beta,sigma,horizon,steps,scheme,seed,trajectories,nonfinite,"
        "collapse,antipodal,other,p_collapse,se_collapse,lo_collapse,hi_collapse,"
        "p_antipodal,se_antipodal,lo_antipodal,hi_antipodal,p_other,se_other,"
        "mean_clusters,ip12_q10,ip12_q50,ip12_q90,"
        "flow_trajectories,flow_collapse,flow_antipodal,flow_other,flow_mean_clusters,seconds,"
        "status\n";
  os << std::setprecision(10);
  for (const nlohmann::json& c : cells) {
    const fs::path summary =
        store / "cells" / format("%04zu", c["cell"].get<std::size_t>()) / "summary.json";
    std::ifstream f(summary);
    if (!f) {
      os << ",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,," << c["status"].get<std::string>() << "\n";
      continue;
    }
    const nlohmann::json j = nlohmann::json::parse(f);
    const nlohmann::json& s = j["spec"];
    auto d = [](const nlohmann::json& v) { return v.is_null() ? std::nan("") : v.get<double>(); };
    auto i64 = [](const nlohmann::json& v) { return v.get<long long>(); };
    os << i64(s["tokens"]) << ',' << i64(s["dim"]) << ',' << d(s["beta"]) << ',' << d(s["sigma"])
       << ',' << d(s["horizon"]) << ',' << i64(s["steps"]) << ',' << s["scheme"].get<std::string>()
       << ',' << s["seed"].get<unsigned long long>() << ',' << i64(s["trajectories"]) << ','
       << i64(j["nonfinite"]) << ',' << i64(j["collapse"]["count"]) << ','
       << i64(j["antipodal"]["count"]) << ',' << i64(j["other"]["count"]);
    for (const char* k : {"collapse", "antipodal"})
      os << ',' << d(j[k]["p"]) << ',' << d(j[k]["stderr"]) << ',' << d(j[k]["wilson95"][0]) << ','
         << d(j[k]["wilson95"][1]);
    os << ',' << d(j["other"]["p"]) << ',' << d(j["other"]["stderr"]) << ','
       << d(j["mean_clusters"]);
    const nlohmann::json& pairs = j["records"].back()["pairs"];
    for (const char* q : {"q10", "q50", "q90"})
      os << ',' << (pairs.empty() ? std::nan("") : d(pairs[0][q]));
    os << ',';
    if (j.contains("flow")) {
      const nlohmann::json& fl = j["flow"];
      os << i64(fl["trajectories"]) << ',' << i64(fl["collapse"]) << ',' << i64(fl["antipodal"])
         << ',' << i64(fl["other"]) << ',' << d(fl["mean_clusters"]);
    } else {
      os << "0,,,,";
    }
    os << ",," << c["status"].get<std::string>() << '\n';
  }
  return os.str();
}

}  // namespace

PhaseCommand::PhaseCommand(CLI::App& app) {
  sub_ = app.add_subcommand(
      "phase",
      "Phase diagram: P(collapse), P(antipodal) over an (N, d, beta) grid, with the flow "
      "(a sweep of sphere cells into a store)");
  o_.add_to(sub_, "out/phase", /*with_range=*/false);
  sub_->get_option("config")->description("base sphere configuration (TOML; default built-in)");
  sub_->get_option("--output")->description("the results store (a directory; resumable)");
  sub_->get_option("--force")->description("replace a store that holds a different phase sweep");
  sub_->add_option("--tokens,-N", tokens_, "token counts (list a,b or range start:stop:step)")
      ->capture_default_str();
  sub_->add_option("--dims,-d", dims_, "dimensions (list or range)")->capture_default_str();
  sub_->add_option("--betas", betas_, "inverse temperatures (list or range)")
      ->capture_default_str();
  sub_->add_flag("--no-flow", no_flow_, "skip the deterministic flow beside each cell");
  sub_->add_flag("--check-step", check_step_,
                 "also run every cell at dt / 2: the estimated step bias per cell (summary.json "
                 "step_check, cells.csv step_bias_detected)");
  for (const FlagAlias& a : sphere_aliases()) {
    if (a.key == "model.beta" || a.key == "sphere.flow") continue;  // the grid / --no-flow
    alias_values_.emplace_back();
    alias_flags_.push_back(false);
    if (a.kind == FlagAlias::Kind::flag)
      sub_->add_flag(a.names, alias_flags_.back(), a.help + " (= " + a.key + ")");
    else
      sub_->add_option(a.names, alias_values_.back(), a.help + " (= " + a.key + ")");
  }
}

void PhaseCommand::execute(const mpi::World& world) const {
  PhaseRequest req;
  req.common = o_;
  req.tokens = tokens_;
  req.dims = dims_;
  req.betas = betas_;
  req.no_flow = no_flow_;
  req.check_step = check_step_;
  std::size_t i = 0;
  for (const FlagAlias& a : sphere_aliases()) {
    if (a.key == "model.beta" || a.key == "sphere.flow") continue;
    if (a.kind == FlagAlias::Kind::flag ? alias_flags_[i] : !alias_values_[i].empty())
      req.shorthands.push_back(a.key + "=" +
                               (a.kind == FlagAlias::Kind::flag ? "true" : alias_values_[i]));
    ++i;
  }
  const sweep::SweepOutcome r = run_phase(req, &world);
  if (!world.root()) return;
  if (!o_.quiet) print_outcome("phase", r, o_.output + "/phase.csv");
}

namespace {

// The sweep plan of a phase request, every input error thrown before any work.
void prepare_phase(const PhaseRequest& req, sweep::Plan& plan, sweep::SweepOptions& opt) {
  const CommonOptions& o = req.common;
  if (o.output.size() > 4 && o.output.compare(o.output.size() - 4, 4, ".csv") == 0 &&
      !fs::is_directory(o.output))
    throw InputError("output", "'" + o.output +
                                   "' looks like a file: phase writes a store directory (with "
                                   "phase.csv inside); give a directory name");
  plan.command = "sphere";
  plan.mode = "grid";
  plan.seed_rule = sweep::SeedRule::index;
  if (req.check_step) plan.flags["check-step"] = true;
  plan.axes = {{"model.tokens", toml_values(parse_grid(req.tokens, "tokens"), true, "tokens")},
               {"model.dim", toml_values(parse_grid(req.dims, "dims"), true, "dims")},
               {"model.beta", toml_values(parse_grid(req.betas, "betas"), false, "betas")}};
  if (!o.config.empty()) plan.base.path = fs::absolute(o.config).lexically_normal().string();
  for (const char* d : kPhaseDefaults) plan.base.overrides.push_back(d);
  if (!req.no_flow) plan.base.overrides.push_back("sphere.flow=true");
  opt = apply_command_line(o, plan, req.shorthands);
  opt.progress_hook = req.progress_hook;
  // The flow runs beside a noisy scheme; a flow-only grid is `sphere --scheme flow`.
  {
    sweep::Plan probe = plan;
    sweep::expand(probe, sphere_default_config());
    const ConfigTable t = load_config_table(probe.cells.front().source);
    if (const toml::node* n = t.root.at_path("sphere.scheme").node())
      if (n->value_or(std::string()) == "flow")
        throw InputError("sphere.scheme",
                         "the phase diagram runs a noisy scheme (the flow runs "
                         "beside it)");
  }
}

}  // namespace

sweep::SweepOutcome run_phase(const PhaseRequest& req, const mpi::World* world) {
  sweep::Plan plan;
  sweep::SweepOptions opt;
  if (world) {
    mpi::agree(*world, [&] { prepare_phase(req, plan, opt); });
    opt.world = world;
  } else {
    prepare_phase(req, plan, opt);
  }
  const sweep::SweepOutcome r = sweep::run_sweep(plan, req.common.output, opt);
  if (world && !world->root()) return r;
  const fs::path store = fs::absolute(req.common.output);
  sweep::write_file_atomic((store / "phase.csv").string(), phase_csv(store, r.cell_records));
  return r;
}

}  // namespace attnmc::cli
