// Validation of a RunSpec: every range error names its configuration key.
#include "attnmc/run_spec.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "attnmc/error.hpp"

namespace attnmc {

const char* device_name(Device d) {
  switch (d) {
    case Device::cpu:
      return "cpu";
    case Device::cuda:
      return "cuda";
    default:
      return "auto";
  }
}

const char* sampler_name(Sampler s) {
  switch (s) {
    case Sampler::direct:
      return "direct";
    case Sampler::exact:
      return "exact";
    default:
      return "auto";
  }
}

RunSpec resolve_run(const RunSpec& in) {
  RunSpec s = in;
  s.model = resolve_model(in.model);
  (void)initial_tokens(s.input, s.model);  // validates the input now, not mid-run
  if (s.members == 0) throw InputError("ensemble.members", "must be positive");
  if (s.members > (std::uint64_t(1) << 32))
    throw InputError("ensemble.members", "at most 2^32 members (the RNG key holds 32 bits)");
  if (s.record_every < 0) throw InputError("ensemble.record_every", "must be >= 0");
  if (s.threads < 0) throw InputError("run.threads", "must be >= 0");
  if (s.memory_cap == 0) throw InputError("ensemble.memory_cap", "must be positive");
  if (!(s.overflow_threshold > 0)) throw InputError("ensemble.overflow_threshold", "must be > 0");
  if (s.histogram_bins <= 0 || s.histogram_bins > 100000)
    throw InputError("ensemble.histogram_bins", "must be in [1, 100000]");
  for (double q : s.quantiles)
    if (!(q >= 0 && q <= 1)) throw InputError("ensemble.quantiles", "levels must lie in [0, 1]");
  const int d = s.model.depth;
  if (s.record_layers.empty()) {
    const int every = s.record_every > 0 ? s.record_every : std::max(1, d / 32);
    for (int l = 0; l <= d; l += every) s.record_layers.push_back(l);
  }
  for (int l : s.record_layers)
    if (l < 0 || l > d)
      throw InputError("ensemble.record_layers",
                       "layer " + std::to_string(l) + " outside [0, " + std::to_string(d) + "]");
  s.record_layers.push_back(0);
  s.record_layers.push_back(d);
  std::sort(s.record_layers.begin(), s.record_layers.end());
  s.record_layers.erase(std::unique(s.record_layers.begin(), s.record_layers.end()),
                        s.record_layers.end());
  return s;
}

}  // namespace attnmc
