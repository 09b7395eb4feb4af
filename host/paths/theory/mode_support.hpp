// What run.mode = theory and run.mode = posterior share: the theory model
// and overlap data from the resolved spec and task, their own configuration
// sections ([theory], [posterior]) with errors naming the dotted key, and the
// HDF5 writers. Internal to host/paths/theory/.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "attnmc/paths_theory.hpp"
#include "host/paths/paths_modes.hpp"

namespace attnmc::paths {

PathsTheoryModel theory_model(const PathsSpec& spec, long width_override = 0);
PathOverlapData overlap_data(const PathsSpec& spec, const PathsTask& task);

// The keys of one section: name -> node; an unknown key throws InputError
// "section.key" listing the known ones.
std::map<std::string, const toml::node*> section_keys(const toml::table& root,
                                                      const std::string& section,
                                                      const std::vector<std::string>& known);

// section.widths: a scan over N (every width N_1 .. N_L, N_a = N); empty = the model's widths.
std::vector<long> width_scan(const std::map<std::string, const toml::node*>& keys,
                             const std::string& section);

// Flattened per-width results, written as datasets of `file`.
struct H5Table {
  std::vector<
      std::pair<std::string, std::pair<std::vector<unsigned long long>, std::vector<double>>>>
      sets;
  void add(const std::string& name, std::vector<unsigned long long> dims, std::vector<double> v) {
    sets.push_back({name, {std::move(dims), std::move(v)}});
  }
};
void write_h5(const std::string& path, const H5Table& t, const std::string& mode);

// The end of a theory or posterior run: summary.json (with the GP's test
// accuracy and any failure), table.txt, and the command's headline numbers
// (defined in theory_mode.cpp).
cli::CommandResult finish_theory_run(nlohmann::json summary, const std::string& table,
                                     const std::string& failure, double test_accuracy,
                                     double gp_test_accuracy, StagedDirectory& dir,
                                     const cli::RunContext& cx);

}  // namespace attnmc::paths
