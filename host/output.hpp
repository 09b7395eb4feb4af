// Output directories, written atomically: everything is built in a hidden
// sibling directory and renamed into place at the end, so a failed or
// interrupted run never leaves a half-written result (or clobbers an old one).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attnmc/engine.hpp"

namespace attnmc {

// Whether `name` (a file, or a directory when is_directory) is one attnmc
// writes into an output directory (the list is in output.cpp; also
// ".<file>.tmp-<pid>", a sweep store's half-written file). --force replaces
// a directory only when every entry is one, so nothing of the user's is
// ever deleted.
bool is_attnmc_output_entry(const std::string& name, bool is_directory);

// Writes `text` to `path` (created or truncated), checking every write and
// the close. Throws Error("output: cannot write <display_name>: <reason>"):
// display_name is what the user knows (the final path, not a staging one).
void write_file_checked(const std::string& path, const std::string& text,
                        const std::string& display_name);

// fflush(stdout) and ferror(stdout): throws Error (a std::runtime_error)
// "cannot write standard output: <reason>" (a full disk, a closed pipe...),
// so a command whose printed result was lost does not exit 0.
void flush_stdout_or_throw();

// Checks, before any simulation, that `dir` can be produced: it is absent or
// an empty directory (or --force and it holds only attnmc's own files, see
// is_attnmc_output_entry), and its nearest existing ancestor is a writable
// directory. Throws InputError("output", ...). First removes the staging
// directories next to it that dead processes left (SIGKILL), with a note on
// stderr, and puts back an old result such a process had moved aside.
void check_output_dir(const std::string& dir, bool force);

// A hidden sibling of the final directory. Files go into path(); commit()
// renames it into place (replacing an existing directory only when forced).
// Destroying an uncommitted one removes it and any parents it created.
// SIGINT, SIGTERM and SIGHUP remove live staging directories too (handlers
// installed with the first one; an earlier handler is chained, an ignored
// signal stays ignored; otherwise the signal is re-raised with its default
// action). The name, ".<name>.tmp-<pid>-<host>-XXXXXX", tells a later run
// whether its owner is dead (see check_output_dir).
class StagedDirectory {
 public:
  StagedDirectory(std::string final_dir, bool force);
  ~StagedDirectory();
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;

  const std::string& path() const { return staging_; }
  std::string file(const std::string& name) const { return staging_ + "/" + name; }
  // Throws Error naming the final path ("output: cannot write out/x/name: ...").
  void write_text(const std::string& name, const std::string& text) const;
  void commit();

 private:
  std::string final_;
  std::string display_;  // final_dir as given, for messages
  std::string staging_;
  bool force_;
  bool committed_ = false;
  int slot_ = -1;                             // in the signal handlers' table
  std::vector<std::string> created_parents_;  // deepest last
};

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
