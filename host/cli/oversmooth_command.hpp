// The oversmoothing family's output files (summary.json, metrics.csv,
// table.txt, stats.h5 with its mergeable state), written by `attnmc
// oversmooth` and by `attnmc merge` of its --range pieces.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attnmc/oversmoothing.hpp"
#include "host/cli/command.hpp"

namespace attnmc::cli {

// `extra`: summary.json keys to set (a null value removes the key).
CommandResult write_oversmoothing_outputs(const OversmoothingResult& r, StagedDirectory& dir,
                                          const RunContext& cx,
                                          const nlohmann::json& extra = nlohmann::json::object());

// `attnmc merge` of oversmoothing pieces (their stats.h5 hold
// /oversmoothing_state): checks, merges in member order and writes the files
// of a whole run, staged. Returns what merge prints.
std::string merge_oversmoothing_outputs(const std::vector<std::string>& inputs,
                                        const std::string& output, bool force);

}  // namespace attnmc::cli
