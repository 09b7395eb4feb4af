// One ensemble split over the ranks of a World, with the result of one
// process, to the bit.
//
// The members [begin, end) are cut into kBlocks fixed blocks (fewer when
// there are fewer members), by a rule that does not depend on the number of
// ranks; rank r runs the contiguous run of blocks [nb r / K, nb (r + 1) / K)
// with the ordinary engine (members of a range are computed the same way
// whatever the split: every random number is keyed by member). Every rank
// then sends its statistics as their serialised state (the HDF5 state of
// host/stats_state.hpp, as an in-memory file image) with the family's
// counters, and every rank merges all of them in block order: integer
// additions and exact sums, no floating-point reduction, so the merged
// statistics are those of one process, and every rank holds the same
// result (the command then runs on unchanged; only rank 0 writes).
//
// A rank whose share fails (an exception: bad device, memory, bad input on
// its share) reports the failure in place of its statistics: every rank then
// throws the same AgreedFailure naming the lowest failing rank and why
// (exit code 2 for bad input, 1 otherwise). A rank that dies (SIGKILL)
// makes the launcher end the job.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnmc/engine.hpp"
#include "attnmc/oversmoothing.hpp"
#include "attnmc/sde.hpp"
#include "attnmc/sphere.hpp"

namespace attnmc::mpi {

class World;

inline constexpr std::uint64_t kBlocks = 1024;

// Members [begin, end) of rank `rank` of `ranks`.
struct Share {
  std::uint64_t begin = 0, end = 0;
  std::uint64_t size() const { return end - begin; }
};
Share share_of(std::uint64_t begin, std::uint64_t end, int rank, int ranks);

// What each rank did in one split run (summary.json "processes", and the
// per-rank throughput line that rank 0 prints).
struct RankReport {
  int rank = 0;
  std::uint64_t begin = 0, end = 0;  // its members
  double seconds = 0.0;              // its engine call
  std::string device, host;
  int threads = 0;
};
struct SplitRun {
  std::vector<RankReport> ranks;  // in rank order
  double exchange_seconds = 0.0;  // rank 0: from the end of its share to every piece received
  double merge_seconds = 0.0;     // rank 0: reading the pieces back and merging them
};
struct ScaleOutLog {
  std::vector<SplitRun> runs;  // one per split run
};

// CPU threads of one rank when the configuration says 0 (all cores): a
// rank bound to its own cores (mpirun binds to cores by default for two
// ranks) takes them all; ranks that share the node's cores split them.
int threads_per_rank(const World& world);

// The engines, split over `world` (null or one process: the engine itself,
// unchanged). `progress` (rank 0) reports rank 0's share scaled to the whole
// ensemble; `log` (optional) gets one RankReport per rank.
EnsembleResult run_ensemble(const World* world, const RunSpec& spec, const Progress& progress,
                            ScaleOutLog* log);
SdeResult run_sde(const World* world, const SdeSpec& spec, const Progress& progress,
                  ScaleOutLog* log);
SphereResult run_sphere(const World* world, const SphereSpec& spec, const Progress& progress,
                        ScaleOutLog* log);
// The oversmoothing family: each rank sends its whole mergeable state
// (host/oversmoothing/oversmoothing_state.hpp, metrics, prediction counters
// and Gram statistics) as an HDF5 image, merged in rank order.
OversmoothingResult run_oversmoothing(const World* world, const OversmoothingSpec& spec,
                                      const Progress& progress, ScaleOutLog* log);

}  // namespace attnmc::mpi
