// Where the tests put their scratch files: under the system's temporary
// directory, in a folder named after this build tree, so that two checkouts
// running the suite at the same time (CI beside a developer, two worktrees)
// never write into each other's directories.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

namespace attnmc::test {

inline std::filesystem::path temp_root() {
  static const std::filesystem::path root = [] {
    const std::size_t build = std::hash<std::string>{}(ATTNMC_BINARY_DIR);
    const std::filesystem::path p =
        std::filesystem::temp_directory_path() / ("attnmc-tests-" + std::to_string(build));
    std::filesystem::create_directories(p);
    return p;
  }();
  return root;
}

}  // namespace attnmc::test
