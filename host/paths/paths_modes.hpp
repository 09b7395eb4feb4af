// The modes of `attnmc paths CONFIG` (run.mode): one table
// (host/paths/paths_modes.cpp), one entry per mode, each mode's code in its
// own files. A mode may own configuration sections (e.g. [theory]) that it
// reads itself from the merged table; the common sections ([task] [heads]
// [model] [ensemble] [run]) are already in the spec.
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attnmc/paths.hpp"
#include "host/cli/command.hpp"

namespace attnmc::paths {

struct ModeInput {
  const PathsSpec& spec;           // resolved
  const PathsTask& task;           // sequences, labels, heads' W
  const toml::table& root;         // the whole configuration (the mode's own sections in it)
  std::filesystem::path base_dir;  // where relative file names in it are
};

struct Mode {
  std::string name, help;
  std::vector<std::string> sections;  // configuration sections this mode reads itself
  // Checks the mode's own keys before anything is written: InputError(dotted key).
  // Returns the ensemble size (networks, chains; for progress and rates).
  std::function<std::uint64_t(const ModeInput&)> check;
  // Writes summary.json and the mode's files into dir (staged by the CLI).
  std::function<cli::CommandResult(const ModeInput&, StagedDirectory& dir,
                                   const cli::RunContext& cx)>
      run;
};

// The table, in `attnmc paths --help` order.
const std::vector<Mode>& modes();
const Mode* find_mode(const std::string& name);  // nullptr if none
// Every section some mode reads itself.
std::vector<std::string> mode_sections();

// summary.json's common part of every mode: version, family, mode and the
// resolved configuration.
nlohmann::json mode_summary(const std::string& mode, const PathsSpec& resolved);

// The entries (one per file).
Mode prior_mode();      // host/paths/prior_mode.cpp: the prior Monte Carlo and K_GP
Mode direct_mode();     // host/paths/direct_mode.cpp: the weight-space posterior (HMC chains)
Mode theory_mode();     // host/paths/theory/theory_mode.cpp: the saddle point
Mode posterior_mode();  // host/paths/theory/posterior_mode.cpp: the exact reduced posterior

}  // namespace attnmc::paths
