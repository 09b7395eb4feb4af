// One registered command run the way `attnmc COMMAND` runs it: every input
// error before any work or file, the output directory staged and committed
// atomically (a failed or cancelled run leaves nothing). The command line
// (host/cli/main.cpp) and the Python package (python/) both go through here.
#pragma once

#include <atomic>
#include <string>

#include "host/cli/command.hpp"

namespace attnmc::cli {

struct Execution {
  std::string output;  // the output directory
  bool force = false;  // replace an earlier attnmc output directory there
  RunContext context;  // progress, quiet, the command's switches
  // When set and true: stop after the chunk in flight (throws Cancelled,
  // attnmc/cancel.hpp), also checked once more before the commit.
  const std::atomic<bool>* cancel = nullptr;
};

// Throws InputError (bad configuration or output, nothing written), Error,
// or Cancelled.
CommandResult execute_command(const Command& command, const ConfigSource& source,
                              const Execution& execution);

}  // namespace attnmc::cli
