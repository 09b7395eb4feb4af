// `attnmc paths` with run.mode = theory and posterior: a run writes its
// files (summary.json with a vanishing gradient, theory.h5 / posterior.h5),
// and bad keys of [theory] / [posterior] are refused with the dotted key,
// exit code 2 and no output directory.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/cli_runner.hpp"

namespace attnmc::test {
namespace {

const std::string kSmall = "-s task.train=16 -s task.test=40 -s model.width=20 ";

TEST(PathsTheoryCli, TheoryModeWritesSaddlePointAndHeadScores) {
  const fs::path dir = scratch_dir("paths_theory_cli_");
  fs::remove_all(dir / "out");
  const CliResult r = run_attnmc("paths --mode theory -q -o " + (dir / "out").string() + " " +
                                     kSmall + "-s theory.widths=[10,1000]",
                                 dir);
  ASSERT_EQ(r.code, 0) << r.text();
  for (const char* f : {"summary.json", "theory.h5", "table.txt"})
    EXPECT_TRUE(fs::exists(dir / "out" / f)) << f;
  const nlohmann::json j = nlohmann::json::parse(slurp(dir / "out" / "summary.json"));
  EXPECT_EQ(j["mode"], "theory");
  ASSERT_EQ(j["runs"].size(), 2u);
  for (const auto& run : j["runs"]) {
    EXPECT_TRUE(run["converged"].get<bool>());
    EXPECT_LT(run["max_abs_gradient"].get<double>(), 1e-3);
    EXPECT_EQ(run["head_scores"].size(), 4u);
    EXPECT_EQ(run["order_parameters"]["u"][0].size(), 16u);  // U_1: 4 x 4
  }
  EXPECT_EQ(j["runs"][0]["widths"][0], 10);
}

TEST(PathsTheoryCli, PosteriorModeWritesPosteriorStatistics) {
  const fs::path dir = scratch_dir("paths_theory_cli_");
  fs::remove_all(dir / "out");
  const CliResult r =
      run_attnmc("paths --mode posterior -q -o " + (dir / "out").string() + " " + kSmall +
                     "-s posterior.chains=4 -s posterior.burn_in=200 -s posterior.steps=200 -s "
                     "posterior.thin=20",
                 dir);
  ASSERT_EQ(r.code, 0) << r.text();
  for (const char* f : {"summary.json", "posterior.h5", "table.txt"})
    EXPECT_TRUE(fs::exists(dir / "out" / f)) << f;
  const nlohmann::json j = nlohmann::json::parse(slurp(dir / "out" / "summary.json"));
  EXPECT_EQ(j["mode"], "posterior");
  ASSERT_EQ(j["runs"].size(), 1u);
  EXPECT_GT(j["runs"][0]["acceptance"].get<double>(), 0.05);
  EXPECT_EQ(j["runs"][0]["latent_variables"], 14);
}

// Importance sampling: the ESS is reported; on the Markov task (P = 16,
// Temp = 0.01) the likelihood is far too sharp for prior draws, and the run
// says so (a failure naming posterior.min_ess) while still writing its files.
TEST(PathsTheoryCli, PosteriorImportanceReportsItsEffectiveSampleSize) {
  const fs::path dir = scratch_dir("paths_theory_cli_");
  fs::remove_all(dir / "out");
  const CliResult r =
      run_attnmc("paths --mode posterior -o " + (dir / "out").string() + " " + kSmall +
                     "-s posterior.method=importance -s posterior.samples=2000",
                 dir);
  ASSERT_EQ(r.code, 0) << r.text();
  const nlohmann::json j = nlohmann::json::parse(slurp(dir / "out" / "summary.json"));
  const double ess = j["runs"][0]["ess"].get<double>();
  EXPECT_GE(ess, 1.0);
  EXPECT_LT(ess, 1000.0);
  EXPECT_NE(j.value("failure", std::string()).find("posterior.min_ess"), std::string::npos);
  EXPECT_NE(r.text().find("posterior.min_ess"), std::string::npos) << r.text();
}

// The README example's configuration runs in both modes (shrunk by overrides).
TEST(PathsTheoryCli, MarkovChainExampleRunsInBothModes) {
  const fs::path dir = scratch_dir("paths_theory_cli_");
  const std::string cfg = std::string(ATTNMC_SOURCE_DIR) + "/examples/paths_markov_chain.toml";
  const std::string small =
      " -s task.train=12 -s task.test=20 -s theory.widths=[10] -s posterior.widths=[10]"
      " -s posterior.chains=2 -s posterior.burn_in=100 -s posterior.steps=20";
  for (const char* mode : {"theory", "posterior"}) {
    fs::remove_all(dir / "out");
    const CliResult r = run_attnmc(
        "paths " + cfg + " --mode " + mode + " -q -o " + (dir / "out").string() + small, dir);
    ASSERT_EQ(r.code, 0) << mode << "\n" << r.text();
    const nlohmann::json j = nlohmann::json::parse(slurp(dir / "out" / "summary.json"));
    EXPECT_EQ(j["mode"], mode);
    EXPECT_EQ(j["runs"][0]["widths"][0], 10);
  }
}

TEST(PathsTheoryCli, BadKeysAreNamedWithExitTwoAndNothingWritten) {
  const fs::path dir = scratch_dir("paths_theory_cli_");
  const struct {
    std::string args;
    const char* key;
  } cases[] = {
      {"--mode theory -s theory.bogus=1", "theory.bogus"},
      {"--mode theory -s theory.widths=[10,0]", "theory.widths"},
      {"--mode theory -s theory.gradient_tolerance=-1", "theory.gradient_tolerance"},
      {"--mode posterior -s posterior.chains=1", "posterior.chains"},
      {"--mode posterior -s posterior.burn_in=10", "posterior.burn_in"},
      {"--mode posterior -s posterior.thin=0", "posterior.thin"},
      {"--mode posterior -s posterior.method=gibbs", "posterior.method"},
      {"--mode posterior -s posterior.samples=1", "posterior.samples"},
      {"--mode posterior -s posterior.min_ess=0", "posterior.min_ess"},
  };
  for (const auto& c : cases) {
    fs::remove_all(dir / "out");
    const CliResult r =
        run_attnmc("paths -q -o " + (dir / "out").string() + " " + kSmall + c.args, dir);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.text();
    EXPECT_NE(r.text().find(c.key), std::string::npos) << c.args << "\n" << r.text();
    EXPECT_FALSE(fs::exists(dir / "out")) << c.args;
  }
}

}  // namespace
}  // namespace attnmc::test
