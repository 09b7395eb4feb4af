// The commands that run ensembles, in the order of `attnmc --help`. A new
// family adds its Command here (and nowhere else in the CLI or the sweep).
#include "host/cli/command.hpp"

namespace attnmc::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
      run_command(),     collapse_command(),   sde_command(),  sphere_command(),
      compare_command(), oversmooth_command(), paths_command()};
  return all;
}

const Command* find_command(const std::string& name) {
  for (const Command& c : commands())
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace attnmc::cli
