// The weight-space posterior of the attention-paths family (run.mode =
// direct): many HMC chains in parallel, one per member
// (kernels/paths/paths_direct_sampler.cu), each whitened by the prior,
// with step-size adaptation during burn-in. Chain means are combined in
// member order; error bars come from the spread of the chain means (the
// chains are independent), so they hold whatever each chain's
// autocorrelation is.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnmc/engine.hpp"
#include "attnmc/paths.hpp"

namespace attnmc {

struct PathsDirectOptions {
  int burn_in = 1000;  // steps adapting the step size, then discarded
  int steps = 2000;    // kept steps per chain
  int leapfrog = 16;   // leapfrog steps per HMC step
  double initial_step = 0.05;
  double target_accept = 0.7;
};

struct PathsDirectResult {
  std::uint64_t chains = 0;
  // Posterior mean and second moment of f(x*) on every test sequence; U_1.
  std::vector<double> f_mean, f_mean_se, f_second, f_second_se;
  std::vector<double> u1_mean, u1_mean_se;  // paths x paths
  double test_accuracy = 0;                 // sign(f_mean) against the test labels
  double acceptance = 0, acceptance_min = 0, acceptance_max = 0;  // over kept steps
  double step_mean = 0, step_min = 0, step_max = 0;               // adapted step sizes
  double train_mse = 0;         // posterior mean of the training mean squared error
  std::uint64_t nonfinite = 0;  // kept-phase proposals rejected for a non-finite energy
  std::string device;
  int threads = 0;
  std::uint64_t chunk = 0;
  double seconds = 0;
};

PathsDirectResult run_paths_direct(const PathsSpec& spec, const PathsTask& task,
                                   const PathsDirectOptions& options,
                                   const Progress& progress = {});

}  // namespace attnmc
