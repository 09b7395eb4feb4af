// The attnmc command line. Every command that runs an ensemble (the
// registry in host/cli/registry.cpp) reads the same configuration layer and
// takes the same options (host/cli/command.hpp); `sweep` runs any of them
// over a grid into a resumable store, `phase` is a sweep of the sphere
// model, `merge` joins pieces, `presets` lists the models. Bad input exits
// with code 2 and `attnmc: error: <parameter>: <message>`; any other failure
// exits with 1.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attnmc/error.hpp"
#include "attnmc/version.hpp"
#include "host/cli/command.hpp"
#include "host/cli/common_options.hpp"
#include "host/cli/execute.hpp"
#include "host/cli/merge_command.hpp"
#include "host/cli/openmp_wait_policy.hpp"
#include "host/cli/phase_command.hpp"
#include "host/cli/sweep_command.hpp"
#include "host/config.hpp"
#include "host/mpi/agree.hpp"
#include "host/mpi/gpu_assignment.hpp"
#include "host/mpi/scale_out_report.hpp"
#include "host/mpi/split_sweep.hpp"
#include "host/mpi/world.hpp"
#include "host/output.hpp"

namespace attnmc::cli {
namespace {

// The options every ensemble command shares, and its own shorthands.
struct CommandLine {
  const Command* command = nullptr;
  CommonOptions common;
  std::deque<std::string> alias_values;
  std::deque<bool> alias_flags;
  std::map<std::string, bool> switches;

  void add_to(CLI::App* c) {
    common.add_to(c, command->default_output, command->pieces);
    for (const FlagAlias& a : command->aliases) {
      const std::string help = a.help + " (= " + a.key + ")";
      if (a.kind == FlagAlias::Kind::flag) {
        alias_flags.push_back(false);
        alias_values.emplace_back();
        c->add_flag(a.names, alias_flags.back(), help);
      } else {
        alias_flags.push_back(false);
        alias_values.emplace_back();
        c->add_option(a.names, alias_values.back(), help);
      }
    }
    for (const auto& [name, help] : command->switches) {
      switches[name] = false;
      c->add_flag("--" + name, switches[name], help);
    }
  }

  ConfigSource source() const {
    ConfigSource s = common.source(command->builtin.c_str());
    // The shorthands come after --set, like the common named flags.
    std::vector<std::string> named;
    for (std::size_t i = 0; i < command->aliases.size(); ++i) {
      const FlagAlias& a = command->aliases[i];
      if (a.kind == FlagAlias::Kind::flag) {
        if (alias_flags[i]) named.push_back(a.key + "=true");
      } else if (!alias_values[i].empty()) {
        named.push_back(
            a.key + "=" +
            (a.kind == FlagAlias::Kind::list ? "[" + alias_values[i] + "]" : alias_values[i]));
      }
    }
    // Insert before the common flags (which CommonOptions appended after --set).
    s.overrides.insert(s.overrides.begin() + std::ptrdiff_t(common.set.size()), named.begin(),
                       named.end());
    return s;
  }

  // Under a launcher every rank runs this (host/mpi/): the input is checked on
  // every rank and an error reported once; a command that splits its
  // ensembles (Command::scale_out) runs on every rank, each computing its
  // share and all holding the merged result, and rank 0 alone writes the
  // output directory; any other command runs on rank 0 alone.
  void execute(const mpi::World& world) const {
    const ConfigSource src = source();
    mpi::agree(world, [&] { command->validate(src); });  // every input error before any work
    if (world.size() == 1) {
      run_alone(src);
    } else if (!command->scale_out) {
      if (world.root() && !common.quiet)
        warn(command->name + " does not split over processes: rank 0 runs it alone");
      mpi::agree_on_root(world, [&] { run_alone(src); });
    } else {
      run_split(src, world);
    }
  }

  RunContext context() const {
    RunContext cx;
    cx.progress = progress_printer(common.show_progress(), command->name);
    cx.quiet = common.quiet;
    cx.flags = switches;
    return cx;
  }

  // One process: the same path as the Python package (host/cli/execute.hpp).
  void run_alone(const ConfigSource& src) const {
    Execution e;
    e.output = common.output;
    e.force = common.force;
    e.context = context();
    report(execute_command(*command, src, e));
  }

  void run_split(const ConfigSource& src, const mpi::World& world) const {
    std::optional<StagedDirectory> dir;
    mpi::agree_on_root(world, [&] {
      check_output_dir(common.output, common.force);
      dir.emplace(common.output, common.force);
    });
    mpi::ScaleOutLog log;
    RunContext cx;
    if (world.root()) {
      cx = context();
    } else {  // the same run, with its files in a scratch directory that is dropped
      cx.quiet = true;
      cx.flags = switches;
      cx.flags["no-plot"] = true;
      dir.emplace(mpi::scratch_output_dir(world, "out"), false);
    }
    cx.world = &world;
    cx.scale_out = &log;
    const CommandResult r = command->run(src, *dir, cx);
    if (!world.root()) return;
    dir->commit();
    report(r);
    if (!common.quiet) std::fputs(mpi::throughput_lines(log).c_str(), stderr);
  }

