// `attnmc paths` from the command line: a prior run writes paths.h5,
// summary.json and table.txt with K_MC agreeing with K_GP; bad input
// (ragged sequences, labels of the wrong length, non-positive temperature
// or variances, heads of the wrong shape, an unknown mode) is refused with
// a message naming the key, exit code 2 and no output directory.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/cli_runner.hpp"
#include "tests/npy_writer.hpp"

namespace attnmc::test {
namespace {

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

std::vector<double> wave(std::size_t n, double phase) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::sin(0.37 * double(i) + phase);
  return v;
}

TEST(PathsCli, PriorRunWritesKernelsThatAgree) {
  const fs::path dir = scratch_dir("paths_cli_");
  fs::remove_all(dir / "out");
  const CliResult r = run_attnmc(
      "paths -q -B 3000 -n 6 --set task.train=6 --set task.test=4 --set task.tokens=6 "
      "--set task.features=10 -o " +
          (dir / "out").string(),
      dir);
  ASSERT_EQ(r.code, 0) << r.text();
  for (const char* f : {"summary.json", "paths.h5", "table.txt"})
    EXPECT_TRUE(fs::exists(dir / "out" / f)) << f;
  const nlohmann::json j = nlohmann::json::parse(slurp(dir / "out" / "summary.json"));
  EXPECT_EQ(j["family"], "paths");
  EXPECT_EQ(j["mode"], "prior");
  EXPECT_EQ(j["networks"], 3000);
  EXPECT_EQ(j["paths"], 4);
  EXPECT_TRUE(j["comparison"]["agree"].get<bool>()) << j["comparison"].dump(1);
}

struct BadCase {
  const char* name;
  std::string sets;  // --set options
  const char* key;   // must appear in the message
};

TEST(PathsCli, BadInputIsNamedWithExitTwoAndNothingWritten) {
  const fs::path dir = scratch_dir("paths_cli_");
  const int P = 3, n = 5, C = 4;
  write_npy(dir / "x.npy", {P, n, C}, wave(std::size_t(P * n * C), 0.0));
  write_npy(dir / "y.npy", {P}, {1, -1, 1});
  write_npy(dir / "y_short.npy", {P - 1}, {1, -1});
  write_npy(dir / "x_ragged.npy", {2, n, C + 1}, wave(std::size_t(2 * n * (C + 1)), 1.0));
  write_npy(dir / "x_2d.npy", {P, n * C}, wave(std::size_t(P * n * C), 0.0));
  write_npy(dir / "w.npy", {n, n}, wave(std::size_t(n * n), 2.0));
  write_npy(dir / "w_bad.npy", {n, n + 1}, wave(std::size_t(n * (n + 1)), 2.0));
  write_text(dir / "c.toml",
             "[task]\ntrain_file = \"x.npy\"\ntrain_labels = \"y.npy\"\n"
             "[heads]\nlayers = [[\"uniform\", \"file:w.npy\"], [\"random\"]]\n"
             "[model]\nwidth = 3\n[ensemble]\nmembers = 50\n");
  // The good configuration runs.
  {
    fs::remove_all(dir / "ok");
    const CliResult r = run_attnmc("paths c.toml -q -o ok", dir, dir);
    ASSERT_EQ(r.code, 0) << r.text();
    EXPECT_TRUE(fs::exists(dir / "ok" / "paths.h5"));
  }
  const std::vector<BadCase> cases = {
      {"ragged test sequences",
       "--set task.test_file=\"x_ragged.npy\" --set task.test_labels=\"y.npy\"", "task.test_file"},
      {"2-D sequences", "--set task.train_file=\"x_2d.npy\"", "task.train_file"},
      {"labels of the wrong length", "--set task.train_labels=\"y_short.npy\"",
       "task.train_labels"},
      {"zero temperature", "--set model.temperature=0", "model.temperature"},
      {"negative temperature", "--set model.temperature=-0.5", "model.temperature"},
      {"zero variance", "--set model.variance=0", "model.variance"},
      {"zero width", "--set model.width=0", "model.width"},
      {"negative variance", "--set model.variances=[1,-1,1,1]", "model.variances"},
      {"variances of the wrong length", "--set model.variances=[1,1]", "model.variances"},
      {"head of the wrong shape", "--set heads.layers=[[\"file:w_bad.npy\"]]", "heads.layers"},
      {"a layer without heads", "--set heads.layers=[[\"uniform\"],[]]", "heads.layers"},
      {"same-token head on a file task", "--set heads.layers=[[\"same_token\"]]", "heads.layers"},
      {"beta of the wrong shape", "--set heads.beta=[[1.0]]", "heads.beta"},
      {"unknown mode", "--set run.mode=guess", "run.mode"},
      {"unknown key", "--set model.depth=3", "model.depth"},
  };
  for (const BadCase& c : cases) {
    fs::remove_all(dir / "bad");
    const CliResult r = run_attnmc("paths c.toml -q -o bad " + c.sets, dir, dir);
    EXPECT_EQ(r.code, 2) << c.name << ": " << r.text();
    EXPECT_NE(r.err.find(c.key), std::string::npos) << c.name << ": " << r.err;
    EXPECT_FALSE(fs::exists(dir / "bad")) << c.name;
  }
}

}  // namespace
}  // namespace attnmc::test
