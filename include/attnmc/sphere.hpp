// The deep stochastic Transformer on the sphere (models.md section 2): N
// unit tokens in R^d moved by softmax self-attention through random value
// matrices shared by all tokens of a trajectory, its limiting
// interacting-particle SDE with one common d x d Brownian motion, and the
// deterministic attention flow. A run simulates an ensemble of independent
// trajectories and classifies where each one ends (collapse, antipodal
// split, other) and how many clusters it has.
//
// Time: every scheme runs `steps` steps of size dt = horizon / steps. The
// network with L layers is steps = L, horizon = 1 (models.md: V_k a / sqrt(L));
// a longer horizon T makes the update V_k a sqrt(T / L), which is the same
// as sigma -> sigma sqrt(T) (the SDE's law depends on sigma^2 T only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attnmc/engine.hpp"
#include "attnmc/run_spec.hpp"
#include "attnmc/statistics.hpp"

namespace attnmc {

enum class SphereScheme {
  network,        // x <- normalise(x + sigma sqrt(dt) V a), V i.i.d. N(0, 1) (the finite network)
  sde_projected,  // Euler-Maruyama step of the Ito SDE, then normalise
  sde_geometric,  // exponential map of the tangent noise step: stays on the sphere
  flow,           // deterministic attention flow dx = P_x a dt (exponential-map Euler)
};

// How the noise V a_1..V a_N of one step is drawn. Both have the same law.
enum class SphereNoise {
  matrix,   // the d x d matrix V itself (d^2 normals): the network as defined
  reduced,  // V a_i = sum_k R_ki z_k with a = Q R (Gram-Schmidt), z_k ~ N(0, I_d):
            // exact in law (B V for orthonormal rows B is i.i.d.), min(N, d) d normals
};

enum class SphereInit {
  rho0,     // N = 2 fixed start with <x_1, x_2> = rho0 (same for every trajectory)
  uniform,  // every trajectory draws its own i.i.d. uniform tokens
  tokens,   // given N x d tokens (normalised), same for every trajectory
};

enum class SphereOutcome : std::int8_t { collapse = 0, antipodal = 1, other = 2, nonfinite = 3 };

struct SphereSpec {
  int tokens = 2;  // N
  int dim = 3;     // d
  SphereScheme scheme = SphereScheme::sde_geometric;
  SphereNoise noise = SphereNoise::reduced;  // exact in law and cheaper: the default everywhere
  double horizon = 1.0;                      // T
  std::int64_t steps = 0;                    // steps (network: layers L); 0 = ceil(horizon / dt)
  double dt = 0.01;                          // used only when steps == 0
  double beta = 1.0;                         // inverse temperature
  double sigma = 1.0;                        // value-matrix entry standard deviation / noise scale
  std::vector<double> qk;  // optional d x d M = Q^T K (logits beta <x_i, M x_j>); empty = I
  std::uint64_t trajectories = 1000;
  std::uint64_t seed = 1;
  SphereInit init = SphereInit::rho0;
  double rho0 = 0.0;
  std::vector<double> tokens0;             // SphereInit::tokens: N x d row-major
  double eps = 1e-3;                       // outcome threshold (see SphereResult)
  std::int64_t record_every = 0;           // 0: record only the start and the end
  std::vector<std::int64_t> record_steps;  // resolved: sorted, contains 0 and steps
  Device device = Device::automatic;
  int threads = 0;                                // CPU threads; 0 = all cores
  std::uint64_t chunk = 0;                        // trajectories per chunk; 0 = fit memory_cap
  std::size_t memory_cap = std::size_t(2) << 30;  // bytes of everything the run allocates
  int histogram_bins = 200;
  // The piece this run computes: trajectories [member_begin, member_end)
  // (member_end = 0: up to trajectories). Pieces merge into the whole.
  std::uint64_t member_begin = 0;
  std::uint64_t member_end = 0;
  std::uint64_t end_member() const { return member_end > 0 ? member_end : trajectories; }
};

// Validated copy with derived fields (steps, record_steps, normalised
// tokens0). Throws InputError naming the parameter.
SphereSpec resolve_sphere(const SphereSpec& spec);

// The N x d start shared by all trajectories (rho0 / tokens); empty for uniform.
std::vector<double> sphere_start(const SphereSpec& resolved);

// Reads N x d tokens from a text file (rows of numbers separated by blanks
// or commas; '#' starts a comment). Throws InputError(key, ...), key naming
// the configuration key of the file (input.tokens_file, model.qk_file).
std::vector<double> read_sphere_tokens(const std::string& path, int tokens, int dim,
                                       const std::string& key);

// A binomial proportion with its standard error and 95% Wilson interval.
struct Proportion {
  std::int64_t successes = 0;
  std::int64_t trials = 0;
  double p() const;
  double stderr_() const;  // sqrt(p (1 - p) / n)
  double wilson_lo() const;
  double wilson_hi() const;
};

struct SphereResult {
  SphereSpec spec;  // resolved
  std::string device;
  int threads = 0;
  std::uint64_t chunk = 0;
  // Outcomes at the end (threshold eps): collapse = one cluster; antipodal =
  // two clusters with every cross inner product < -1 + eps; other = rest.
  // Clusters: connected components of the graph <x_i, x_j> > 1 - eps.
  std::int64_t collapse = 0, antipodal = 0, other = 0, nonfinite = 0;
  std::vector<std::int64_t> clusters;  // clusters[k]: trajectories ending with k clusters (k <= N)
  double max_norm_error = 0.0;         // max over trajectories/tokens of | |x_i|^2 - 1 | at the end
  EnsembleStatistics stats;            // inner products <x_i, x_j> at record_steps (layers = steps)
  double seconds = 0.0;

  Proportion p_collapse() const { return {collapse, finite()}; }
  Proportion p_antipodal() const { return {antipodal, finite()}; }
  Proportion p_other() const { return {other, finite()}; }
  std::int64_t finite() const { return collapse + antipodal + other; }
};

// Per-trajectory output of members [first, first + count) of a resolved spec.
struct SphereTrajectories {
  std::vector<float> grams;            // count x records x N x N
  std::vector<std::int8_t> outcome;    // SphereOutcome
  std::vector<std::int16_t> clusters;  // 0 when non-finite
  std::vector<double> norm_error;      // max_i | |x_i|^2 - 1 |
  std::vector<double> final_tokens;    // count x N x d
};
SphereTrajectories simulate_sphere(const SphereSpec& resolved, std::uint64_t first,
                                   std::uint64_t count);

// Runs an ensemble (resolved here).
SphereResult run_sphere(const SphereSpec& spec, const Progress& progress = {});

const char* scheme_name(SphereScheme s);
SphereScheme parse_scheme(const std::string& name);  // InputError("scheme")
const char* outcome_name(SphereOutcome o);

}  // namespace attnmc
