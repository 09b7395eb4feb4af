// The options every ensemble command takes, spelled alike everywhere: a TOML
// file, --set overrides, then the named flags (--device, --seed, --threads,
// -B/--members, --range), and the output options (-o, --force, -q,
// --progress).
#pragma once

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "attnmc/error.hpp"
#include "host/config/toml_layer.hpp"

namespace attnmc::cli {

struct CommonOptions {
  std::string config;
  std::vector<std::string> set;
  std::string device, seed, threads, members, range;
  std::string output;
  bool force = false, quiet = false, progress = false;

  void add_to(CLI::App* c, const std::string& default_output, bool with_range = true) {
    output = default_output;
    c->add_option("config", config, "TOML configuration file (default: built-in experiment)");
    c->add_option("--set,-s", set, "override a configuration key: section.key=value (repeatable)")
        ->allow_extra_args(false);  // one key=value per --set; the config stays positional
    c->add_option("--device", device, "cpu | cuda | auto (= run.device)");
    // Checked as ensemble.seed (get_seed), which it sets.
    c->add_option("--seed", seed, "random seed, 0 to 2^64 - 1 (= ensemble.seed)");
    c->add_option("--threads", threads, "CPU threads, 0 = all (= run.threads)");
    c->add_option("--members,-B", members,
                  "ensemble size: networks, paths or trajectories (= ensemble.members)");
    if (with_range)
      c->add_option("--range", range,
                    "run only members BEGIN:END of the ensemble, a piece for `attnmc merge` "
                    "(= ensemble.member_begin, ensemble.member_end)");
    c->add_option("--output,-o", output, "output directory (written atomically)")
        ->capture_default_str();
    c->add_flag("--force", force, "replace an existing attnmc output directory");
    c->add_flag("--quiet,-q", quiet, "print nothing but errors");
    c->add_flag("--progress", progress,
                "show progress on stderr even when it is not a terminal (plain lines)");
  }

  // The file (or the built-in text), then --set, then the named flags.
  ConfigSource source(const char* builtin) const {
    ConfigSource s;
    s.path = config;
    if (config.empty()) s.text = builtin;
    s.overrides = set;
    for (const std::string& o : named_overrides()) s.overrides.push_back(o);
    return s;
  }

  // --device and --threads: how to run, not what (a sweep keeps them out of
  // its identity).
  std::vector<std::string> execution_overrides() const {
    std::vector<std::string> o;
    if (!device.empty()) o.push_back("run.device=" + device);
    if (!threads.empty()) o.push_back("run.threads=" + threads);
    return o;
  }

  std::vector<std::string> named_overrides() const {
    std::vector<std::string> o = execution_overrides();
    // Quoted: TOML integers stop at 2^63 - 1, seeds at 2^64 - 1.
    if (!seed.empty()) o.push_back("ensemble.seed=\"" + seed + "\"");
    if (!members.empty()) o.push_back("ensemble.members=" + members);
    if (!range.empty()) {
      const std::size_t colon = range.find(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == range.size())
        throw InputError("--range", "expected BEGIN:END, e.g. 0:5000 (got '" + range + "')");
      o.push_back("ensemble.member_begin=" + range.substr(0, colon));
      o.push_back("ensemble.member_end=" + range.substr(colon + 1));
    }
    return o;
  }

  bool show_progress() const { return !quiet && (progress || ::isatty(STDERR_FILENO)); }
};

}  // namespace attnmc::cli
