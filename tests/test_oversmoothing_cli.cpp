// `attnmc oversmooth` from the command line: a run writes its files, and
// bad input (a non-row-stochastic A file, an H of the wrong shape, a
// non-invertible U, NaN in any file, bad keys) is refused with a message
// naming the configuration key, exit code 2 and no output directory.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/cli_runner.hpp"
#include "tests/npy_writer.hpp"

namespace attnmc::test {
namespace {

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

const std::string kSmall = "-m 4 -n 3 -L 8 -B 20 ";

TEST(OversmoothCli, WritesSummaryMetricsAndStats) {
  const fs::path dir = scratch_dir("os_cli_");
  fs::remove_all(dir / "out");
  const CliResult r = run_attnmc("oversmooth " + kSmall + "-q -o " + (dir / "out").string(), dir);
  ASSERT_EQ(r.code, 0) << r.text();
  for (const char* f : {"summary.json", "metrics.csv", "table.txt", "stats.h5"})
    EXPECT_TRUE(fs::exists(dir / "out" / f)) << f;
  const nlohmann::json j = nlohmann::json::parse(slurp(dir / "out" / "summary.json"));
  EXPECT_EQ(j["config"]["model"]["spectrum"], "minus");
  EXPECT_EQ(j["prediction"]["compared"], 20);
  EXPECT_EQ(j["records"].size(), 2u);  // layers 0 and 8 (record_every = 16)
}

// summary.json without what legitimately differs between a whole run and a
// merge of its pieces: how it ran (seconds, threads, chunk) and merged_from.
nlohmann::json result_part(const fs::path& summary) {
  nlohmann::json j = nlohmann::json::parse(slurp(summary));
  for (const char* k : {"seconds", "threads", "chunk", "merged_from"}) j.erase(k);
  return j;
}

// Pieces (--range) of an oversmoothing run merge into the files of the whole
// run: stats.h5 and metrics.csv byte for byte, summary.json but for how it
// ran; in either order, whatever the pieces' threads and chunks; with Gram
// statistics (stats.h5 holds /state and /oversmoothing_state) and without
// (only /oversmoothing_state), normalised (NaN-free) and linear models.
// Rewriting a state (merging a whole run alone) gives the same bytes.
// Checked by hand to fail when ScalarStatistics::merge skips the sketch or
// the state drops the `agree` counter (checked 2026-12-07).
TEST(OversmoothCli, PiecesMergeIntoTheFilesOfTheWholeRun) {
  const fs::path dir = scratch_dir("os_cli_");
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto run = [&](const std::string& args) {
    const CliResult r = run_attnmc(args + " -q", dir);
    EXPECT_EQ(r.code, 0) << args << "\n" << r.text();
  };
  const std::vector<std::string> models = {
      kSmall, kSmall + "--set ensemble.gram_statistics=false --norm pre --attention softmax "};
  for (std::size_t c = 0; c < models.size(); ++c) {
    const std::string tag = std::to_string(c), m = "oversmooth " + models[c];
    const fs::path whole = dir / ("whole" + tag);
    run(m + "-o " + whole.string());
    run(m + "--range 0:7 --threads 1 -o " + (dir / ("a" + tag)).string());
    run(m + "--range 7:20 --chunk 3 -o " + (dir / ("b" + tag)).string());
    const std::string a = (dir / ("a" + tag)).string(), b = (dir / ("b" + tag)).string();
    for (const std::string& order : {a + " " + b, b + " " + a, whole.string()}) {
      const fs::path merged = dir / ("merged" + tag);
      fs::remove_all(merged);
      run("merge " + order + " -o " + merged.string());
      EXPECT_EQ(slurp(merged / "stats.h5"), slurp(whole / "stats.h5")) << order;
      EXPECT_EQ(slurp(merged / "metrics.csv"), slurp(whole / "metrics.csv")) << order;
      EXPECT_EQ(result_part(merged / "summary.json"), result_part(whole / "summary.json")) << order;
      EXPECT_TRUE(fs::exists(merged / "table.txt"));
    }
  }
  // The merged summary says where it came from.
  const nlohmann::json j = nlohmann::json::parse(slurp(dir / "merged1" / "summary.json"));
  EXPECT_EQ(j["merged_from"].size(), 1u);
  EXPECT_EQ(j["config"]["ensemble"]["member_end"], 20);
}

// Pieces that do not make one ensemble are refused: exit 2, the reason
// naming the pieces, and no output directory.
TEST(OversmoothCli, MergeRefusesPiecesThatDoNotBelongTogether) {
  const fs::path dir = scratch_dir("os_cli_");
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto piece = [&](const std::string& name, const std::string& args) {
    const CliResult r = run_attnmc(args + " -q -o " + (dir / name).string(), dir);
    ASSERT_EQ(r.code, 0) << r.text();
  };
  const std::string m = "oversmooth " + kSmall;
  piece("a", m + "--range 0:7");
  piece("b", m + "--range 7:20");
  piece("overlap", m + "--range 5:20");
  piece("late", m + "--range 10:20");
  piece("seed", m + "--range 7:20 --seed 2");
  piece("tol", m + "--range 7:20 --set ensemble.smooth_tol=0.01");
  piece("run",
        "run -B 20 --set model.tokens=4 --set model.width=8 --set model.depth=8 --range 7:20");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"overlap", "overlaps"},       {"late", "members [7, 10) are missing"},
      {"seed", "different seeds"},   {"tol", "different configurations"},
      {"run", "different families"},
  };
  for (const auto& [other, reason] : cases) {
    const fs::path out = dir / ("merged_" + other);
    const CliResult r = run_attnmc(
        "merge " + (dir / "a").string() + " " + (dir / other).string() + " -q -o " + out.string(),
        dir);
    EXPECT_EQ(r.code, 2) << other << "\n" << r.text();
    EXPECT_NE(r.err.find(reason), std::string::npos) << other << "\n" << r.err;
    EXPECT_FALSE(fs::exists(out)) << other;
  }
}

