// The mode table of `attnmc paths` (paths_modes.hpp). A new mode adds one
// line here and its own files.
#include "host/paths/paths_modes.hpp"

#include "attnmc/version.hpp"
#include "host/paths/paths_config.hpp"

namespace attnmc::paths {

const std::vector<Mode>& modes() {
  static const std::vector<Mode> all = {
      prior_mode(),
      direct_mode(),     // host/paths/direct_mode.cpp
      theory_mode(),     // host/paths/theory/theory_mode.cpp
      posterior_mode(),  // host/paths/theory/posterior_mode.cpp
  };
  return all;
}

const Mode* find_mode(const std::string& name) {
  for (const Mode& m : modes())
    if (m.name == name) return &m;
  return nullptr;
}

nlohmann::json mode_summary(const std::string& mode, const PathsSpec& resolved) {
  nlohmann::json j;
  j["version"] = kVersion;
  j["family"] = "paths";
  j["mode"] = mode;
  j["config"] = paths_spec_json(resolved);
  return j;
}

std::vector<std::string> mode_sections() {
  std::vector<std::string> s;
  for (const Mode& m : modes()) s.insert(s.end(), m.sections.begin(), m.sections.end());
  return s;
}

}  // namespace attnmc::paths
