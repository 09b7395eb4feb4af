// Everything one ensemble run needs: model, input, ensemble size, seed,
// which layers to record, where to run and how much memory to use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attnmc/model_spec.hpp"
#include "attnmc/statistics.hpp"

namespace attnmc {

enum class Device { cpu, cuda, automatic };
enum class Sampler { direct, exact, automatic };

struct RunSpec {
  ModelSpec model;
  InputSpec input;
  std::uint64_t members = 1000;  // B, networks in the ensemble
  std::uint64_t seed = 1;
  int record_every = 0;  // 0: about 32 records over the depth
  // Explicit list (overrides record_every): layers in [0, depth], strictly
  // increasing. Layer 0 (the input) and layer depth (the output) are added
  // when missing, so [3, 1] is refused and [2, 5] at depth 8 records 0, 2,
  // 5, 8; the resolved list is what the output reports.
  std::vector<int> record_layers;
  Device device = Device::automatic;
  Sampler sampler = Sampler::automatic;           // exact where it applies, else direct
  int threads = 0;                                // CPU threads; 0 = all cores
  std::size_t memory_cap = std::size_t(2) << 30;  // bytes the engine may use for its buffers
  std::uint64_t chunk = 0;                        // networks per chunk; 0 = as many as fit the cap
  double overflow_threshold = 1e30;               // |V_ab| above this counts as overflow
  int histogram_bins = 200;                       // rho histogram bins over [-1, 1]
  std::vector<double> quantiles = {0.1, 0.5, 0.9};
  double quantile_accuracy = 1e-3;  // relative accuracy of the V quantile sketches
  int rho_quantile_bins = 1 << 15;  // grid cells over [-1, 1] of the rho quantile sketches
  bool exact_quantiles = false;     // keep every member's V for exact quantiles (memory ~ B)
  // The piece of the ensemble this run computes: members [member_begin,
  // member_end) of the B = members networks (member_end = 0: up to B).
  // Pieces of one ensemble merge (attnmc merge) into exactly the whole run.
  std::uint64_t member_begin = 0;
  std::uint64_t member_end = 0;

  // The end of the piece: member_end, or members when it is 0. Kept 0 by
  // resolve_run, so that changing `members` afterwards still means "all".
  std::uint64_t end_member() const { return member_end > 0 ? member_end : members; }

  StatisticsOptions statistics_options() const;
};

// Validated copy with derived fields filled (record_layers: the explicit
// list, checked strictly increasing within [0, depth], or every
// record_every layers; always with 0 and depth added; member range
// checked). Throws InputError naming the key, also for an input the engines
// cannot carry (validate_input) and for an input V0 with an entry beyond
// overflow_threshold (every member would overflow at layer 0).
RunSpec resolve_run(const RunSpec& spec);

const char* device_name(Device d);
const char* sampler_name(Sampler s);

}  // namespace attnmc
