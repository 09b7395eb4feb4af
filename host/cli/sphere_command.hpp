// Pieces of `attnmc sphere` that `attnmc phase` (a sweep of sphere cells)
// shares: the flags that are shorthands for sphere keys and the built-in
// configuration.
#pragma once

#include <string>
#include <vector>

#include "host/cli/command.hpp"

namespace attnmc::cli {

// The sphere flags other than --tokens and --dim (phase takes lists there).
std::vector<FlagAlias> sphere_aliases();
const char* sphere_default_config();

// `attnmc merge` of sphere pieces (their stats.h5 carry /sphere_outcomes,
// host/sphere_outcomes.hpp): the whole run's stats.h5, summary.json and
// table.txt; returns the table and a line saying what was merged.
std::string merge_sphere_outputs(const std::vector<std::string>& inputs, const std::string& output,
                                 bool force);

}  // namespace attnmc::cli
