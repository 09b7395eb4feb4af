#include "host/chunking.hpp"

#include <omp.h>

#include <algorithm>
#include <limits>

#include "attnmc/error.hpp"

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
  if (rule.requested > 0 && saturating_mul(rule.requested, per_item) > left)
    throw InputError(rule.chunk_key, "a chunk of " + std::to_string(rule.requested) + " needs " +
                                         bytes_text(saturating_mul(rule.requested, per_item)) +
                                         ", more than the " + bytes_text(left) + " " +
                                         rule.cap_key + " leaves for chunks");
  const std::uint64_t chunk = rule.requested > 0 ? rule.requested : std::uint64_t(left / per_item);
  return std::max<std::uint64_t>(1, std::min(chunk, rule.items));
}

std::vector<MemoryCost> statistics_costs(int tokens, std::size_t records,
                                         const StatisticsOptions& options, std::uint64_t members,
                                         std::uint64_t stored_members, const StatisticsKeys& keys) {
  const std::size_t m = std::size_t(tokens), pairs = m * (m - 1) / 2, upper = m * (m + 1) / 2;
  const std::size_t all = EnsembleStatistics::max_bytes(tokens, records, options, stored_members);
  StatisticsOptions o = options;
  o.exact_quantiles = false;
  const std::size_t unstored = EnsembleStatistics::max_bytes(tokens, records, o, 0);
  o.histogram_bins = 1;
  const std::size_t histograms = unstored - EnsembleStatistics::max_bytes(tokens, records, o, 0);
  // Sketch counts live in pages allocated on first use, and one member adds
  // one value to each sketch: a sketch fed `members` members holds at most
  // that many pages, whatever its worst case over all inputs.
  const std::size_t page = CountStore::max_bytes(CountStore::kPage);
  const std::size_t touched = saturating_mul(std::size_t(members), page);
  const std::size_t v_worst = LogSketch::max_bytes(options.quantile_accuracy);
  const std::size_t rho_worst = GridSketch::max_bytes(options.rho_quantile_bins);
  const std::size_t v_sketches = records * upper * v_worst;
  const std::size_t rho_sketches = records * pairs * rho_worst;
  const std::size_t base = unstored - histograms - v_sketches - rho_sketches;  // moments, records
  return {
      {base, "statistics (moments, counters)", ""},
      {records * upper * std::min(v_worst, touched), "V quantile sketches", ""},
      {records * pairs * std::min(rho_worst, touched), "rho quantile grids",
       keys.rho_quantile_bins},
      {histograms, "rho histograms", keys.histogram_bins},
      {all - unstored, "stored samples for exact quantiles", keys.exact_quantiles},
  };
}

}  // namespace attnmc::host
