// Validation of a RunSpec: every range error names its configuration key.
#include "attnmc/run_spec.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "attnmc/error.hpp"
#include "host/chunking.hpp"

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

StatisticsOptions RunSpec::statistics_options() const {
  StatisticsOptions o;
  o.histogram_bins = histogram_bins;
  o.overflow_threshold = overflow_threshold;
  o.quantile_accuracy = quantile_accuracy;
  o.rho_quantile_bins = rho_quantile_bins;
  o.exact_quantiles = exact_quantiles;
  return o;
}

RunSpec resolve_run(const RunSpec& in) {
  RunSpec s = in;
  s.model = resolve_model(in.model);
  validate_input(s.input, s.model);  // now, not mid-run (without building the tokens)
  if (s.members == 0) throw InputError("ensemble.members", "must be positive");
  if (s.members > (std::uint64_t(1) << 32))
    throw InputError("ensemble.members", "at most 2^32 members (the RNG key holds 32 bits)");
  if (s.member_end > s.members)
    throw InputError("ensemble.member_end",
                     "must be <= ensemble.members = " + std::to_string(s.members) + " (got " +
                         std::to_string(s.member_end) + ")");
  if (s.member_begin >= s.end_member())
    throw InputError("ensemble.member_begin",
                     "must be < ensemble.member_end = " + std::to_string(s.end_member()) +
                         " (got " + std::to_string(s.member_begin) + ")");
  if (s.record_every < 0) throw InputError("ensemble.record_every", "must be >= 0");
  host::check_threads(s.threads, "run.threads");
  if (s.memory_cap == 0) throw InputError("ensemble.memory_cap", "must be positive");
  if (!(s.overflow_threshold > 0)) throw InputError("ensemble.overflow_threshold", "must be > 0");
  if (s.histogram_bins <= 0 || s.histogram_bins > 100000)
    throw InputError("ensemble.histogram_bins", "must be in [1, 100000]");
  for (double q : s.quantiles)
    if (!(q >= 0 && q <= 1)) throw InputError("ensemble.quantiles", "levels must lie in [0, 1]");
  if (!(s.quantile_accuracy >= 1e-6 && s.quantile_accuracy <= 0.1))
    throw InputError("ensemble.quantile_accuracy", "must be in [1e-6, 0.1]");
  if (s.rho_quantile_bins < 2 || s.rho_quantile_bins > (1 << 24))
    throw InputError("ensemble.rho_quantile_bins", "must be in [2, 2^24]");
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
