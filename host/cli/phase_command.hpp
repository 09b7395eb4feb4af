// `attnmc phase`: the phase diagram of the sphere model, P(collapse) and
// P(antipodal) over an (N, d, beta) grid with the deterministic flow beside
// each cell: a sweep of `sphere` cells (index seeds, the rule the phase
// diagram always had) into a store, plus phase.csv for the figure script
// (scripts/plot_phase.py STORE).
#pragma once

#include <CLI/CLI.hpp>
#include <deque>
#include <string>

#include "host/cli/common_options.hpp"
#include "host/sweep/run_sweep.hpp"

namespace attnmc::mpi {
class World;
}

namespace attnmc::cli {

class PhaseCommand {
 public:
  explicit PhaseCommand(CLI::App& app);
  bool parsed() const { return sub_->parsed(); }
  // Under a launcher, every rank of `world` runs it (a sweep of sphere cells).
  void execute(const mpi::World& world) const;

 private:
  // The sweep plan and options from the command line (input errors here).
  void prepare(sweep::Plan& plan, sweep::SweepOptions& opt) const;
  CLI::App* sub_;
  CommonOptions o_;
  std::string tokens_ = "2", dims_ = "2:10", betas_ = "0:3:0.25";
  bool no_flow_ = false, check_step_ = false;
  std::deque<std::string> alias_values_;
  std::deque<bool> alias_flags_;
};

}  // namespace attnmc::cli
