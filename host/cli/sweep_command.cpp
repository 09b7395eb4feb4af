// `attnmc sweep`: see sweep_command.hpp and host/sweep/sweep_plan.hpp.
#include "host/cli/sweep_command.hpp"

#include <cstdio>

#include "host/mpi/agree.hpp"
#include "host/mpi/world.hpp"

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

sweep::SweepOptions apply_command_line(const CommonOptions& o, sweep::Plan& plan,
                                       const std::vector<std::string>& shorthands) {
  for (const std::string& s : o.set) plan.base.overrides.push_back(s);
  for (const std::string& s : shorthands) plan.base.overrides.push_back(s);
  CommonOptions what = o;
  what.threads.clear();
  for (const std::string& s : what.named_overrides()) plan.base.overrides.push_back(s);
  sweep::SweepOptions opt;
  opt.force = o.force;
  opt.quiet = o.quiet;
  opt.progress = o.show_progress();
  if (!o.threads.empty()) opt.execution_overrides = {"run.threads=" + o.threads};
  return opt;
}

void print_outcome(const char* name, const sweep::SweepOutcome& r, const std::string& table) {
  std::printf(
      "%s: %zu cells (%zu computed, %zu already in the store, %zu failed), %.1f s; "
      "table in %s\n",
      name, r.cells, r.computed, r.reused, r.failed, r.seconds, table.c_str());
}

void SweepCommand::execute(const mpi::World& world) const {
  sweep::Plan plan;
  sweep::SweepOptions opt;
  mpi::agree(world, [&] {
    plan = sweep::read_plan(o_.config);
    opt = apply_command_line(o_, plan);
  });
  opt.world = &world;
  const sweep::SweepOutcome r = sweep::run_sweep(plan, o_.output, opt);
  if (world.root() && !o_.quiet) print_outcome("sweep", r, o_.output + "/cells.csv");
}

}  // namespace attnmc::cli
