// `attnmc run --range` pieces merged by `attnmc merge` give exactly the bytes
// of stats.h5 of one run, for both samplers, any piece sizes and order, any
// chunk size and thread count; merge refuses mismatched configurations,
// seeds, samplers, overlapping and missing member ranges (exit 2, named
// error, no output).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/cli_runner.hpp"

using namespace attnmc::test;

namespace {

class MergeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = scratch_dir("attnmc_merge_");
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  CliResult run(const std::string& args) { return run_attnmc(args, dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string bytes(const std::string& name) const { return slurp(dir_ / name / "stats.h5"); }
  fs::path dir_;
};

const std::string kModel =
    "run -B 61 --seed 5 --set model.width=16 --set model.tokens=3 --set model.depth=12 "
    "--set model.heads=2 -q ";

}  // namespace

// Runs attnmc and fails the test (showing its stderr) unless it exits 0.
#define RUNS(args)                   \
  do {                               \
    const CliResult r_ = run(args);  \
    ASSERT_EQ(r_.code, 0) << r_.err; \
  } while (0)

TEST_F(MergeCli, PiecesMergeIntoTheBytesOfOneRun) {
  for (const std::string sampler : {"exact", "direct"}) {
    const std::string m = kModel + "--set ensemble.sampler=" + sampler + " ";
    RUNS(m + "-o " + path(sampler + "_whole"));
    // Same bits whatever the chunk size and thread count.
    for (const std::string exec :
         {"--set ensemble.chunk=1 --threads 1", "--set ensemble.chunk=7 --threads 2"}) {
      RUNS(m + exec + " -o " + path(sampler + "_exec"));
      EXPECT_EQ(bytes(sampler + "_exec"), bytes(sampler + "_whole")) << sampler << " " << exec;
      fs::remove_all(path(sampler + "_exec"));
    }
    // Two pieces, and three of odd sizes merged out of order.
    RUNS(m + "--range 0:30 -o " + path(sampler + "_a"));
    RUNS(m + "--range 30:61 --set ensemble.chunk=7 -o " + path(sampler + "_b"));
    RUNS("merge " + path(sampler + "_b") + " " + path(sampler + "_a") + " -q -o " +
         path(sampler + "_ab"));
    EXPECT_EQ(bytes(sampler + "_ab"), bytes(sampler + "_whole")) << sampler;
    RUNS(m + "--range 0:13 --threads 1 -o " + path(sampler + "_p"));
    RUNS(m + "--range 13:42 -o " + path(sampler + "_q"));
    RUNS(m + "--range 42:61 --set ensemble.chunk=1 -o " + path(sampler + "_r"));
    RUNS("merge " + path(sampler + "_q") + " " + path(sampler + "_r") + " " + path(sampler + "_p") +
         " -q -o " + path(sampler + "_pqr"));
    EXPECT_EQ(bytes(sampler + "_pqr"), bytes(sampler + "_whole")) << sampler;
    // A merged piece merges again: ((p, q), r) = whole.
    RUNS("merge " + path(sampler + "_p") + " " + path(sampler + "_q") + " -q -o " +
         path(sampler + "_pq"));
    RUNS("merge " + path(sampler + "_pq") + " " + path(sampler + "_r") + " -q -o " +
         path(sampler + "_pq_r"));
    EXPECT_EQ(bytes(sampler + "_pq_r"), bytes(sampler + "_whole")) << sampler;
  }
}

TEST_F(MergeCli, ExactQuantilePiecesMergeIntoTheBytesOfOneRun) {
  const std::string m = kModel + "--set ensemble.exact_quantiles=true ";
  RUNS(m + "-o " + path("whole"));
  RUNS(m + "--range 0:17 -o " + path("a"));
  RUNS(m + "--range 17:61 -o " + path("b"));
  RUNS("merge " + path("b") + " " + path("a") + " -q -o " + path("ab"));
  EXPECT_EQ(bytes("ab"), bytes("whole"));
}

TEST_F(MergeCli, RefusesPiecesThatAreNotOneEnsemble) {
  RUNS(kModel + "--range 0:20 -o " + path("a"));
  RUNS(kModel + "--range 20:40 -o " + path("b"));
  RUNS(kModel + "--range 10:30 -o " + path("overlap"));
  RUNS(kModel + "--range 41:61 -o " + path("gap"));
  std::string other_seed = kModel;
  other_seed.replace(other_seed.find("--seed 5"), 8, "--seed 6");
  RUNS(other_seed + "--range 20:40 -o " + path("seed"));
  RUNS(kModel + "--range 20:40 --set model.tau0=2 -o " + path("config"));
  RUNS(kModel + "--range 20:40 --set ensemble.sampler=direct -o " + path("sampler"));
  RUNS(kModel + "--range 20:40 --set ensemble.quantile_accuracy=0.01 -o " + path("sketch"));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"overlap", "overlaps"},           {"gap", "are missing"},
      {"seed", "different seeds"},       {"config", "different configurations"},
      {"sampler", "different samplers"}, {"sketch", "different configurations"}};
  for (const auto& [piece, message] : cases) {
    const CliResult r = run("merge " + path("a") + " " + path(piece) + " -o " + path("out"));
    EXPECT_EQ(r.code, 2) << piece;
    EXPECT_NE(r.err.find("merge: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << piece << ": " << r.err;
    EXPECT_FALSE(fs::exists(path("out"))) << piece;
  }
  const CliResult missing =
      run("merge " + path("a") + " " + path("nothing") + " -o " + path("out"));
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("not a stats.h5"), std::string::npos) << missing.err;
  const CliResult range = run(kModel + "--range 30:20 -o " + path("bad"));
  EXPECT_EQ(range.code, 2);
  EXPECT_NE(range.err.find("ensemble.member"), std::string::npos) << range.err;
  EXPECT_FALSE(fs::exists(path("bad")));
}

