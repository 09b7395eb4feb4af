// The prior Monte Carlo of the attention-paths family on the driver
// (host/driver.hpp): many random networks in parallel
// (kernels/paths/paths_prior_sampler.cu), folded into streaming statistics
// whose size does not grow with the number of networks:
//  - the prior predictor covariance K_MC[mu, nu] = E f(x_mu) f(x_nu) over
//    every train + test sequence, with per-entry standard errors;
//  - every path-pair kernel E f_p(x_mu) f_q(x_nu) on the first
//    `path_sequences` sequences;
//  - kernel alignments with exact Monte Carlo error bars: per network the
//    scalar f^T K_GP f / |K_GP|^2 (mean 1 when K_MC = K_GP), per path
//    f_p^T K_p f_p / |K_p|^2 (mean 1; K_p = s_0..s_a G[., ., p, p]) and per
//    pair p < q f_p^T (K_p + K_q) f_q / (|K_p|^2 + |K_q|^2) (mean 0).
// Sums are double, added in member order by the one sink thread (entries
// split over threads, each entry in member order), so the result is the
// same bits for any chunk size and thread count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnmc/engine.hpp"
#include "attnmc/paths.hpp"

namespace attnmc {

// Mean and standard error of one scalar over the networks.
struct ScalarEstimate {
  double mean = 0, se = 0;
  double z(double expected) const { return se > 0 ? (mean - expected) / se : 0.0; }
};

struct PathsPriorResult {
  std::uint64_t networks = 0;   // simulated
  std::uint64_t nonfinite = 0;  // networks with a non-finite output (excluded)
  int sequences = 0;            // M
  int path_sequences = 0;       // n (path-pair kernels)
  int paths = 0;
  std::vector<double> k_gp, k_mc, k_mc_se;      // M x M
  std::vector<double> f_mean, f_mean_se;        // M (prior mean of f: 0)
  std::vector<double> pp_gp, pp_mc, pp_mc_se;   // n x n x paths x paths
  ScalarEstimate alignment;                     // mean 1
  std::vector<ScalarEstimate> path_alignment;   // paths, mean 1
  std::vector<ScalarEstimate> cross_alignment;  // pairs p < q (row-major), mean 0
  // |K_MC - K_GP|_F / |K_GP|_F, and what noise alone gives: sqrt(sum se^2) / |K_GP|_F.
  double distance = 0, noise_floor = 0;
  double mean_z2 = 0, max_abs_z = 0;  // over the entries mu <= nu
  std::string device;
  int threads = 0;
  std::uint64_t chunk = 0;
  double seconds = 0;
};

// Test hooks: a planted bug in the engine (the 1/sqrt(H_l) dropped).
struct PathsPriorOptions {
  bool drop_head_norm = false;
};

PathsPriorResult run_paths_prior(const PathsSpec& spec, const PathsTask& task,
                                 const Progress& progress = {},
                                 const PathsPriorOptions& options = {});

// f_p(x_mu) of networks [first, first + count) from the engine:
// count x M x paths (float, as computed).
std::vector<float> simulate_paths_prior(const PathsSpec& spec, const PathsTask& task,
                                        std::uint64_t first, std::uint64_t count);

}  // namespace attnmc
