// One command-line grammar for every command that runs an ensemble. A
// Command declares its name, built-in configuration, the flags that are
// shorthands for its configuration keys, and how to run one configuration
// into an output directory. The CLI (host/cli/main.cpp) gives every Command
// the same options (a TOML file, --set, -o, --force, -q, --progress, --seed,
// --threads, --device, -B/--members, --range) and the same precedence: the
// file (or the built-in text), then --set, then the named flags. The sweep
// (host/sweep/) runs the same Commands into the cells of a store.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attnmc/engine.hpp"
#include "host/config/toml_layer.hpp"
#include "host/output.hpp"

namespace attnmc {
struct SdeResult;
}
namespace attnmc::mpi {
class World;
struct ScaleOutLog;
}  // namespace attnmc::mpi

namespace attnmc::cli {

// A flag that is a shorthand for a configuration key: `--beta 2` is
// `--set model.beta=2`. list: "8,16" becomes [8, 16]; flag: no value, = true.
struct FlagAlias {
  enum class Kind { value, list, flag };
  std::string names;  // CLI11 names, e.g. "--tokens,-N"
  std::string key;    // e.g. "model.tokens"
  std::string help;
  Kind kind = Kind::value;
};

// How a run is carried out (not part of its result).
struct RunContext {
  Progress progress;
  bool timing = true;                 // false in sweeps: no timings, the bytes repeat
  bool quiet = false;                 // no notes on stderr
  std::map<std::string, bool> flags;  // the command's own switches (--no-plot)
  // Scale-out (host/mpi/split_ensemble.hpp): the processes that share each
  // ensemble of this run (null: this process alone), and what each did.
  const mpi::World* world = nullptr;
  mpi::ScaleOutLog* scale_out = nullptr;
};

// What one run left in its output directory, for the terminal and for sweeps.
struct CommandResult {
  std::string table;          // printed unless -q; also table.txt
  nlohmann::json scalars;     // headline numbers of the run (a sweep's cells.csv columns)
  std::string failure;        // non-empty: the run failed numerically, and why
  std::uint64_t members = 0;  // members simulated (for rates)
};

struct Command {
  std::string name, help;
  std::string default_output;  // used when -o is not given
  std::string builtin;         // the configuration without a file (TOML)
  std::vector<FlagAlias> aliases;
  std::vector<std::pair<std::string, std::string>> switches;  // own flags: name, help
  bool pieces = true;  // takes --range (a piece of the ensemble for `attnmc merge`)
  // Its ensembles split over the processes of an MPI job (through
  // RunContext::world); a command without runs on rank 0 alone there.
  bool scale_out = false;
  // Loads and resolves the configuration: throws InputError naming the key.
  // Returns the ensemble size (for progress and rates).
  std::function<std::uint64_t(const ConfigSource&)> validate;
  // Runs it, writing into `dir` (summary.json, stats.h5, table.txt, ...).
  std::function<CommandResult(const ConfigSource&, StagedDirectory& dir, const RunContext&)> run;
};

// Every command, in the order of `attnmc --help`.
const std::vector<Command>& commands();
const Command* find_command(const std::string& name);  // nullptr if none

// The shorthands of the shaped-Transformer coefficients and input (sde, compare).
std::vector<FlagAlias> model_aliases();

// The commands, one per family (host/cli/*_command.cpp).
Command run_command();
Command collapse_command();
Command sde_command();
Command sphere_command();
Command compare_command();
Command oversmooth_command();  // host/cli/oversmooth_command.cpp
Command paths_command();       // host/cli/paths_command.cpp

// Shared helpers of the command files.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
Progress progress_printer(bool enabled, std::string label);
// scripts/NAME beside the binary, one level up, or in the source tree ("" if none).
std::string find_script(const std::string& name);
std::string shell_quote(const std::string& s);
// summary.json without what varies run to run (timings) when !cx.timing.
void write_summary(StagedDirectory& dir, nlohmann::json summary, const RunContext& cx);
// Prints "attnmc: warning: ..." on stderr.
void warn(const std::string& message);

// The step-halving check of the time-stepped commands (--check-step): the
// headline statistics (name, value, standard error) of a run at dt and of
// the same run at dt / 2. For a scheme of weak order p the bias of the dt
// run is estimated as (x_dt - x_dt/2) / (1 - 2^-p), with its standard error
// from the two runs' (independent draws: the steps differ). "detected" when
// the change exceeds twice its standard error.
struct Headline {
  std::string name;
  double value = 0.0, stderr_ = 0.0;
};
nlohmann::json step_check_json(double dt, int order, const std::vector<Headline>& at_dt,
                               const std::vector<Headline>& at_half);
std::string step_check_table(const nlohmann::json& check);
// The SDE's headlines: terminal mean rho_01 and the fraction blown up (sde, compare).
std::vector<Headline> sde_headlines(const SdeResult& r);
bool flag(const RunContext& cx, const std::string& name);
inline constexpr const char* kCheckStepHelp =
    "run again at half the step and report the estimated step bias of the headline statistics "
    "next to their standard errors (summary.json step_check)";

// The `run` table (also what `attnmc merge` prints) and its pieces.
std::string run_table(const EnsembleResult& r, bool timing = true);
double mean_pair_rho(const LayerStatistics& L, int m);
std::string input_description(const RunSpec& s);
// Non-empty when no member of the last record is finite: why the run failed.
std::string all_nonfinite_failure(const EnsembleStatistics& st, const char* what);

}  // namespace attnmc::cli
