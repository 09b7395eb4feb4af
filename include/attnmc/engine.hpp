// Engine entry points: run an ensemble end to end, or produce the Gram
// matrices of a range of members (what accuracy tests compare against the
// double-precision reference, network by network).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "attnmc/run_spec.hpp"
#include "attnmc/statistics.hpp"

namespace attnmc {

struct EnsembleResult {
  RunSpec spec;                      // resolved
  std::string device;                // "cpu" or "cuda"
  std::string family = "run";        // what produced the statistics: "run" or "sde"
  std::vector<double> record_times;  // SDE: t of each record (empty: layer / width)
  std::string sampler;               // "direct" or "exact"
  std::string sampler_reason;        // why that sampler (auto's choice, or "requested")
  std::uint64_t chunk = 0;           // networks per chunk actually used
  int threads = 0;                   // CPU threads used
  EnsembleStatistics stats;
  double seconds_simulate = 0.0;
  double seconds_statistics = 0.0;
};

// Called after each chunk with (members done, members total).
using Progress = std::function<void(std::uint64_t, std::uint64_t)>;

// Runs members [spec.member_begin, spec.member_end) of spec (resolved here;
// throws InputError on bad input, and on a run that cannot fit the memory
// cap, before any work). Progress counts members of that range.
EnsembleResult run_ensemble(const RunSpec& spec, const Progress& progress = {});

// Gram matrices V_l = X_l X_l^T / n of members [first, first + count) at
// spec.record_layers, float32, laid out count x layers x m x m. `spec` must
// be resolved (resolve_run). Chunking follows spec.chunk / spec.memory_cap
// (the returned matrices themselves are not counted).
std::vector<float> simulate_grams(const RunSpec& spec, std::uint64_t first, std::uint64_t count);

// True when the CUDA backend is built and a device is present; otherwise
// false with the reason in *why.
bool cuda_available(std::string* why = nullptr);

// Bytes one network of a chunk needs (sampler buffers and the host copy of
// its records; the chunk size is what the memory cap leaves after the fixed
// costs, divided by this).
std::size_t bytes_per_network(const RunSpec& spec);

}  // namespace attnmc
