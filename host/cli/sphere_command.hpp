// Pieces of `attnmc sphere` that `attnmc phase` (a sweep of sphere cells)
// shares: the flags that are shorthands for sphere keys and the built-in
// configuration.
#pragma once

#include <vector>

#include "host/cli/command.hpp"

namespace attnmc::cli {

// The sphere flags other than --tokens and --dim (phase takes lists there).
std::vector<FlagAlias> sphere_aliases();
const char* sphere_default_config();

}  // namespace attnmc::cli
