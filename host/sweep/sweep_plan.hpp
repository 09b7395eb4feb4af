// A sweep: one command run over the cells of a grid (product) or of zipped
// lists of configuration values. The sweep file (TOML):
//
//   [sweep]
//   command = "run"          # any command of `attnmc --help` that runs an ensemble
//   config = "base.toml"     # optional, relative to the sweep file; default: built-in
//   mode = "grid"            # grid: every combination, the last axis fastest
//                            # zip: the i-th values of every axis together
//   seed = "derived"         # derived | fixed | index (below)
//   check_step = false       # time-stepped commands: also run every cell at dt / 2
//                            # and record the estimated step bias (--check-step)
//   [[sweep.axis]]
//   key = "model.width"
//   values = [64, 128, 256]
//   [[sweep.axis]]
//   key = "model.tau0"
//   values = [0.5, 1.0]
//   [base.ensemble]          # optional: keys set in every cell (the config's sections)
//   members = 20000
//
// A cell's configuration: the file (or built-in), then [base], then the
// cell's axis values, then its seed. Seeds:
//   fixed    every cell runs with the configuration's ensemble.seed;
//   derived  seed = SplitMix64(base ^ FNV-1a-64(text)), text the cell's
//            "key=value\n" lines in axis order (values as TOML): a cell keeps
//            its seed when axes gain or lose other values;
//   index    seed = SplitMix64(base ^ (i_1 << 42) ^ (i_2 << 21) ^ i_3) of the
//            cell's position on up to three axes (right-aligned): the rule of
//            the phase diagram.
// base is the configuration's ensemble.seed (1 when not given).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "host/config/toml_layer.hpp"

namespace attnmc::sweep {

enum class SeedRule { fixed, derived, index };

struct Axis {
  std::string key;                  // dotted configuration key
  std::vector<std::string> values;  // TOML text of each value
};

struct Cell {
  std::size_t index = 0;
  std::vector<std::pair<std::string, std::string>> params;  // (key, TOML value), axis order
  std::uint64_t seed = 0;
  ConfigSource source;  // the configuration of this cell
};

struct Plan {
  std::string command;
  std::string mode = "grid";
  SeedRule seed_rule = SeedRule::derived;
  std::uint64_t base_seed = 1;
  ConfigSource base;  // the file or built-in text, and the [base] overrides
  std::vector<Axis> axes;
  std::map<std::string, bool> flags;  // the command's switches for every cell (check-step)
  std::vector<Cell> cells;

  // Everything that determines the results: a store holds one sweep.
  nlohmann::json identity() const;
};

// Reads a sweep file. InputError naming the sweep key (sweep.axis, sweep.mode...).
Plan read_plan(const std::string& path);

// Fills cells from the axes (and the base configuration's seed). `builtin`:
// the command's configuration when no file is named.
void expand(Plan& plan, const std::string& builtin);

// The seed rules (documented above).
std::uint64_t derived_seed(std::uint64_t base,
                           const std::vector<std::pair<std::string, std::string>>& params);
std::uint64_t index_seed(std::uint64_t base, const std::vector<std::size_t>& position);

const char* seed_rule_name(SeedRule r);

}  // namespace attnmc::sweep
