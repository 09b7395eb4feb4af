// Finite networks vs the covariance SDE: the same model at several widths n
// (depth d = T n, so every network ends at the same time T = d / n) and the
// SDE at T, recorded at common times t = l / n. Per recorded time: the
// quantiles of rho_ab and V_aa for each width and for the SDE; at T: the
// Wasserstein-1 and Kolmogorov-Smirnov distances of each width's rho law to
// the SDE's, and the slope of log distance vs log width (how fast they shrink).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "attnmc/engine.hpp"
#include "attnmc/sde.hpp"

namespace attnmc {

// Two-sample distances between empirical laws (inputs need not be sorted;
// +inf values are allowed and sort last).
double ks_distance(std::vector<double> a, std::vector<double> b);
double wasserstein1(std::vector<double> a, std::vector<double> b);  // inf if only one has +inf

struct CompareSpec {
  ModelSpec model;  // width and depth are set per width from `widths` and `horizon`
  InputSpec input;
  std::vector<int> widths = {32, 64, 128, 256};  // strictly increasing, each >= 2
  double horizon = 0.5;                          // T
  int records = 8;  // record times t_j = j T / records (each a whole layer of every width)
  std::uint64_t members = 4000;        // networks per width
  std::uint64_t trajectories = 20000;  // SDE paths
  // >= 0 and a multiple of records; 0: 4 steps per layer of the widest network.
  std::int64_t sde_steps = 0;
  Sampler sampler = Sampler::automatic;  // automatic: exact when available, else direct
  std::uint64_t seed = 1;
  Device device = Device::automatic;
  int threads = 0;
  // The token pair whose rho is compared (V_aa: token a): two different
  // tokens in [0, m), so m >= 2.
  int a = 0, b = 1;
  std::vector<double> quantiles = {0.1, 0.25, 0.5, 0.75, 0.9};
};

struct CompareSeries {
  std::string label;                       // "n=64" or "sde"
  int width = 0;                           // 0 for the SDE
  std::vector<std::vector<double>> rho_q;  // records x quantiles
  std::vector<std::vector<double>> vaa_q;  // records x quantiles
  std::vector<double> terminal_rho;        // rho_ab at T of every member (+inf: blown up)
  std::int64_t blowups = 0, nonfinite = 0;
  double seconds = 0.0;
  std::string sampler;  // finite widths: "exact" / "direct"
};

struct CompareResult {
  CompareSpec spec;
  std::vector<double> times;              // record times
  std::vector<CompareSeries> series;      // widths in order, then the SDE
  std::vector<double> w1, ks;             // per width: terminal rho law vs the SDE's
  double w1_slope = 0.0, ks_slope = 0.0;  // least-squares slope of log distance vs log width
  double seconds = 0.0;
};

// Throws InputError naming the parameter (compare.*, model.*, input.*),
// before any network runs for the compare.* and model.tokens checks.
// The SDE run_compare compares with: the widest network's reference, the
// records' times, sde_steps steps (0: 4 per layer of the widest network).
SdeSpec compare_sde_spec(const CompareSpec& spec);

// The checks run_compare makes before any network runs: InputError naming
// the parameter (compare.*, model.tokens).
void validate_compare(const CompareSpec& spec);

CompareResult run_compare(const CompareSpec& spec, const Progress& progress = {});

// The table printed by `attnmc compare`.
void write_compare_table(std::ostream& out, const CompareResult& r);

}  // namespace attnmc
