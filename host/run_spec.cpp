// Validation of a RunSpec: every range error names its configuration key.
#include "attnmc/run_spec.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

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

namespace {

// An explicit list of layers: each in [0, depth], strictly increasing (a
// list out of order or with a repeat is refused, not silently sorted).
void check_record_layers(const std::vector<int>& layers, int depth) {
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const int l = layers[i];
    if (l < 0 || l > depth)
      throw InputError("ensemble.record_layers", "entry " + std::to_string(i) + " (layer " +
                                                     std::to_string(l) + ") is outside [0, " +
                                                     std::to_string(depth) + "]");
    if (i > 0 && l <= layers[i - 1])
      throw InputError("ensemble.record_layers",
                       "entry " + std::to_string(i) + " (layer " + std::to_string(l) +
                           ") does not follow entry " + std::to_string(i - 1) + " (layer " +
                           std::to_string(layers[i - 1]) +
                           "): list the layers strictly increasing");
  }
}

// An input whose V0 already exceeds the overflow threshold would count every
// member as overflowing at layer 0 (no moments anywhere): refused, naming
// the input key.
void check_input_overflow(const RunSpec& s, const std::vector<double>& g) {
  const int m = s.model.tokens;
  for (int a = 0; a < m; ++a)
    for (int b = 0; b < m; ++b) {
      const double v = g[std::size_t(a) * m + b];
      if (std::abs(v) > s.overflow_threshold)
        throw InputError(input_key(s.input), input_entry_name(a, b) + " = " + format_number(v) +
                                                 " exceeds ensemble.overflow_threshold = " +
                                                 format_number(s.overflow_threshold) +
                                                 ": every member would count as overflowing");
    }
}

}  // namespace

RunSpec resolve_run(const RunSpec& in) {
  RunSpec s = in;
  s.model = resolve_model(in.model);
  // The input is checked now, not mid-run (without building the tokens).
  const std::vector<double> v0 = input_gram(s.input, s.model);
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
  check_input_overflow(s, v0);
  const int d = s.model.depth;
  if (s.record_layers.empty()) {
    const int every = s.record_every > 0 ? s.record_every : std::max(1, d / 32);
    for (int l = 0; l <= d; l += every) s.record_layers.push_back(l);
  } else {
    check_record_layers(s.record_layers, d);
  }
  // Layer 0 (the input) and layer d (the output) are always recorded.
  if (s.record_layers.front() != 0) s.record_layers.insert(s.record_layers.begin(), 0);
  if (s.record_layers.back() != d) s.record_layers.push_back(d);
  return s;
}

}  // namespace attnmc