// The SDE and sphere families merge too: their pieces' stats.h5 carry the
// family's configuration (for the sphere, a network model whose lambda and
// gamma are never resolved: stored as "not given", -1, which merge must read
// back as such).
TEST_F(MergeCli, SdeAndSpherePiecesMergeIntoTheBytesOfOneRun) {
  for (const std::string family : {"sde", "sphere"}) {
    const std::string m = family + " -B 300 --seed 3 --set " + family + ".steps=12 -q ";
    RUNS(m + "-o " + path(family + "_whole"));
    RUNS(m + "--range 0:120 -o " + path(family + "_a"));
    RUNS(m + "--range 120:300 --threads 1 -o " + path(family + "_b"));
    RUNS("merge " + path(family + "_b") + " " + path(family + "_a") + " -q -o " +
         path(family + "_ab"));
    EXPECT_EQ(bytes(family + "_ab"), bytes(family + "_whole")) << family;
  }
}

// Sphere pieces also give the whole run's outcome counts: summary.json's
// collapse / antipodal / other / clusters and table.txt's P(...) lines, which
// come from /sphere_outcomes, not from the inner-product statistics.
TEST_F(MergeCli, SpherePiecesMergeTheOutcomeCounts) {
  // Horizon 5: all three outcomes occur (212 / 49 / 139 of 400).
  const std::string m = "sphere -B 400 --seed 9 --set sphere.horizon=5 --set sphere.steps=100 -q ";
  RUNS(m + "-o " + path("whole"));
  RUNS(m + "--range 0:150 -o " + path("a"));
  RUNS(m + "--range 150:400 -o " + path("b"));
  RUNS("merge " + path("b") + " " + path("a") + " -q -o " + path("ab"));
  EXPECT_EQ(bytes("ab"), bytes("whole"));
  const auto whole = nlohmann::json::parse(slurp(dir_ / "whole" / "summary.json"));
  const auto merged = nlohmann::json::parse(slurp(dir_ / "ab" / "summary.json"));
  for (const char* k : {"collapse", "antipodal", "other", "clusters", "nonfinite", "spec",
                        "records", "terminal_histogram_x12", "max_norm_error"})
    EXPECT_EQ(merged[k], whole[k]) << k;
  EXPECT_EQ(whole["collapse"]["of"], 400);
  // The pieces' own counts are not the whole's (the test would pass on a
  // merge that copied the first piece's otherwise).
  const auto a = nlohmann::json::parse(slurp(dir_ / "a" / "summary.json"));
  EXPECT_EQ(a["collapse"]["of"], 150);
  const std::string table = slurp(dir_ / "ab" / "table.txt");
  EXPECT_NE(table.find("P(collapse )"), std::string::npos);
  EXPECT_NE(table.find("/ 400)"), std::string::npos);
}
