// The memory cap and the chunk size shared by every ensemble driver
// (networks, SDE paths, sphere trajectories), and the CPU thread count.
// The cap counts everything a run allocates: what grows with the chunk
// (sampler buffers and the host copy of a chunk's results, per item) and
// what does not (input tokens, statistics with their histograms and
// sketches, stored samples, sampler constants). A run that cannot fit is
// refused here, before any work, naming the parameter to change.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attnmc/statistics.hpp"
#include "host/backend.hpp"

namespace attnmc::host {

// CPU threads to use: `requested`, or every core when it is 0.
int resolve_threads(int requested);
// Cores this process may run on (the affinity mask).
int machine_cores();
// Throws InputError(key) when `requested` is negative or above machine_cores().
void check_threads(int requested, const std::string& key);

// A fixed memory need, with the parameter that sets its size.
struct MemoryCost {
  std::size_t bytes = 0;
  std::string what;  // "input tokens", "rho histograms", ... (for messages)
  std::string key;   // parameter to change when this cost is the largest ("" = the cap)
};

struct MemoryRule {
  std::size_t memory_cap = 0;
  std::size_t free_memory = static_cast<std::size_t>(-1);  // of the backend's device
  std::size_t per_item = 0;                                // bytes per item of a chunk
  std::vector<MemoryCost> fixed;                           // bytes whatever the chunk size
  std::uint64_t requested = 0;                             // items per chunk; 0 = as many as fit
  std::uint64_t items = 0;                                 // items of the run
  std::string cap_key, chunk_key;                          // "ensemble.memory_cap", ...
};

// Bytes a run may use: 90% of min(memory_cap, free_memory) (the rest is
// headroom for what no driver sees: BLAS workspace, Thrust temporaries).
std::size_t memory_budget(const MemoryRule& rule);

// Items per chunk: `requested` when > 0, else as many as fit beside the
// fixed costs, at most `items`. Throws InputError naming
//  - the key of the largest fixed cost (model.width for huge input tokens,
//    ensemble.histogram_bins, ...), or cap_key when that cost has no key,
//    when the fixed costs do not fit;
//  - cap_key when one item does not fit beside them;
//  - chunk_key when the requested chunk does not.
// An automatic chunk is also at most max(kMinAutoChunk, items / 16).
inline constexpr std::uint64_t kMinAutoChunk = 1024;
std::uint64_t chunk_size(const MemoryRule& rule);

// Parameters named when one part of the statistics alone exceeds the cap.
struct StatisticsKeys {
  std::string histogram_bins;     // rho histograms
  std::string rho_quantile_bins;  // rho quantile grids ("" = the cap)
  std::string exact_quantiles;    // stored samples
};

// The fixed costs of EnsembleStatistics fed `members` members
// (EnsembleStatistics::max_bytes_parts), each named by the parameter that
// sets its size.
std::vector<MemoryCost> statistics_costs(int tokens, std::size_t records,
                                         const StatisticsOptions& options, std::uint64_t members,
                                         const StatisticsKeys& keys);

// What delivering a chunk's Gram matrices costs (kernels/gram_statistics.hpp):
// the device reduction's buffers when `reduce`, its aggregate on the host at
// worst (every key distinct) and, with `host_grams`, the host copy; host
// buffers twice, because the driver fills one chunk's while the previous
// one is being added.
struct GramDeliveryCosts {
  std::size_t per_item = 0;  // bytes per member of a chunk
  MemoryCost fixed;          // whatever the chunk size
};
GramDeliveryCosts gram_delivery_costs(const Backend& backend, int tokens, int records, bool reduce,
                                      bool host_grams);

// a * b, or SIZE_MAX when that overflows.
std::size_t saturating_mul(std::size_t a, std::size_t b);

}  // namespace attnmc::host
