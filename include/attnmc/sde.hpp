// The covariance SDE of shaped Transformers (models.md section 1, "Its
// limiting SDE"): ensembles of trajectories of the m x m token covariance V
// (or, for MLP-only dynamics with two tokens, of the correlation rho alone),
// with the same statistics as finite-network ensembles.
//
// Time: t = l / n lines an SDE record up with layer l of a network of width
// n (models.md: a network of depth d ends at T = d / n). By default the
// horizon is T = model.depth / model.width and the step is dt = 1 / width
// (one step per layer); both can be set.
//
// Numerical hygiene (models.md "Known hazards"):
//  - After every step V is factored (Cholesky). When that fails V has left
//    the positive semidefinite cone: it is projected back by a symmetric
//    eigen-decomposition with negative eigenvalues set to zero (counted).
//  - |V_ab| <= sqrt(V_aa V_bb) is enforced after the projection (rounding can
//    still leave |rho| a hair above 1): counted as rho clips.
//  - Blow-up: a trajectory whose V has a non-finite entry or an entry with
//    |V_ab| > blowup_threshold * max_a V0_aa has blown up at that step. It
//    stops; that record and all later ones are reported as blow-ups: counted
//    per record (LayerStatistics::blowup), excluded from moments and
//    histograms, and +inf in quantiles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attnmc/engine.hpp"
#include "attnmc/model_spec.hpp"
#include "attnmc/run_spec.hpp"
#include "attnmc/statistics.hpp"

namespace attnmc {

// Which blocks drive V. Coefficients (tau0, lambda, gamma, H, c_plus,
// c_minus, m) come from SdeSpec::model.
enum class SdeDynamics {
  automatic,  // attention, or both when model.mlp is set
  attention,  // shaped attention block only
  // Shaped MLP block only. It has two weight matrices (W_pre, W_post), each
  // adding gamma^4 to kappa besides the 2 lambda^2 gamma^2 cross term, so
  // drift gamma^2 b_mlp and kappa = 2 gamma^2 (consistent with models.md's
  // "kappa + 2 gamma^2" for the full block, checked by tests/test_sde_one_step;
  // models.md's MLP-only noise sqrt(1/2) is that of a one-matrix MLP).
  mlp,
  both,               // attention then MLP: drift b + gamma^2 b_mlp, kappa + 2 gamma^2
  neural_covariance,  // Li-Nica-Roy's one-matrix MLP as models.md writes it: drift b_mlp, kappa 1
};

enum class SdeScheme {
  euler,       // Euler-Maruyama on V, matrix-noise form (weak order 1)
  rho_euler,   // Euler-Maruyama on the scalar rho-SDE (MLP-only dynamics, m = 2)
  rho_weak2,   // Platen's derivative-free weak order-2 scheme on the rho-SDE (m = 2)
  weak_euler,  // Euler on V with two-point increments +-sqrt(dt) (weak order 1, cheap noise)
};
// No higher weak-order scheme for the matrix SDE: its noise is
// non-commutative with 2 m^2 Brownian components, so a derivative-free weak
// order-2 scheme (Platen; Roessler) needs O(m^2) extra drift/diffusion
// evaluations per step, each O(m^3): O(m^5) against Euler's O(m^3). With the
// PSD projection and blow-up cut-offs (non-smooth), the extra order would
// not survive anyway. The rho-SDE (scalar noise) gets rho_weak2.

struct SdeSpec {
  ModelSpec model;  // coefficients; width n and depth d set the default horizon and step
  SdeDynamics dynamics = SdeDynamics::automatic;
  InputSpec input;         // V0 = X0 X0^T / n of the network's input
  double horizon = 0.0;    // T; 0 = depth / width
  std::int64_t steps = 0;  // 0: ceil(T / dt)
  double dt = 0.0;         // 0: 1 / width (used only when steps == 0)
  SdeScheme scheme = SdeScheme::euler;
  std::uint64_t trajectories = 10000;
  std::uint64_t seed = 1;
  std::int64_t record_every = 0;     // steps between records; 0 = about 32 records
  std::vector<double> record_times;  // explicit times in [0, T] (nearest step), override
  double blowup_threshold = 1e6;     // relative to max_a V0_aa (see above)
  Device device = Device::automatic;
  int threads = 0;                                // CPU threads; 0 = all cores
  std::uint64_t chunk = 0;                        // trajectories per chunk; 0 = fit memory_cap
  std::size_t memory_cap = std::size_t(2) << 30;  // bytes of everything the run allocates
  int histogram_bins = 200;
  std::vector<double> quantiles = {0.1, 0.5, 0.9};
  double quantile_accuracy = 1e-3;  // relative accuracy of the V quantile sketches
  int rho_quantile_bins = 1 << 15;  // grid cells over [-1, 1] of the rho sketches
  bool exact_quantiles = false;     // keep every path's V (memory ~ trajectories)
  // The piece this run computes: trajectories [member_begin, member_end)
  // (member_end = 0: up to trajectories). Pieces merge into the whole.
  std::uint64_t member_begin = 0;
  std::uint64_t member_end = 0;
  std::uint64_t end_member() const { return member_end > 0 ? member_end : trajectories; }
  StatisticsOptions statistics_options() const;  // overflow threshold +inf (blow-ups apart)

  // Filled by resolve_sde.
  std::vector<std::int64_t> record_steps;  // sorted, contains 0 and steps
};

// Validated copy: model resolved, dynamics/horizon/steps/dt/record_steps
// filled. Throws InputError naming the parameter.
SdeSpec resolve_sde(const SdeSpec& spec);

// V0 of a resolved spec (m x m, row-major).
std::vector<double> sde_initial_gram(const SdeSpec& resolved);

struct SdeResult {
  SdeSpec spec;  // resolved
  std::string device;
  int threads = 0;
  std::uint64_t chunk = 0;
  EnsembleStatistics stats;                 // "layers" are step indices (record_steps)
  std::vector<double> record_times;         // t of each record
  std::int64_t blowups = 0;                 // trajectories that blew up before T
  std::int64_t projections = 0;             // PSD projections (all trajectories, all steps)
  std::int64_t projected_trajectories = 0;  // trajectories with at least one projection
  std::int64_t rho_clips = 0;               // rho clipping events
  double seconds = 0.0;
};

// Per-trajectory output of trajectories [first, first + count).
struct SdeTrajectories {
  std::vector<float> grams;               // count x records x m x m (+inf after a blow-up)
  std::vector<std::int64_t> blowup_step;  // -1: none
  std::vector<std::int32_t> projections;
  std::vector<std::int32_t> rho_clips;
};
SdeTrajectories simulate_sde(const SdeSpec& resolved, std::uint64_t first, std::uint64_t count);

// Runs an ensemble (resolved here).
SdeResult run_sde(const SdeSpec& spec, const Progress& progress = {});

const char* sde_scheme_name(SdeScheme s);
SdeScheme parse_sde_scheme(const std::string& name);  // InputError("sde.scheme")
const char* sde_dynamics_name(SdeDynamics d);
SdeDynamics parse_sde_dynamics(const std::string& name);  // InputError("sde.dynamics")

}  // namespace attnmc
