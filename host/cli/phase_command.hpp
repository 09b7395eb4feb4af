// `attnmc phase`: the phase diagram of the sphere model, P(collapse) and
// P(antipodal) over an (N, d, beta) grid with the deterministic flow beside
// each cell: a sweep of `sphere` cells (index seeds, the rule the phase
// diagram always had) into a store, plus phase.csv for the figure script
// (scripts/plot_phase.py STORE).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "host/cli/common_options.hpp"
#include "host/sweep/run_sweep.hpp"

namespace attnmc::mpi {
class World;
}

namespace attnmc::cli {

// What `attnmc phase` runs: the (N, d, beta) grid (lists a,b or ranges
// start:stop:step), the flow beside each cell, the step check, the sphere
// shorthands as key=value, and the common options (the store is
// common.output). run_phase runs it and writes phase.csv into the store;
// progress_hook is the sweep's (SweepOptions::progress_hook). Under a launcher
// (world: host/mpi/) every rank calls it: the input is checked on every rank
// and reported once, cells go over the ranks, and rank 0 writes phase.csv.
struct PhaseRequest {
  CommonOptions common;
  std::string tokens = "2", dims = "2:10", betas = "0:3:0.25";
  bool no_flow = false, check_step = false;
  std::vector<std::string> shorthands;
  std::function<void(std::uint64_t, std::uint64_t)> progress_hook;
};
sweep::SweepOutcome run_phase(const PhaseRequest& request, const mpi::World* world = nullptr);

class PhaseCommand {
 public:
  explicit PhaseCommand(CLI::App& app);
  bool parsed() const { return sub_->parsed(); }
  void execute(const mpi::World& world) const;

 private:
  CLI::App* sub_;
  CommonOptions o_;
  std::string tokens_ = "2", dims_ = "2:10", betas_ = "0:3:0.25";
  bool no_flow_ = false, check_step_ = false;
  std::deque<std::string> alias_values_;
  std::deque<bool> alias_flags_;
};

}  // namespace attnmc::cli
