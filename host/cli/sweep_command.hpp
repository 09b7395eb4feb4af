// `attnmc sweep sweep.toml -o STORE`: one command over a grid of
// configurations into a resumable results store (host/sweep/).
#pragma once

#include <CLI/CLI.hpp>

#include "host/cli/common_options.hpp"
#include "host/sweep/run_sweep.hpp"

namespace attnmc::mpi {
class World;
}

namespace attnmc::cli {

// What a sweep-like command line (sweep, phase) adds to a plan: --set, then
// `shorthands` (the command's own flags as key=value), then --seed, -B and
// --device go into every cell (they are part of the sweep); --threads only
// says how it runs. Returns the options of run_sweep.
sweep::SweepOptions apply_command_line(const CommonOptions& o, sweep::Plan& plan,
                                       const std::vector<std::string>& shorthands = {});

// The closing line: "NAME: 12 cells (5 computed, 7 already in the store, 0 failed), ...".
void print_outcome(const char* name, const sweep::SweepOutcome& r, const std::string& table);

class SweepCommand {
 public:
  explicit SweepCommand(CLI::App& app);
  bool parsed() const { return sub_->parsed(); }
  // Under a launcher, every rank of `world` runs it (host/mpi/split_sweep.hpp).
  void execute(const mpi::World& world) const;

 private:
  CLI::App* sub_;
  CommonOptions o_;
};

}  // namespace attnmc::cli
