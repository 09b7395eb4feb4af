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

namespace attnmc::test {
namespace {

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

// A 2-D float64 .npy file (format 1.0).
void write_npy(const fs::path& p, int rows, int cols, const std::vector<double>& v) {
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream f(p, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  const std::uint16_t len = std::uint16_t(header.size());
  f.write(reinterpret_cast<const char*>(&len), 2);
  f << header;
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(double)));
}

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

// Pieces (--range) of an oversmoothing run cannot be merged: stats.h5 keeps
// only their Gram state, so `attnmc merge` must refuse them (exit 2, the
// reason, no output) rather than write a merge without the metrics.
TEST(OversmoothCli, MergeRefusesPiecesWhoseMetricsItCannotMerge) {
  const fs::path dir = scratch_dir("os_cli_");
  for (const char* d : {"p1", "p2", "merged"}) fs::remove_all(dir / d);
  ASSERT_EQ(
      run_attnmc("oversmooth " + kSmall + "--range 0:10 -q -o " + (dir / "p1").string(), dir).code,
      0);
  ASSERT_EQ(
      run_attnmc("oversmooth " + kSmall + "--range 10:20 -q -o " + (dir / "p2").string(), dir).code,
      0);
  const CliResult r = run_attnmc("merge " + (dir / "p1").string() + " " + (dir / "p2").string() +
                                     " -q -o " + (dir / "merged").string(),
                                 dir);
  EXPECT_EQ(r.code, 2) << r.text();
  EXPECT_NE(r.text().find("oversmoothing piece"), std::string::npos) << r.text();
  EXPECT_FALSE(fs::exists(dir / "merged"));
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
  write_npy(dir / "a_nan.npy", 4, 4,
            {0.5, 0.5, 0, 0, 0.25, 0.25, 0.25, 0.25, nan, 0.5, 0.5, 0, 1, 0, 0, 0});
  write_text(dir / "h_wrong.txt", "1 0\n0 1\n");
  write_npy(dir / "h_wrong.npy", 2, 2, {1, 0, 0, 1});
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
