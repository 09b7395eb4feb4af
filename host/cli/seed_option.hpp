// The one rule for seeds on every command line (issue 9, defect 10):
// parse_seed (host/config.hpp) as a CLI11 check, since CLI11 would
// otherwise wrap -1 to 2^64 - 1 for an unsigned option.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "host/config.hpp"

namespace attnmc::cli {

inline CLI::Validator seed_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::uint64_t seed = 0;
        return parse_seed(text, &seed) ? "" : std::string(kSeedRule) + ", got '" + text + "'";
      },
      "SEED");
}

}  // namespace attnmc::cli
