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
  sub_->get_option("config")->description("the sweep file (TOML, see README)")->required();
}

void SweepCommand::execute() const {
  sweep::Plan plan = sweep::read_plan(o_.config);
  // --set, --seed, -B change every cell (part of the sweep); --threads and
  // --device only how it runs.
  for (const std::string& s : o_.set) plan.base.overrides.push_back(s);
  CommonOptions what = o_;
  what.device.clear();
  what.threads.clear();
  for (const std::string& s : what.named_overrides()) plan.base.overrides.push_back(s);
  sweep::SweepOptions opt;
  opt.force = o_.force;
  opt.quiet = o_.quiet;
  opt.progress = o_.show_progress();
  opt.execution_overrides = o_.execution_overrides();
  const sweep::SweepOutcome r = sweep::run_sweep(plan, o_.output, opt);
  if (!o_.quiet)
    std::printf(
        "sweep: %zu cells (%zu computed, %zu already in the store, %zu failed), %.1f s; "
        "table in %s/cells.csv\n",
        r.cells, r.computed, r.reused, r.failed, r.seconds, o_.output.c_str());
}

}  // namespace attnmc::cli
