#include "host/chunking.hpp"

#include <omp.h>

#include <algorithm>
#include <limits>

#include "attnmc/error.hpp"
#include "kernels/gram_statistics.hpp"

namespace attnmc::host {
namespace {

constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();

std::size_t saturating_add(std::size_t a, std::size_t b) { return a > kMax - b ? kMax : a + b; }

std::string bytes_text(std::size_t b) {
  if (b == kMax) return "more than 2^64 bytes";
  return std::to_string(b) + " bytes";
}

}  // namespace

int machine_cores() { return omp_get_num_procs(); }

int resolve_threads(int requested) { return requested > 0 ? requested : machine_cores(); }

void check_threads(int requested, const std::string& key) {
  if (requested < 0) throw InputError(key, "must be >= 0");
  const int cores = machine_cores();
  if (requested > cores)
    throw InputError(key, std::to_string(requested) + " threads requested but this machine has " +
                              std::to_string(cores) + " cores (use at most " +
                              std::to_string(cores) + ", or 0 for all)");
}

std::size_t saturating_mul(std::size_t a, std::size_t b) {
  std::size_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? kMax : r;
}

std::size_t memory_budget(const MemoryRule& rule) {
  return std::min(rule.memory_cap, rule.free_memory) / 10 * 9;
}

std::uint64_t chunk_size(const MemoryRule& rule) {
  const std::size_t budget = memory_budget(rule);
  std::size_t fixed = 0;
  const MemoryCost* largest = nullptr;
  for (const MemoryCost& c : rule.fixed) {
    fixed = saturating_add(fixed, c.bytes);
    if (largest == nullptr || c.bytes > largest->bytes) largest = &c;
  }
  if (fixed > budget) {
    // The parameter that made the run big: that of its largest fixed cost,
    // unless that cost has none of its own (then only the cap can change).
    const bool named = !largest->key.empty();
    const std::string key = named ? largest->key : rule.cap_key;
    std::string parts;
    for (const MemoryCost& c : rule.fixed)
      if (c.bytes > 0) parts += (parts.empty() ? "" : ", ") + c.what + " " + bytes_text(c.bytes);
    throw InputError(key, "the run needs " + bytes_text(fixed) + " before its first chunk (" +
                              parts + ") but " + rule.cap_key + " allows " + bytes_text(budget) +
                              (named ? " (reduce " + key + " or raise " + rule.cap_key + ")"
                                     : " (raise " + rule.cap_key + ")"));
  }
  const std::size_t left = budget - fixed;
  const std::size_t per_item = std::max<std::size_t>(1, rule.per_item);
  if (per_item > left)
    throw InputError(rule.cap_key, "one item needs " + bytes_text(per_item) +
                                       " of buffers but only " + bytes_text(left) +
                                       " are left under the cap (raise " + rule.cap_key +
                                       " or reduce the problem size)");
  // A requested chunk larger than the run is the run: only its items are held.
  const std::uint64_t requested =
      rule.items > 0 ? std::min(rule.requested, rule.items) : rule.requested;
  if (requested > 0 && saturating_mul(requested, per_item) > left)
    throw InputError(rule.chunk_key, "a chunk of " + std::to_string(requested) + " needs " +
                                         bytes_text(saturating_mul(requested, per_item)) +
                                         ", more than the " + bytes_text(left) + " " +
                                         rule.cap_key + " leaves for chunks");
  std::uint64_t chunk = requested > 0 ? requested : std::uint64_t(left / per_item);
  // An automatic chunk is at most a sixteenth of the run (and at least
  // kMinAutoChunk items): progress moves, and the host's statistics of one
  // chunk overlap the next. The results do not depend on the chunk.
  if (rule.requested == 0) chunk = std::min(chunk, std::max(kMinAutoChunk, (rule.items + 15) / 16));
  return std::max<std::uint64_t>(1, std::min(chunk, rule.items));
}

std::vector<MemoryCost> statistics_costs(int tokens, std::size_t records,
                                         const StatisticsOptions& options, std::uint64_t members,
                                         const StatisticsKeys& keys) {
  const EnsembleStatistics::MemoryParts p =
      EnsembleStatistics::max_bytes_parts(tokens, records, options, members);
  return {
      {p.moments, "statistics (moments, counters)", ""},
      {p.v_sketches, "V quantile sketches", ""},
      {p.rho_sketches, "rho quantile grids", keys.rho_quantile_bins},
      {p.histograms, "rho histograms", keys.histogram_bins},
      {p.samples, "stored samples for exact quantiles", keys.exact_quantiles},
  };
}

GramDeliveryCosts gram_delivery_costs(const Backend& backend, int m, int records, bool reduce,
                                      bool host_grams) {
  GramDeliveryCosts c;
  const std::size_t mm = std::size_t(m) * std::size_t(m), R = std::size_t(records);
  if (host_grams) c.per_item += 2 * R * mm * sizeof(float);
  if (!reduce) return c;
#if defined(ATTNMC_WITH_CUDA)
  const auto per_member = on_backend(backend, &omp::gram_statistics_bytes_per_member,
                                     &cuda::gram_statistics_bytes_per_member);
  const auto fixed =
      on_backend(backend, &omp::gram_statistics_fixed_bytes, &cuda::gram_statistics_fixed_bytes);
#else
  (void)backend;
  const auto per_member = &omp::gram_statistics_bytes_per_member;
  const auto fixed = &omp::gram_statistics_fixed_bytes;
#endif
  const std::size_t keys = R * std::size_t(kernels::GramSlots(m).per_record());
  c.per_item +=
      per_member(m, records) + 2 * (keys * (sizeof(std::uint64_t) + sizeof(std::int64_t)) + R);
  c.fixed = {fixed(m, records) + 2 * R * 2 * mm * sizeof(kernels::SegmentSums),
             "device statistics reduction", ""};
  return c;
}

}  // namespace attnmc::host
