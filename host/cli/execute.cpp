// See execute.hpp.
#include "host/cli/execute.hpp"

#include "attnmc/cancel.hpp"
#include "host/output.hpp"

namespace attnmc::cli {

CommandResult execute_command(const Command& command, const ConfigSource& source,
                              const Execution& e) {
  command.validate(source);  // every input error before any work or file
  check_output_dir(e.output, e.force);
  StagedDirectory dir(e.output, e.force);
  RunContext cx = e.context;
  if (e.cancel) {
    const std::atomic<bool>* cancel = e.cancel;
    cx.progress = [cancel, inner = e.context.progress](std::uint64_t done, std::uint64_t total) {
      if (cancel->load()) throw Cancelled{};
      if (inner) inner(done, total);
    };
  }
  CommandResult r = command.run(source, dir, cx);
  if (e.cancel && e.cancel->load()) throw Cancelled{};
  dir.commit();
  return r;
}

}  // namespace attnmc::cli
