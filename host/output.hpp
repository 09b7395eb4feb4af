// Output directories, written atomically: everything is built in a hidden
// sibling directory and renamed into place at the end, so a failed or
// interrupted run never leaves a half-written result (or clobbers an old one).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attnmc/engine.hpp"

namespace attnmc {

// Checks, before any simulation, that `dir` can be produced: it is absent or
// an empty directory (or --force), and its nearest existing ancestor is a
// writable directory. Throws InputError("output", ...).
void check_output_dir(const std::string& dir, bool force);

// A hidden sibling of the final directory. Files go into path(); commit()
// renames it into place (replacing an existing directory only when forced).
// Destroying an uncommitted one removes it and any parents it created.
class StagedDirectory {
 public:
  StagedDirectory(std::string final_dir, bool force);
  ~StagedDirectory();
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;

  const std::string& path() const { return staging_; }
  std::string file(const std::string& name) const { return staging_ + "/" + name; }
  void write_text(const std::string& name, const std::string& text) const;
  void commit();

 private:
  std::string final_;
  std::string staging_;
  bool force_;
  bool committed_ = false;
  std::vector<std::string> created_parents_;  // deepest last
};

// stats.h5 (see write_stats_h5), summary.json, table.txt into `dir`.
void write_run_output(const std::string& dir, bool force, const EnsembleResult& result,
                      const std::string& table);

// The HDF5 file of a run's statistics (R records, Q quantile levels, m tokens):
//   layers [R] int32, t [R] = layer / width (SDE: record times),
//   members/nonfinite/overflow/blowup [R] int64,
//   gram_mean, gram_var, rho_mean, rho_var [R, m, m],
//   gram_quantiles, rho_quantiles [R, Q, m, m] (attributes quantile_levels and
//   the stated error bound max_rel_error / max_abs_error, 0 when exact),
//   quantile_levels [Q], rho_histogram [R, pairs, bins] (pairs a < b
//   row-major), rho_histogram_edges [bins + 1];
//   file attributes version, seed, ensemble_members, member_begin,
//   member_end, width, tokens, depth, model, device, sampler;
//   group state: the full mergeable state (host/stats_state.hpp).
// family_config: what else identifies the run (the SDE's scheme, steps...).
void write_stats_h5(const std::string& path, const EnsembleResult& result,
                    const nlohmann::json& family_config = nullptr);

// The resolved configuration without execution keys (chunk, memory cap,
// member range, device, threads): pieces of one ensemble share it.
nlohmann::json canonical_config(const EnsembleResult& result, const nlohmann::json& family_config);

// summary.json: resolved configuration, version, seed, device, sampler,
// chunk, threads, timings, per-layer non-finite/overflow counts.
nlohmann::json run_summary_json(const EnsembleResult& result);

}  // namespace attnmc
