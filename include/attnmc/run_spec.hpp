// Everything one ensemble run needs: model, input, ensemble size, seed,
// which layers to record, where to run and how much memory to use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attnmc/model_spec.hpp"

namespace attnmc {

enum class Device { cpu, cuda, automatic };
enum class Sampler { direct, exact, automatic };

struct RunSpec {
  ModelSpec model;
  InputSpec input;
  std::uint64_t members = 1000;  // B, networks in the ensemble
  std::uint64_t seed = 1;
  int record_every = 0;            // 0: about 32 records over the depth
  std::vector<int> record_layers;  // explicit list (overrides record_every)
  Device device = Device::automatic;
  Sampler sampler = Sampler::automatic;           // exact where it applies, else direct
  int threads = 0;                                // CPU threads; 0 = all cores
  std::size_t memory_cap = std::size_t(2) << 30;  // bytes the engine may use for its buffers
  std::uint64_t chunk = 0;                        // networks per chunk; 0 = as many as fit the cap
  double overflow_threshold = 1e30;               // |V_ab| above this counts as overflow
  int histogram_bins = 200;                       // rho histogram bins over [-1, 1]
  std::vector<double> quantiles = {0.1, 0.5, 0.9};
};

// Validated copy with derived fields filled (record_layers sorted, unique,
// within [0, depth], always containing 0 and depth). Throws InputError.
RunSpec resolve_run(const RunSpec& spec);

const char* device_name(Device d);
const char* sampler_name(Sampler s);

}  // namespace attnmc
