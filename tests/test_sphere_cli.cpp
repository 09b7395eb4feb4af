// `attnmc sphere` and `attnmc phase` end to end: exit codes, the JSON and
// CSV written (columns, rows, counts that must add up), the phase diagram
// through the sweep store equal to the library's sweep, and bad input named
// with exit code 2 and no output left behind.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "host/sphere_sweep.hpp"
#include "tests/cli_runner.hpp"

namespace {

namespace fs = std::filesystem;

// Per-test scratch directory: ctest runs these tests in parallel processes.
fs::path scratch() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir =
      attnmc::test::temp_root() / (std::string("attnmc_sphere_cli_") + info->name());
  fs::create_directories(dir);
  return dir;
}

attnmc::test::CliResult cli(const std::string& args) {
  return attnmc::test::run_attnmc(args, scratch());
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> v;
  std::stringstream ss(line);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(item);
  if (!line.empty() && line.back() == ',') v.push_back("");
  return v;
}

// CSV as a header and rows of cells.
struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  int col(const std::string& name) const {
    for (std::size_t k = 0; k < header.size(); ++k)
      if (header[k] == name) return int(k);
    ADD_FAILURE() << "no column " << name;
    return 0;
  }
};

Csv read_csv(const fs::path& p) {
  Csv c;
  std::ifstream f(p);
  std::string line;
  if (std::getline(f, line)) c.header = split(line);
  while (std::getline(f, line)) c.rows.push_back(split(line));
  return c;
}

TEST(SphereCli, SphereWritesJsonWhoseCountsAddUp) {
  const fs::path dir = scratch(), out = dir / "out", json = out / "summary.json";
  fs::remove_all(out);
  const auto r =
      cli("sphere -N 2 -d 3 --rho0 0.3 -T 0.5 --dt 0.05 -B 300 --threads 1 --record-every 5 -o " +
          out.string());
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_NE(r.text().find("P(collapse"), std::string::npos) << r.text();
  EXPECT_NE(r.text().find("P(antipodal"), std::string::npos) << r.text();
  std::ifstream f(json);
  const nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_EQ(j["spec"]["tokens"], 2);
  EXPECT_EQ(j["spec"]["steps"], 10);  // T / dt
  EXPECT_EQ(j["spec"]["scheme"], "sde-geometric");
  EXPECT_EQ(j["spec"]["noise"], "reduced");  // one default for sphere and phase
  EXPECT_TRUE(fs::exists(out / "stats.h5"));
  EXPECT_TRUE(fs::exists(out / "table.txt"));
  const int total = j["collapse"]["count"].get<int>() + j["antipodal"]["count"].get<int>() +
                    j["other"]["count"].get<int>() + j["nonfinite"].get<int>();
  EXPECT_EQ(total, 300);
  EXPECT_EQ(j["collapse"]["of"].get<int>() + j["nonfinite"].get<int>(), 300);
  // records at steps 0, 5, 10, one pair each; the start has <x_1, x_2> = rho0 exactly
  ASSERT_EQ(j["records"].size(), 3u);
  EXPECT_EQ(j["records"][1]["step"], 5);
  EXPECT_NEAR(j["records"][2]["time"].get<double>(), 0.5, 1e-12);
  ASSERT_EQ(j["records"][0]["pairs"].size(), 1u);
  EXPECT_NEAR(j["records"][0]["pairs"][0]["mean"].get<double>(), 0.3, 1e-6);
  EXPECT_NEAR(j["records"][0]["pairs"][0]["sd"].get<double>(), 0.0, 1e-6);
  EXPECT_GT(j["records"][2]["pairs"][0]["sd"].get<double>(), 0.01);  // the noise acted
  long hist = 0;
  for (const auto& c : j["terminal_histogram_x12"]["counts"]) hist += c.get<long>();
  EXPECT_EQ(hist, 300 - j["nonfinite"].get<int>());
  EXPECT_LT(j["max_norm_error"].get<double>(), 1e-12);
  fs::remove_all(dir);
}

TEST(SphereCli, SphereReadsTokensFromAFile) {
  const fs::path dir = scratch(), tokens = dir / "tokens.txt", out = dir / "out",
                 json = out / "summary.json";
  fs::remove_all(out);
  std::ofstream(tokens) << "# four tokens in R^3\n1 0 0\n0, 1, 0\n0 0 2\n1 1 1\n";
  const auto r = cli("sphere -N 4 -d 3 --tokens-file " + tokens.string() +
                     " --scheme flow -T 0.1 --steps 4 -B 2 --threads 1 -o " + out.string());
  ASSERT_EQ(r.code, 0) << r.text();
  std::ifstream f(json);
  const nlohmann::json j = nlohmann::json::parse(f);
  ASSERT_EQ(j["records"][0]["pairs"].size(), 6u);  // N (N - 1) / 2
  // tokens are normalised: <x_1, x_2> = 0, <x_1, x_4> = 1 / sqrt(3)
  EXPECT_NEAR(j["records"][0]["pairs"][0]["mean"].get<double>(), 0.0, 1e-6);
  EXPECT_NEAR(j["records"][0]["pairs"][2]["mean"].get<double>(), 1 / std::sqrt(3.0), 1e-6);
  fs::remove_all(dir);
}

