// `attnmc paths CONFIG`: Bayesian multi-head attention and its attention
// paths (models.md section 4; include/attnmc/paths.hpp). The configuration
// ([task] [heads] [model] [ensemble] [run], host/paths/paths_config.hpp)
// picks a mode with run.mode (host/paths/paths_modes.hpp): prior (the prior
// Monte Carlo against K_GP), and the modes other files register.
#include "attnmc/error.hpp"
#include "host/cli/command.hpp"
#include "host/paths/paths_config.hpp"
#include "host/paths/paths_modes.hpp"

namespace attnmc::cli {
namespace {

// A small Markov-chain task (the paper's section 4 with fewer sequences):
// the prior Monte Carlo at N = 30 in a few seconds on 2 cores.
const char* const kDefaultPaths = R"(
[task]
kind = "markov"
train = 20
test = 20
[heads]
layers = [["same_token", "random"], ["uniform", "random"]]
beta = 10.0
[model]
width = 30
variance = 1.0
temperature = 0.01
[ensemble]
members = 4000
seed = 1
[run]
mode = "prior"
)";

struct Loaded {
  PathsConfig config;
  PathsTask task;
  const paths::Mode* mode = nullptr;
};

Loaded load(const ConfigSource& src) {
  Loaded l;
  l.config = load_paths_config(src, paths::mode_sections());
  l.mode = paths::find_mode(l.config.spec.mode);
  if (l.mode == nullptr) {
    std::string list;
    for (const paths::Mode& m : paths::modes()) list += (list.empty() ? "" : ", ") + m.name;
    throw InputError("run.mode", "mode '" + l.config.spec.mode +
                                     "' is not available in this build (available: " + list + ")");
  }
  l.task = make_paths_task(l.config.spec);
  return l;
}

}  // namespace

Command paths_command() {
  Command c;
  c.name = "paths";
  c.help =
      "Attention paths in Bayesian multi-head attention (models.md section 4): run.mode = prior "
      "(Monte Carlo over random networks against the exact K_GP), theory, posterior, direct";
  c.default_output = "out/paths";
  c.builtin = kDefaultPaths;
  c.pieces = false;
  c.aliases = {
      {"--mode", "run.mode", "prior | theory | posterior | direct"},
      {"--width,-n", "model.width", "every hidden width N (N_1 .. N_L, N_a)"},
      {"--chunk", "ensemble.chunk", "networks per chunk (0: fit the memory cap)"},
  };
  c.validate = [](const ConfigSource& src) {
    const Loaded l = load(src);
    return l.mode->check(paths::ModeInput{l.config.spec, l.task, l.config.root, l.config.base_dir});
  };
  c.run = [](const ConfigSource& src, StagedDirectory& dir, const RunContext& cx) {
    const Loaded l = load(src);
    const paths::ModeInput in{l.config.spec, l.task, l.config.root, l.config.base_dir};
    l.mode->check(in);
    return l.mode->run(in, dir, cx);
  };
  return c;
}

}  // namespace attnmc::cli
