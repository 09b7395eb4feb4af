// A grid of sphere-model runs over (N, d, beta): the phase diagram of
// outcomes. Every cell is an independent ensemble (its seed is derived from
// the base seed and the cell's grid position, so adding cells never changes
// the others); the deterministic flow from the same start runs beside each.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "attnmc/sphere.hpp"

namespace attnmc {

struct SphereSweepSpec {
  SphereSpec base;  // everything but tokens, dim, beta
  std::vector<int> tokens = {2};
  std::vector<int> dims;
  std::vector<double> betas;
  bool flow = true;  // also run the deterministic flow per cell
};

struct SphereSweepCell {
  int tokens = 0, dim = 0;
  double beta = 0.0;
  std::uint64_t seed = 0;
  SphereResult result;
  // Deterministic flow from the same start (uniform starts: over the same
  // number of random starts): its collapse / antipodal / other counts.
  bool has_flow = false;
  std::int64_t flow_collapse = 0, flow_antipodal = 0, flow_other = 0, flow_nonfinite = 0;
  double flow_mean_clusters = 0.0;
};

struct SphereSweepResult {
  SphereSweepSpec spec;
  std::vector<SphereSweepCell> cells;  // order: tokens, then dims, then betas
  double seconds = 0.0;
};

// Seed of grid cell (i_tokens, i_dim, i_beta): a fixed mix of the base seed and the position.
std::uint64_t sweep_cell_seed(std::uint64_t base, int i_tokens, int i_dim, int i_beta);

// Called after each cell with (cells done, cells total).
using SweepProgress = std::function<void(std::size_t, std::size_t)>;

SphereSweepResult run_sphere_sweep(const SphereSweepSpec& spec, const SweepProgress& progress = {});

// The table: one row per cell with counts, proportions, standard errors and
// 95% Wilson intervals, cluster means, terminal <x_1, x_2> quantiles, flow outcome,
// and (timing = true) seconds per cell, the only column that varies run to run.
void write_sweep_csv(std::ostream& out, const SphereSweepResult& r, bool timing = true);

// The deterministic flow from the start of `cell` (a uniform start: over as
// many random starts as the cell has trajectories; otherwise one run).
struct SphereFlowOutcome {
  std::int64_t collapse = 0, antipodal = 0, other = 0, nonfinite = 0;
  double mean_clusters = 0.0;
  std::int64_t trajectories() const { return collapse + antipodal + other + nonfinite; }
};
SphereFlowOutcome run_flow_beside(const SphereSpec& cell);

// Mean number of clusters over finite trajectories.
double mean_clusters(const SphereResult& r);

}  // namespace attnmc