TEST(SphereCli, PhaseWritesOneRowPerCell) {
  const fs::path dir = scratch(), store = dir / "store", csv = store / "phase.csv";
  fs::remove_all(store);
  const auto r =
      cli("phase --tokens 2 --dims 2,3 --betas 0:1:0.5 -T 1 --dt 0.1 -B 100 "
          "--threads 1 -q -o " +
          store.string());
  ASSERT_EQ(r.code, 0) << r.text();
  const Csv c = read_csv(csv);
  ASSERT_EQ(c.rows.size(), 6u);  // 2 dims x 3 betas
  for (const char* name : {"tokens",        "dim",
                           "beta",          "steps",
                           "trajectories",  "nonfinite",
                           "collapse",      "antipodal",
                           "other",         "p_collapse",
                           "se_collapse",   "lo_collapse",
                           "hi_collapse",   "p_antipodal",
                           "se_antipodal",  "lo_antipodal",
                           "hi_antipodal",  "flow_trajectories",
                           "flow_collapse", "flow_antipodal",
                           "flow_other"})
    c.col(name);
  const double dims[] = {2, 2, 2, 3, 3, 3}, betas[] = {0, 0.5, 1, 0, 0.5, 1};
  for (std::size_t k = 0; k < c.rows.size(); ++k) {
    const auto& row = c.rows[k];
    ASSERT_EQ(row.size(), c.header.size()) << "row " << k;
    auto num = [&](const char* name) { return std::stod(row[c.col(name)]); };
    EXPECT_EQ(num("dim"), dims[k]);
    EXPECT_EQ(num("beta"), betas[k]);
    EXPECT_EQ(num("steps"), 10);
    EXPECT_EQ(num("collapse") + num("antipodal") + num("other") + num("nonfinite"), 100);
    const double n = num("collapse") + num("antipodal") + num("other");
    const double p = num("p_antipodal");
    EXPECT_NEAR(p, num("antipodal") / n, 1e-9);
    EXPECT_NEAR(num("se_antipodal"), std::sqrt(p * (1 - p) / n), 1e-9);
    EXPECT_LE(num("lo_collapse"), num("p_collapse"));
    EXPECT_GE(num("hi_collapse"), num("p_collapse"));
    EXPECT_EQ(num("flow_trajectories"), 1);  // rho0 start: the flow is one run
    EXPECT_EQ(num("flow_collapse") + num("flow_antipodal") + num("flow_other"), 1);
  }
  fs::remove_all(dir);
}

// The phase diagram through the sweep store gives the library sweep's table
// (the same cells, seeds and numbers as `phase` before it became a sweep).
TEST(SphereCli, PhaseThroughTheStoreEqualsTheLibrarySweep) {
  const fs::path dir = scratch(), store = dir / "store";
  fs::remove_all(store);
  const auto r =
      cli("phase --tokens 2 --dims 2,3 --betas 0.5,1.5 -T 2 --dt 0.05 -B 200 --seed 7 "
          "--threads 1 -q -o " +
          store.string());
  ASSERT_EQ(r.code, 0) << r.text();
  attnmc::SphereSweepSpec sw;
  sw.base.horizon = 2;
  sw.base.dt = 0.05;
  sw.base.trajectories = 200;
  sw.base.seed = 7;
  sw.base.threads = 1;
  sw.base.noise = attnmc::SphereNoise::reduced;
  sw.tokens = {2};
  sw.dims = {2, 3};
  sw.betas = {0.5, 1.5};
  std::ostringstream lib;
  attnmc::write_sweep_csv(lib, attnmc::run_sphere_sweep(sw), /*timing=*/false);
  std::istringstream expected(lib.str());
  std::ifstream got(store / "phase.csv");
  std::string want_line, got_line;
  int rows = 0;
  while (std::getline(expected, want_line)) {
    ASSERT_TRUE(std::getline(got, got_line));
    // phase.csv adds the cell's status after the library's columns.
    EXPECT_EQ(got_line.substr(0, want_line.size()), want_line) << "row " << rows;
    ++rows;
  }
  EXPECT_EQ(rows, 5);  // header + 4 cells
}

TEST(SphereCli, BadInputExitsWithTwoNamesTheParameterAndLeavesNoFile) {
  const fs::path dir = scratch(), out = dir / "out";
  struct Case {
    std::string args, parameter;
  };
  const std::string o = " -o " + out.string();
  const Case cases[] = {
      {"sphere --rho0 2" + o, "input.rho0"},
      {"sphere --scheme euler" + o, "sphere.scheme"},
      {"sphere -N 2 --init tokens" + o, "input.tokens_file"},
      {"sphere --qk-file " + (dir / "missing.txt").string() + o, "model.qk_file"},
      {"sphere --sigma -1" + o, "model.sigma"},
      {"sphere --seed -1" + o, "ensemble.seed"},
      {"sphere --set sphere.nokey=1" + o, "sphere.nokey"},
      {"phase --dims 2,x -T 1 -B 10" + o, "dims"},
      {"phase --dims 2,3 --betas 0,1 --sigma -1 -T 1 -B 10" + o, "model.sigma"},
      {"phase --dims 2,0 --betas 0,1 -T 1 -B 10" + o, "model.dim"},
      {"phase --scheme flow -T 1 -B 10" + o, "sphere.scheme"},
      {"phase --tokens 3 -T 1 -B 10" + o, "input.rho0"},
  };
  for (const Case& c : cases) {
    fs::remove_all(out);
    const auto r = cli(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.text();
    EXPECT_NE(r.text().find("error: " + c.parameter), std::string::npos) << c.args << "\n"
                                                                         << r.text();
    EXPECT_FALSE(fs::exists(out)) << c.args;
  }
  // A bad cell of the phase grid names the cell.
  const auto r = cli("phase --dims 2,0 --betas 0,1 -T 1 -B 10" + o);
  EXPECT_NE(r.text().find("cell 2 (model.tokens=2, model.dim=0, model.beta=0.0)"),
            std::string::npos)
      << r.text();
  fs::remove_all(dir);
}

}  // namespace
