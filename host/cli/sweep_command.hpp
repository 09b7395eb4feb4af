// `attnmc sweep sweep.toml -o STORE`: one command over a grid of
// configurations into a resumable results store (host/sweep/).
#pragma once

#include <CLI/CLI.hpp>

#include "host/cli/common_options.hpp"

namespace attnmc::cli {

class SweepCommand {
 public:
  explicit SweepCommand(CLI::App& app);
  bool parsed() const { return sub_->parsed(); }
  void execute() const;

 private:
  CLI::App* sub_;
  CommonOptions o_;
};

}  // namespace attnmc::cli
