// Runs the built `attnmc` binary for the CLI suites: one helper instead of a
// copy per suite. Output is captured through files in a per-test scratch
// directory, since ctest runs the tests of a suite in parallel processes.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/scratch.hpp"

namespace attnmc::test {

namespace fs = std::filesystem;

inline std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// A directory named after the running test (created if missing).
inline fs::path scratch_dir(const std::string& prefix) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir =
      attnmc::test::temp_root() / (prefix + info->test_suite_name() + "_" + info->name());
  fs::create_directories(dir);
  return dir;
}

struct CliResult {
  int code = -1;
  std::string out, err;
  std::string text() const { return out + err; }  // everything it printed
};

// Runs `attnmc ARGS` (in `cwd` when given); its stdout/stderr pass through
// files in `scratch`, removed afterwards. `env` ("VAR=value ...") and
// `launcher` ("mpirun -np 2 ") go in front of the binary.
inline CliResult run_attnmc(const std::string& args, const fs::path& scratch,
                            const fs::path& cwd = {}, const std::string& env = "",
                            const std::string& launcher = "") {
  const fs::path out = scratch / "stdout.txt", err = scratch / "stderr.txt";
  const std::string cmd = (cwd.empty() ? "" : "cd " + cwd.string() + " && ") +
                          (env.empty() ? "" : "env " + env + " ") + launcher +
                          std::string(ATTNMC_BINARY_DIR "/attnmc ") + args + " >" + out.string() +
                          " 2>" + err.string();
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  fs::remove(out);
  fs::remove(err);
  return r;
}

}  // namespace attnmc::test
