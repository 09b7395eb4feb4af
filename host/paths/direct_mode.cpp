// run.mode = direct: the network's posterior sampled in weight space, many
// HMC chains in parallel (host/paths/direct_engine.hpp). Its own section
// [direct]: burn_in, steps, leapfrog, initial_step, target_accept; the
// number of chains is ensemble.members. Writes summary.json (posterior mean
// and second moment of f on every test sequence, test accuracy, the
// posterior mean of U_1, acceptance rates and adapted step sizes) and
// table.txt.
#include <cmath>
#include <nlohmann/json.hpp>

#include "attnmc/error.hpp"
#include "attnmc/version.hpp"
#include "host/config/toml_layer.hpp"
#include "host/paths/direct_engine.hpp"
#include "host/paths/paths_config.hpp"
#include "host/paths/paths_modes.hpp"

namespace attnmc::paths {
namespace {

PathsDirectOptions direct_options(const toml::table& root) {
  PathsDirectOptions o;
  const toml::node* sec = root.get("direct");
  if (sec == nullptr) return o;
  const toml::table* t = sec->as_table();
  if (t == nullptr) throw InputError("direct", "expected a table [direct]");
  for (const auto& [k, v] : *t) {
    const std::string key = "direct." + std::string(k.str());
    const std::string name(k.str());
    if (name == "burn_in")
      o.burn_in = get_int(v, key);
    else if (name == "steps")
      o.steps = get_int(v, key);
    else if (name == "leapfrog")
      o.leapfrog = get_int(v, key);
    else if (name == "initial_step")
      o.initial_step = get_double(v, key);
    else if (name == "target_accept")
      o.target_accept = get_double(v, key);
    else
      throw InputError(key,
                       "unknown key (valid in [direct]: burn_in, initial_step, leapfrog, steps, "
                       "target_accept)");
  }
  if (o.burn_in < 0) throw InputError("direct.burn_in", "must be >= 0");
  if (o.steps < 1) throw InputError("direct.steps", "must be >= 1");
  if (o.leapfrog < 1) throw InputError("direct.leapfrog", "must be >= 1");
  if (!(o.initial_step > 0) || !std::isfinite(o.initial_step))
    throw InputError("direct.initial_step", "must be positive and finite");
  if (!(o.target_accept > 0 && o.target_accept < 1))
    throw InputError("direct.target_accept", "must be in (0, 1)");
  return o;
}

std::uint64_t check_direct(const ModeInput& in) {
  (void)direct_options(in.root);
  if (in.task.test < 1) throw InputError("task.test", "the direct posterior needs test sequences");
  return in.spec.members;
}

cli::CommandResult run_direct(const ModeInput& in, StagedDirectory& dir,
                              const cli::RunContext& cx) {
  const PathsDirectOptions o = direct_options(in.root);
  const PathsDirectResult r = run_paths_direct(in.spec, in.task, o, cx.progress);
  nlohmann::json j = mode_summary("direct", in.spec);
  j["config"]["direct"] = {{"burn_in", o.burn_in},
                           {"steps", o.steps},
                           {"leapfrog", o.leapfrog},
                           {"initial_step", o.initial_step},
                           {"target_accept", o.target_accept}};
  j["sampler"] =
      "HMC in whitened weights (one chain per member), step size adapted during burn-in "
      "(Robbins-Monro on log step toward target_accept), jittered U(0.8, 1.2)";
  j["chains"] = r.chains;
  j["acceptance"] = {{"mean", r.acceptance}, {"min", r.acceptance_min}, {"max", r.acceptance_max}};
  j["step_size"] = {{"mean", r.step_mean}, {"min", r.step_min}, {"max", r.step_max}};
  j["nonfinite_proposals"] = r.nonfinite;
  j["train_mse"] = r.train_mse;
  j["test_accuracy"] = r.test_accuracy;
  j["f_mean"] = r.f_mean;
  j["f_mean_se"] = r.f_mean_se;
  j["f_second"] = r.f_second;
  j["f_second_se"] = r.f_second_se;
  j["u1_mean"] = r.u1_mean;
  j["u1_mean_se"] = r.u1_mean_se;
  j["device"] = r.device;
  j["threads"] = r.threads;
  j["seconds"] = r.seconds;
  cli::write_summary(dir, j, cx);
  cli::CommandResult out;
  out.table = cli::format(
      "paths direct: %llu HMC chains x %d kept steps (%d burn-in, %d leapfrog), widths %s%s\n",
      (unsigned long long)r.chains, o.steps, o.burn_in, o.leapfrog,
      nlohmann::json(in.spec.widths).dump().c_str(),
      cx.timing ? cli::format("  %.2f s", r.seconds).c_str() : "");
  out.table += cli::format("  acceptance %.3f (chains %.3f .. %.3f), step %.4g (%.4g .. %.4g)\n",
                           r.acceptance, r.acceptance_min, r.acceptance_max, r.step_mean,
                           r.step_min, r.step_max);
  out.table += cli::format("  test accuracy %.4f, train mse %.4g, non-finite proposals %llu\n",
                           r.test_accuracy, r.train_mse, (unsigned long long)r.nonfinite);
  const int Pp = in.spec.paths();
  out.table += "  U_1 posterior mean (+- se):\n";
  for (int p = 0; p < Pp; ++p) {
    out.table += "   ";
    for (int q = 0; q < Pp; ++q)
      out.table += cli::format(" %8.4f+-%.4f", r.u1_mean[std::size_t(p * Pp + q)],
                               r.u1_mean_se[std::size_t(p * Pp + q)]);
    out.table += "\n";
  }
  dir.write_text("table.txt", out.table);
  out.members = r.chains;
  out.scalars["test_accuracy"] = r.test_accuracy;
  out.scalars["acceptance"] = r.acceptance;
  if (r.acceptance == 0) out.failure = "no HMC proposal was accepted";
  return out;
}

}  // namespace

Mode direct_mode() {
  Mode m;
  m.name = "direct";
  m.help = "the weight-space posterior: HMC chains in parallel, one per member";
  m.sections = {"direct"};
  m.check = check_direct;
  m.run = run_direct;
  return m;
}

}  // namespace attnmc::paths
