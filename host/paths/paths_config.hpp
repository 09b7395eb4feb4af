// The configuration of `attnmc paths` ([task] [heads] [model] [ensemble]
// [run], plus one section per mode that the mode reads itself, e.g.
// [theory]); see README "attnmc paths". Relative file names are relative to
// the configuration file.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>

#include "attnmc/paths.hpp"
#include "host/config/toml_layer.hpp"

namespace attnmc {

struct PathsConfig {
  PathsSpec spec;    // resolved (resolve_paths)
  toml::table root;  // the merged table, the modes' own sections included
  std::filesystem::path base_dir;
};

// Throws InputError naming the dotted key. `mode_sections`: the sections the
// modes read themselves (skipped here; host/paths/paths_modes.hpp).
PathsConfig load_paths_config(const ConfigSource& source,
                              const std::vector<std::string>& mode_sections);

nlohmann::json paths_spec_json(const PathsSpec& resolved);

}  // namespace attnmc