struct BadCase {
  const char* name;
  std::string args;  // after the common options
  const char* key;   // must appear in the message
};

TEST(OversmoothCli, BadInputIsNamedWithExitTwoAndNothingWritten) {
  const fs::path dir = scratch_dir("os_cli_");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  write_text(dir / "a_bad.txt", "0.5 0.5 0 0\n0.2 0.2 0.2 0.2\n0.25 0.25 0.25 0.25\n1 0 0 0\n");
  write_text(dir / "a_nan.txt", "0.5 0.5 0 0\nnan 0.5 0.5 0\n0.25 0.25 0.25 0.25\n1 0 0 0\n");
  write_npy(dir / "a_nan.npy", {4, 4},
            {0.5, 0.5, 0, 0, 0.25, 0.25, 0.25, 0.25, nan, 0.5, 0.5, 0, 1, 0, 0, 0});
  write_text(dir / "h_wrong.txt", "1 0\n0 1\n");
  write_npy(dir / "h_wrong.npy", {2, 2}, {1, 0, 0, 1});
  write_text(dir / "u_singular.txt", "1 2 3\n2 4 6\n0 0 1\n");
  write_text(dir / "g_nan.txt", "1 nan 1\n");
  write_text(dir / "tokens_nan.txt", "1 2 3\n4 5 6\n7 8 nan\n1 1 1\n");
  const std::string d = dir.string() + "/";
  const std::vector<BadCase> cases = {
      {"A not row-stochastic", "--set model.a_file=" + d + "a_bad.txt", "model.a_file"},
      {"NaN in A (text)", "--set model.a_file=" + d + "a_nan.txt", "model.a_file"},
      {"NaN in A (.npy)", "--set model.a_file=" + d + "a_nan.npy", "model.a_file"},
      {"H of the wrong shape (text)", "--set model.h_file=" + d + "h_wrong.txt", "model.h_file"},
      {"H of the wrong shape (.npy)", "--set model.h_file=" + d + "h_wrong.npy", "model.h_file"},
      {"U not invertible", "--set model.u_file=" + d + "u_singular.txt", "model.u_file"},
      {"NaN in the gain file", "--set model.gain_file=" + d + "g_nan.txt", "model.gain_file"},
      {"NaN in the tokens", "--set input.tokens_file=" + d + "tokens_nan.txt", "input.tokens_file"},
      {"missing file", "--set model.a_file=" + d + "none.txt", "model.a_file"},
      {"unknown spectrum", "--spectrum zeta", "model.spectrum"},
      {"list of the wrong length", "--spectrum list --lambdas 1,2", "model.lambdas"},
      {"gain of the wrong length", "--set model.gain=[1.0,2.0]", "model.gain"},
      {"NaN temperature", "--set model.temperature=nan", "model.temperature"},
      {"uniform with lo >= hi",
       "--spectrum uniform --set model.lambda_lo=0.5 --set model.lambda_hi=0.1", "model.lambda_hi"},
      {"file spectrum without a file", "--spectrum file", "model.spectrum"},
      {"unknown key", "--set model.zzz=1", "model.zzz"},
      {"negative head_dim", "--set model.head_dim=-3", "model.head_dim"},
  };
  for (const BadCase& c : cases) {
    const fs::path out = dir / "never";
    fs::remove_all(out);
    const CliResult r = run_attnmc("oversmooth " + kSmall + c.args + " -o " + out.string(), dir);
    EXPECT_EQ(r.code, 2) << c.name << ": " << r.text();
    EXPECT_NE(r.err.find(c.key), std::string::npos) << c.name << ": " << r.err;
    EXPECT_FALSE(fs::exists(out)) << c.name;
  }
}

}  // namespace
}  // namespace attnmc::test
