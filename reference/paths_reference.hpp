// The double-precision reference of the attention-paths network
// (include/attnmc/paths.hpp): plain loops, no Thrust, no BLAS, no Eigen.
// It runs the network's own forward pass (attention from the raw input,
// linear Gaussian values, the readout), so it checks the engine's path
// decomposition and the closed-form overlaps from the definition.
#pragma once

#include <cstdint>
#include <vector>

#include "attnmc/paths.hpp"

namespace attnmc::reference {

// One network's weights, row-major: v0 N_1 x N_in, v[l][h] N_{l+2} x N_{l+1}
// (layer l + 1 of the spec's heads), a N_a.
struct PathsWeights {
  std::vector<double> v0;
  std::vector<std::vector<std::vector<double>>> v;
  std::vector<double> a;
};

// Member `member`'s weights from the keyed normals (rng::gaussian4d, purpose
// paths; layer key 0 for V^0, l for V^{l,h} with slot h, L + 1 for a; element
// row * cols + col), scaled by the prior standard deviations.
PathsWeights draw_paths_weights(const PathsSpec& spec, int n_in, std::uint64_t seed,
                                std::uint64_t member);

// Omega^{l,h} of sequence mu by loops, (T+1) x (T+1), [key s, query t].
std::vector<double> reference_attention(const PathsTask& task, int layer, int head, int mu);

// z^L at the readout (an N_a-vector) and f(x_mu) = a . z / sqrt(N_a).
std::vector<double> paths_readout_state(const PathsSpec& spec, const PathsTask& task,
                                        const PathsWeights& w, int mu);
double paths_forward(const PathsSpec& spec, const PathsTask& task, const PathsWeights& w, int mu);

// f_p(x_mu) of every path p: the forward pass with the other heads' values
// set to zero at every layer (sum_p f_p = f). paths values.
std::vector<double> paths_forward_per_path(const PathsSpec& spec, const PathsTask& task,
                                           const PathsWeights& w, int mu);

// G[mu,nu,p,q] over the first `sequences` sequences by forward passes: every
// width N_in, identity values on the heads of path p and zero elsewhere.
std::vector<double> brute_force_overlaps(const PathsSpec& spec, const PathsTask& task,
                                         int sequences);

}  // namespace attnmc::reference
