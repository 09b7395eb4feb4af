// The full statistics state inside stats.h5 (group /state): counts, exact
// moment sums (canonical limbs), non-zero sketch buckets, histograms,
// optional samples, and the identity of the run (family, canonical
// configuration, seed, device, sampler, member range). It is what
// `attnmc merge` reads, checks and adds up, and what sweeps and scale-out
// build on. Reading back and writing again gives the same bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnmc/statistics.hpp"

namespace attnmc {
namespace h5 {
struct Id;  // host/hdf5_file.hpp
}

// The stats.h5 of `where`: the file itself or an output directory's.
std::string stats_file_path(const std::string& where);
// That file opened read-only (its path in *path). Throws
// InputError("merge", ...) naming `where` when it is missing or not HDF5.
h5::Id open_stats_file(const std::string& where, std::string* path);
// Whether `where` has a stats.h5 with the group `name` (false, no error,
// when there is no readable file: the caller decides what that means).
bool stats_file_has_group(const std::string& where, const char* name);

struct StatsIdentity {
  std::string family = "run";  // "run" (finite networks) or "sde"
  std::string config;          // canonical resolved configuration, JSON (execution keys removed)
  std::uint64_t seed = 0;
  std::uint64_t members = 0;       // B of the whole ensemble
  std::uint64_t member_begin = 0;  // this piece: members [begin, end)
  std::uint64_t member_end = 0;
  std::string device, sampler;
};

struct StatisticsState {
  StatsIdentity id;
  EnsembleStatistics stats;
  std::vector<double> t;  // the file's record times (dataset t)
};

// `file`: an open HDF5 file id (hid_t), kept out of this header.
void write_statistics_state(std::int64_t file, const StatsIdentity& id,
                            const EnsembleStatistics& stats);

// Reads the state of a stats.h5 (or of an output directory holding one).
// Throws InputError("merge", ...) naming the file when it is unreadable or
// has no state.
StatisticsState read_statistics_state(const std::string& path);
// The same from an open HDF5 file (hid_t), `path` naming it in messages
// (scale-out reads the states that ranks send as in-memory file images).
StatisticsState read_statistics_state_at(std::int64_t file, const std::string& path);

// Merges pieces of one ensemble. Throws InputError("merge", ...) when their
// families, configurations, seeds, devices or samplers differ, or when
// their member ranges overlap or leave members missing. Order-independent.
StatisticsState merge_states(std::vector<StatisticsState> pieces,
                             const std::vector<std::string>& names);

}  // namespace attnmc