  void report(const CommandResult& r) const {
    if (!common.quiet) std::printf("%s(written to %s)\n", r.table.c_str(), common.output.c_str());
    if (!r.failure.empty()) warn(r.failure);
  }
};

void presets_command() {
  for (const std::string& name : model_preset_names()) {
    const ModelSpec m = resolve_model(model_preset(name));
    std::printf(
        "%-16s attention=%s pre_norm=%s mlp=%s width=%d tokens=%d depth=%d heads=%d "
        "tau0=%g lambda=%.4f gamma=%.4f\n",
        name.c_str(), m.attention == AttentionKind::shaped ? "shaped" : "softmax",
        m.pre_norm ? "true" : "false", m.mlp ? "true" : "false", m.width, m.tokens, m.depth,
        m.heads, m.tau0, m.lambda, m.gamma);
  }
}

int error_exit(const std::string& message, int code) {
  std::fflush(stdout);
  std::fprintf(stderr, "attnmc: error: %s\n", message.c_str());
  return code;
}

// An error every rank met alike (the command line, an agreed failure):
// rank 0 prints it, every rank exits with the code.
int error_on_every_rank(const mpi::World& world, const std::string& message, int code) {
  return world.root() ? error_exit(message, code) : code;
}

// An error of this rank alone, while the others may be waiting for it in a
// collective: the job ends here, naming the rank.
int error_of_one_rank(const mpi::World& world, const std::string& message, int code) {
  if (world.size() == 1) return error_exit(message, code);
  error_exit("rank " + std::to_string(world.rank()) + ": " + message, code);
  std::fflush(stderr);
  world.abort(code);
}

}  // namespace
}  // namespace attnmc::cli

int main(int argc, char** argv) {
  using namespace attnmc;
  using namespace attnmc::cli;
  exec_with_passive_openmp_wait(argc, argv);  // first: before MPI or any thread starts
  // MPI only under a launcher (host/mpi/world.hpp); one GPU per rank before any CUDA call.
  mpi::World world(argc, argv);
  mpi::assign_gpu(world);
  CLI::App app{"attnmc: Monte Carlo ensembles of deep Transformers at random initialisation"};
  app.set_version_flag("--version", std::string("attnmc ") + kVersion);
  app.require_subcommand(1);

  std::deque<CommandLine> lines;
  std::vector<std::pair<CLI::App*, CommandLine*>> ensemble_commands;
  for (const Command& c : commands()) {
    lines.emplace_back();
    lines.back().command = &c;
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    lines.back().add_to(sub);
    ensemble_commands.emplace_back(sub, &lines.back());
  }
  SweepCommand sweep(app);
  PhaseCommand phase(app);
  MergeCommand merge(app);
  CLI::App* presets = app.add_subcommand("presets", "List the model presets");

  bool same_on_every_rank = true;  // until a command starts: the command line alone decides
  try {
    // An unknown command is an error (exit 2), also with --help after it.
    if (argc > 1 && argv[1][0] != '-') {
      bool known = false;
      std::string names;
      for (const CLI::App* sub : app.get_subcommands({})) {
        known = known || sub->get_name() == argv[1];
        names += (names.empty() ? "" : ", ") + sub->get_name();
      }
      if (!known)
        throw InputError(
            "command", std::string("unknown command '") + argv[1] + "' (commands: " + names + ")");
    }
    app.parse(argc, argv);
    same_on_every_rank = false;
    for (auto& [sub, line] : ensemble_commands)
      if (sub->parsed()) line->execute(world);
    if (sweep.parsed()) sweep.execute(world);
    if (phase.parsed()) phase.execute(world);
    if (merge.parsed()) mpi::agree_on_root(world, [&] { merge.execute(); });
    if (presets->parsed() && world.root()) presets_command();
    flush_stdout_or_throw();  // a full disk or closed pipe is a failure, not a success
    return 0;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return world.root() ? app.exit(e) : 0;  // --help, --version
    return error_on_every_rank(
        world, std::string("command line: ") + e.what() + " (see attnmc --help)", 2);
  } catch (const mpi::AgreedFailure& e) {
    return error_on_every_rank(world, e.what(), e.code());
  } catch (const InputError& e) {
    return same_on_every_rank ? error_on_every_rank(world, e.what(), 2)
                              : error_of_one_rank(world, e.what(), 2);
  } catch (const std::exception& e) {
    return same_on_every_rank ? error_on_every_rank(world, e.what(), 1)
                              : error_of_one_rank(world, e.what(), 1);
  }
}
