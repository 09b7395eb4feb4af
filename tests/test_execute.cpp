// execute_command (host/cli/execute.hpp), the one way the CLI and the Python
// package run a command, and cancellation (attnmc/cancel.hpp): a progress
// hook that throws Cancelled stops a run after the chunk in flight and
// leaves no output; in a sweep the cell in flight is not written (nor
// recorded as failed) and the store resumes.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "attnmc/cancel.hpp"
#include "attnmc/error.hpp"
#include "host/cli/execute.hpp"
#include "host/sweep/run_sweep.hpp"
#include "tests/cli_runner.hpp"

namespace {

namespace fs = std::filesystem;
using namespace attnmc;

ConfigSource small_run(std::uint64_t members) {
  ConfigSource s;
  s.text = "[model]\nwidth = 16\ntokens = 2\ndepth = 8\n[ensemble]\nchunk = 10\nmembers = " +
           std::to_string(members) + "\n";
  return s;
}

TEST(Execute, WritesWhatTheCommandWrites) {
  const fs::path dir = test::scratch_dir("attnmc_execute_");
  fs::remove_all(dir / "out");
  cli::Execution e;
  e.output = (dir / "out").string();
  std::uint64_t last = 0;
  e.context.progress = [&](std::uint64_t done, std::uint64_t) { last = done; };
  const cli::CommandResult r = cli::execute_command(*cli::find_command("run"), small_run(100), e);
  EXPECT_EQ(last, 100u);
  EXPECT_EQ(r.members, 100u);
  for (const char* f : {"stats.h5", "summary.json", "table.txt"})
    EXPECT_TRUE(fs::is_regular_file(dir / "out" / f)) << f;
  fs::remove_all(dir);
}

TEST(Execute, BadInputIsRefusedBeforeAnyFile) {
  const fs::path dir = test::scratch_dir("attnmc_execute_");
  fs::remove_all(dir / "out");
  cli::Execution e;
  e.output = (dir / "out").string();
  ConfigSource s = small_run(100);
  s.overrides = {"model.zzz=1"};
  try {
    cli::execute_command(*cli::find_command("run"), s, e);
    FAIL() << "no error";
  } catch (const InputError& err) {
    EXPECT_EQ(err.parameter(), "model.zzz");
  }
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}

TEST(Execute, CancelStopsAfterTheChunkInFlightAndWritesNothing) {
  const fs::path dir = test::scratch_dir("attnmc_execute_");
  fs::remove_all(dir / "out");
  std::atomic<bool> cancel{false};
  int calls = 0;
  cli::Execution e;
  e.output = (dir / "out").string();
  e.cancel = &cancel;
  e.context.progress = [&](std::uint64_t, std::uint64_t) {
    ++calls;
    cancel = true;  // as the Python package does on Ctrl-C
  };
  EXPECT_THROW(cli::execute_command(*cli::find_command("run"), small_run(1000), e), Cancelled);
  EXPECT_EQ(calls, 1);  // 100 chunks: the run stopped at the next one
  EXPECT_TRUE(fs::is_empty(dir)) << "no output, no staging directory";
  // The SDE's engine lets it through the same way.
  calls = 0;
  cancel = false;
  ConfigSource sde;
  sde.text = "[ensemble]\nmembers = 1000\nchunk = 10\n";
  EXPECT_THROW(cli::execute_command(*cli::find_command("sde"), sde, e), Cancelled);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}

TEST(Execute, CancelledSweepCellIsNotWrittenAndTheStoreResumes) {
  const fs::path dir = test::scratch_dir("attnmc_execute_");
  fs::remove_all(dir / "store");
  std::ofstream(dir / "plan.toml") << R"(
[sweep]
command = "run"
[[sweep.axis]]
key = "model.width"
values = [8, 16, 32]
[base.model]
tokens = 2
depth = 8
[base.ensemble]
members = 100
chunk = 10
)";
  sweep::SweepOptions opt;
  opt.quiet = true;
  opt.progress_hook = [](std::uint64_t done, std::uint64_t total) {
    EXPECT_EQ(total, 300u);
    if (done > 100) throw Cancelled{};  // in the second cell
  };
  const fs::path store = dir / "store";
  EXPECT_THROW(
      sweep::run_sweep(sweep::read_plan((dir / "plan.toml").string()), store.string(), opt),
      Cancelled);
  EXPECT_TRUE(fs::exists(store / "cells" / "0000" / "cell.json"));
  EXPECT_FALSE(fs::exists(store / "cells" / "0001"));
  opt.progress_hook = {};
  const sweep::SweepOutcome r =
      sweep::run_sweep(sweep::read_plan((dir / "plan.toml").string()), store.string(), opt);
  EXPECT_EQ(r.reused, 1u);
  EXPECT_EQ(r.computed, 2u);
  EXPECT_EQ(r.failed, 0u);
  fs::remove_all(dir);
}

}  // namespace
