// `attnmc merge A B ... -o C`: pieces of one ensemble (output directories or
// stats.h5 files) into the statistics of the whole, to the bit.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace attnmc::cli {

// Merges the pieces into `output` (written atomically); returns what the
// command prints. Throws InputError naming the problem, nothing written.
std::string merge_pieces(const std::vector<std::string>& inputs, const std::string& output,
                         bool force);

class MergeCommand {
 public:
  explicit MergeCommand(CLI::App& app);
  bool parsed() const { return sub_->parsed(); }
  void execute() const;

 private:
  CLI::App* sub_;
  std::vector<std::string> inputs_;
  std::string output_;
  bool force_ = false, quiet_ = false;
};

}  // namespace attnmc::cli
