// The mergeable state of an oversmoothing result inside stats.h5 (group
// /oversmoothing_state, beside the Gram statistics' /state): per record and
// metric the counts, the exact moment sums (canonical limbs) and the
// non-zero sketch buckets, the per-record non-finite counts, the prediction
// counters and error statistics, and the identity of the piece (canonical
// configuration, seed, member range, device). `attnmc merge` reads it back;
// reading back and writing again gives the same bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnmc/oversmoothing.hpp"
#include "host/stats_state.hpp"

namespace attnmc {

struct OversmoothingPiece {
  StatsIdentity id;  // family "oversmoothing", config: oversmoothing_canonical_config
  OversmoothingResult result;
};

// The resolved spec as JSON without how it was executed or which members
// ran (what pieces of one ensemble share).
std::string oversmoothing_canonical_config(const OversmoothingSpec& resolved);

// `file`: an open HDF5 file id (hid_t), kept out of this header.
void write_oversmoothing_state(std::int64_t file, const OversmoothingResult& r);
// Writes stats.h5 of a result without Gram statistics: the state alone.
void write_oversmoothing_state_file(const std::string& path, const OversmoothingResult& r);
// Adds the state to an existing stats.h5 (written by write_stats_h5).
void append_oversmoothing_state(const std::string& path, const OversmoothingResult& r);

// Whether `where` (a stats.h5 or an output directory holding one) holds an
// oversmoothing state (false when unreadable).
bool has_oversmoothing_state(const std::string& where);
// Reads it back, with the Gram statistics (from /state) when the run kept
// them. Throws InputError("merge", ...) naming the file.
OversmoothingPiece read_oversmoothing_state(const std::string& where);
// The same from an open HDF5 file (hid_t) holding the state and, when the
// run kept Gram statistics, /state and /t (scale-out: in-memory images).
OversmoothingPiece read_oversmoothing_state_at(std::int64_t file, const std::string& path);

// Merges pieces of one ensemble in member order after checking (as
// merge_states does) that they share configuration, seed, device and
// ensemble size and that their member ranges neither overlap nor leave
// members out. Throws InputError("merge", ...) naming the pieces.
OversmoothingResult merge_oversmoothing_pieces(std::vector<OversmoothingPiece> pieces,
                                               const std::vector<std::string>& names);

}  // namespace attnmc
