// `attnmc sweep`: see sweep_command.hpp and host/sweep/sweep_plan.hpp.
#include "host/cli/sweep_command.hpp"

#include <cstdio>

#include "host/sweep/run_sweep.hpp"

namespace attnmc::cli {

SweepCommand::SweepCommand(CLI::App& app) {
  sub_ = app.add_subcommand(
      "sweep",
      "Run a command over a grid of configurations into a resumable store (sweep file: TOML)");
  o_.add_to(sub_, "out/sweep", /*with_range=*/false);
  sub_->get_option("config")->description("the sweep file (TOML, see docs/sweeps.md)")->required();
  sub_->get_option("--output")->description("the results store (a directory; resumable)");
  sub_->get_option("--force")->description("replace a store that holds a different sweep");
  sub_->get_option("--set")->description("override a configuration key in every cell");
}

void SweepCommand::execute() const {
  sweep::Plan plan = sweep::read_plan(o_.config);
  // --set, --seed, -B, --device are part of the sweep (every cell); --threads
  // is only how it runs (the bits do not depend on it).
  for (const std::string& s : o_.set) plan.base.overrides.push_back(s);
  CommonOptions what = o_;
  what.threads.clear();
  for (const std::string& s : what.named_overrides()) plan.base.overrides.push_back(s);
  sweep::SweepOptions opt;
  opt.force = o_.force;
  opt.quiet = o_.quiet;
  opt.progress = o_.show_progress();
  if (!o_.threads.empty()) opt.execution_overrides = {"run.threads=" + o_.threads};
  const sweep::SweepOutcome r = sweep::run_sweep(plan, o_.output, opt);
  if (!o_.quiet)
    std::printf(
        "sweep: %zu cells (%zu computed, %zu already in the store, %zu failed), %.1f s; "
        "table in %s/cells.csv\n",
        r.cells, r.computed, r.reused, r.failed, r.seconds, o_.output.c_str());
}

}  // namespace attnmc::cli
