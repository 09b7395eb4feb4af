// `attnmc sde` and `attnmc compare` end to end: files written, exit codes,
// bad input named.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/cli_runner.hpp"

namespace {

namespace fs = std::filesystem;

attnmc::test::CliResult cli(const std::string& args) {
  return attnmc::test::run_attnmc(args, attnmc::test::scratch_dir("attnmc_"));
}

TEST(SdeCli, SdeWritesStatisticsAndCounts) {
  const fs::path dir = fs::temp_directory_path() / "attnmc_sde_cli_sde";
  fs::remove_all(dir);
  const auto r = cli("sde -m 3 --tau0 0.3 -n 32 -d 32 -B 500 --threads 1 -o " + dir.string());
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_NE(r.text().find("blow-ups"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "stats.h5"));
  EXPECT_TRUE(fs::exists(dir / "table.txt"));
  std::ifstream f(dir / "summary.json");
  const nlohmann::json j = nlohmann::json::parse(f);
  // tau0 = 0.3 makes the cubic drift blow paths up before T = 1.
  EXPECT_GT(j["sde"]["blowups"].get<int>(), 0);
  EXPECT_EQ(j["config"]["sde"]["steps"].get<int>(), 32);
  // Only what the SDE uses (issue 9, defect 14): no width, depth or head_dim.
  EXPECT_FALSE(j["config"]["model"].contains("width"));
  EXPECT_FALSE(j["config"]["model"].contains("head_dim"));
  EXPECT_EQ(j["sde"]["blowups_per_record"].back().get<int>(), j["sde"]["blowups"].get<int>());
  fs::remove_all(dir);
}

TEST(SdeCli, CompareWritesTableAndJson) {
  const fs::path dir = fs::temp_directory_path() / "attnmc_sde_cli_compare";
  fs::remove_all(dir);
  const auto r =
      cli("compare --widths 8,32 --members 500 --trajectories 1000 --threads 1 --no-plot -q -o " +
          dir.string());
  ASSERT_EQ(r.code, 0) << r.text();
  std::ifstream f(dir / "compare.json");
  const nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_EQ(j["series"].size(), 3u);  // two widths and the SDE
  EXPECT_EQ(j["w1"].size(), 2u);
  EXPECT_EQ(j["series"][2]["label"], "sde");
  EXPECT_EQ(j["series"][0]["terminal_rho"].size(), 500u);
  fs::remove_all(dir);
}

TEST(SdeCli, BadInputExitsWithTwoAndNamesTheParameter) {
  auto r = cli("sde -m 40");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.text().find("model.tokens"), std::string::npos) << r.text();
  r = cli("sde --scheme rho-euler -m 3");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.text().find("sde.scheme"), std::string::npos) << r.text();
  r = cli("compare --widths 10 -o ''");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.text().find("compare.widths"), std::string::npos) << r.text();
}

}  // namespace
