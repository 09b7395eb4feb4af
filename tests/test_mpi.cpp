// Scale-out over MPI (host/mpi/): one ensemble or sweep split over K
// processes gives the bytes of one process, for K = 1, 2, 3 and for a run
// without mpirun; a rank that dies or fails ends the job with a message
// naming it and leaves no output; bad input is reported once. The suites
// launch the built binary with `mpirun --oversubscribe --allow-run-as-root
// -np K` and skip, saying why, when attnmc was built without MPI or mpirun
// is missing. Small ensembles: each launch takes about a second.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "host/mpi/split_ensemble.hpp"
#include "tests/cli_runner.hpp"

namespace {

namespace fs = std::filesystem;
using attnmc::test::CliResult;
using attnmc::test::run_attnmc;
using attnmc::test::slurp;

// "" when the scale-out tests can run, else why not.
std::string why_no_mpirun() {
  const std::string exe = ATTNMC_MPIEXEC;
  if (exe.empty()) return "attnmc was built without MPI (ATTNMC_MPI=OFF or no MPI found)";
  if (std::system(("'" + exe + "' --version >/dev/null 2>&1").c_str()) != 0)
    return "mpirun (" + exe + ") does not run";
  return {};
}

#define SKIP_WITHOUT_MPIRUN()                \
  do {                                       \
    const std::string why = why_no_mpirun(); \
    if (!why.empty()) GTEST_SKIP() << why;   \
  } while (0)

// `attnmc ARGS` under `mpirun -np K` (K = 0: without mpirun), with `env`
// (VAR=value ...) in front.
CliResult launch(int ranks, const std::string& args, const fs::path& scratch,
                 const std::string& env = "") {
  if (ranks == 0) return run_attnmc(args, scratch, {}, env);
  // The attnmc binary path comes from run_attnmc's ATTNMC_BINARY_DIR prefix:
  // mpirun is put in front of it.
  const std::string mpirun = std::string(ATTNMC_MPIEXEC) +
                             " --oversubscribe --allow-run-as-root -np " + std::to_string(ranks) +
                             " ";
  return run_attnmc(args, scratch, {}, env, mpirun);
}

std::string without_lines_containing(const std::string& text, const std::string& needle) {
  std::string out, line;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t nl = text.find('\n', at);
    line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at + 1);
    at = nl == std::string::npos ? text.size() : nl + 1;
    if (line.find(needle) == std::string::npos) out += line;
  }
  return out;
}

// summary.json without what says how the run went rather than what it computed.
nlohmann::json result_part(const fs::path& summary) {
  nlohmann::json j = nlohmann::json::parse(slurp(summary));
  for (const char* k : {"timings", "seconds", "processes"}) j.erase(k);
  return j;
}

int count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

// The lines attnmc printed (not mpirun's).
std::string attnmc_lines(const std::string& text) {
  std::string out;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t nl = text.find('\n', at);
    const std::string line =
        text.substr(at, nl == std::string::npos ? std::string::npos : nl - at + 1);
    at = nl == std::string::npos ? text.size() : nl + 1;
    if (line.rfind("attnmc", 0) == 0) out += line;
  }
  return out;
}

// No staging directory (".NAME.tmp-...") left beside `dir`.
bool no_staging_left(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir.parent_path()))
    if (e.path().filename().string().rfind("." + dir.filename().string() + ".tmp-", 0) == 0)
      return false;
  return true;
}

// One command run without mpirun and under -np 1, 2, 3: stats.h5 the same
// bytes, summary.json and table.txt the same apart from timings and the
// per-rank report (with the same --threads and chunk).
void expect_identical_across_ranks(const std::string& command, const std::string& args,
                                   const char* timing_line) {
  const fs::path d = attnmc::test::scratch_dir("attnmc_mpi_");
  fs::remove_all(d / "np0");
  const CliResult plain = launch(0, command + " " + args + " -q -o " + (d / "np0").string(), d);
  ASSERT_EQ(plain.code, 0) << plain.text();
  const std::string h5 = slurp(d / "np0" / "stats.h5");
  ASSERT_GT(h5.size(), 1000u);
  for (int k : {1, 2, 3}) {
    const fs::path out = d / ("np" + std::to_string(k));
    fs::remove_all(out);
    const CliResult r = launch(k, command + " " + args + " -q -o " + out.string(), d);
    ASSERT_EQ(r.code, 0) << "-np " << k << ": " << r.text();
    EXPECT_TRUE(slurp(out / "stats.h5") == h5) << "-np " << k << ": stats.h5 differs";
    EXPECT_EQ(result_part(out / "summary.json"), result_part(d / "np0" / "summary.json"))
        << "-np " << k;
    EXPECT_EQ(without_lines_containing(slurp(out / "table.txt"), timing_line),
              without_lines_containing(slurp(d / "np0" / "table.txt"), timing_line))
        << "-np " << k;
    if (k > 1) {
      const nlohmann::json s = nlohmann::json::parse(slurp(out / "summary.json"));
      ASSERT_TRUE(s.contains("processes")) << "-np " << k;
      EXPECT_EQ(s["processes"]["ranks"], k);
    }
  }
}

// ---------------------------------------------------------------- the split

TEST(MpiShare, FixedBlocksWhateverTheNumberOfRanks) {
  // Shares are contiguous, cover [begin, end) in rank order, and start on
  // boundaries of the same fixed blocks for every K.
  for (std::uint64_t n : {1ull, 5ull, 1000ull, 1024ull, 1025ull, 100003ull}) {
    const std::uint64_t begin = 17, end = begin + n;
    const attnmc::mpi::Share one = attnmc::mpi::share_of(begin, end, 0, 1);
    EXPECT_EQ(one.begin, begin);
    EXPECT_EQ(one.end, end);
    std::vector<std::uint64_t> bounds;  // block boundaries
    const std::uint64_t blocks = std::min<std::uint64_t>(n, attnmc::mpi::kBlocks);
    for (std::uint64_t b = 0; b <= blocks; ++b) bounds.push_back(begin + n * b / blocks);
    for (int k = 1; k <= 9; ++k) {
      std::uint64_t at = begin;
      for (int r = 0; r < k; ++r) {
        const attnmc::mpi::Share s = attnmc::mpi::share_of(begin, end, r, k);
        EXPECT_EQ(s.begin, at) << "n " << n << " K " << k << " rank " << r;
        EXPECT_TRUE(std::binary_search(bounds.begin(), bounds.end(), s.end));
        EXPECT_LE(s.size(), (n + k - 1) / k + n / blocks + 1);  // balanced to a block
        at = s.end;
      }
      EXPECT_EQ(at, end);
    }
  }
}

TEST(Mpi, RunIdenticalForOneTwoThreeRanks) {
  SKIP_WITHOUT_MPIRUN();
  expect_identical_across_ranks(
      "run",
      "--set model.width=32 --set model.depth=16 --set model.tokens=3 -B 3000 --seed 7 "
      "--threads 1 --set ensemble.chunk=400",
      " s simulate");
}

TEST(Mpi, DirectSamplerIdenticalWithDefaultThreads) {
  SKIP_WITHOUT_MPIRUN();
  // Without --threads every rank picks its own thread count: stats.h5 still
  // the same bytes.
  const fs::path d = attnmc::test::scratch_dir("attnmc_mpi_");
  const std::string args =
      "run --set model.width=16 --set model.depth=6 --set model.tokens=3 "
      "--set ensemble.sampler=direct -B 700 --seed 11 -q -o ";
  fs::remove_all(d / "a");
  fs::remove_all(d / "b");
  ASSERT_EQ(launch(0, args + (d / "a").string(), d).code, 0);
  const CliResult r = launch(3, args + (d / "b").string(), d);
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_TRUE(slurp(d / "a" / "stats.h5") == slurp(d / "b" / "stats.h5"));
}

TEST(Mpi, SdeIdenticalForOneTwoThreeRanks) {
  SKIP_WITHOUT_MPIRUN();
  expect_identical_across_ranks(
      "sde",
      "--set model.width=16 --set model.depth=16 -B 3000 --seed 5 --threads 1 "
      "--set ensemble.chunk=500",
      " s\n");
}

TEST(Mpi, SphereIdenticalForOneTwoThreeRanks) {
  SKIP_WITHOUT_MPIRUN();
  // Uniform starts, the flow beside and the step check: every split run of the command.
  expect_identical_across_ranks(
      "sphere",
      "-N 3 -d 3 --init uniform -T 2 --beta 2 -B 900 --seed 9 --threads 1 --flow "
      "--check-step",
      "threads=");
}

TEST(Mpi, OversmoothIdenticalForOneTwoThreeRanks) {
  SKIP_WITHOUT_MPIRUN();
  // With Gram statistics (linear model, prediction counters) and without
  // (pre-norm softmax: only the family's own state travels between ranks).
  expect_identical_across_ranks("oversmooth",
                                "-m 4 -n 3 -L 8 -B 300 --seed 3 --threads 1 --chunk 40", " s\n");
  expect_identical_across_ranks("oversmooth",
                                "-m 4 -n 3 -L 8 -B 300 --seed 3 --threads 1 --chunk 40 "
                                "--set ensemble.gram_statistics=false --norm pre "
                                "--attention softmax",
                                " s\n");
}

TEST(Mpi, SweepStoreIdenticalForOneTwoThreeRanks) {
  SKIP_WITHOUT_MPIRUN();
  const fs::path d = attnmc::test::scratch_dir("attnmc_mpi_");
  const fs::path file = d / "sweep.toml";
  {
    std::ofstream f(file);
    f << R"([sweep]
command = "run"
mode = "grid"
seed = "derived"
[[sweep.axis]]
key = "model.width"
values = [8, 16, 32]
[[sweep.axis]]
key = "model.depth"
values = [4, 12]
[base.model]
tokens = 3
[base.ensemble]
members = 1500
seed = 3
chunk = 500
)";
  }
  const std::string args = "sweep " + file.string() + " --threads 1 -q -o ";
  fs::remove_all(d / "np0");
  ASSERT_EQ(launch(0, args + (d / "np0").string(), d).code, 0);
  for (int k : {1, 2, 3}) {
    const fs::path out = d / ("np" + std::to_string(k));
    fs::remove_all(out);
    const CliResult r = launch(k, args + out.string(), d);
    ASSERT_EQ(r.code, 0) << "-np " << k << ": " << r.text();
    const int diff = std::system(
        ("diff -r -x .lock " + (d / "np0").string() + " " + out.string() + " >/dev/null").c_str());
    EXPECT_EQ(diff, 0) << "-np " << k << ": the store differs from one process's";
  }
}

TEST(Mpi, FewCellsSplitOverEveryRank) {
  SKIP_WITHOUT_MPIRUN();
  // Two sphere cells for three ranks: each cell is split over all of them
  // (no rank idles) and the store is still one process's.
  const fs::path d = attnmc::test::scratch_dir("attnmc_mpi_");
  const fs::path file = d / "sweep.toml";
  {
    std::ofstream f(file);
    f << R"([sweep]
command = "sphere"
mode = "grid"
seed = "index"
[[sweep.axis]]
key = "model.beta"
values = [0.5, 2.0]
[base.model]
tokens = 3
[base.input]
init = "uniform"
[base.ensemble]
members = 900
seed = 8
)";
  }
  const std::string args = "sweep " + file.string() + " --threads 1 -q -o ";
  for (const char* s : {"np0", "np3"}) fs::remove_all(d / s);
  ASSERT_EQ(launch(0, args + (d / "np0").string(), d).code, 0);
  const CliResult r = launch(3, args + (d / "np3").string(), d);
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(std::system(("diff -r -x .lock " + (d / "np0").string() + " " + (d / "np3").string() +
                         " >/dev/null")
                            .c_str()),
            0);
  // Rank 2 takes part in every cell: its failure in its first split run is
  // the first cell's (recorded; the sweep goes on with the second).
  fs::remove_all(d / "fault");
  const CliResult f = launch(3, args + (d / "fault").string(), d, "ATTNMC_TEST_FAULT=error@2");
  ASSERT_EQ(f.code, 0) << f.text();
  const std::string csv = slurp(d / "fault" / "cells.csv");
  EXPECT_EQ(count(csv, "\n0,failed,rank 2: injected fault"), 1) << csv;
  EXPECT_EQ(count(csv, "\n1,ok,"), 1) << csv;
}

// ---------------------------------------------------------------- faults

const char* const kSmallRun =
    "run --set model.width=16 --set model.depth=8 --set model.tokens=3 -B 4000 --seed 2 "
    "--threads 1 --set ensemble.chunk=200 -o ";

TEST(Mpi, KilledRankEndsTheJobWithoutOutput) {
  SKIP_WITHOUT_MPIRUN();
  const fs::path d = attnmc::test::scratch_dir("attnmc_mpi_");
  const fs::path out = d / "out";
  fs::remove_all(out);
  const CliResult r = launch(2, kSmallRun + out.string(), d, "ATTNMC_TEST_FAULT=kill@1");
  EXPECT_NE(r.code, 0) << r.text();
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(no_staging_left(out));
  // Open MPI names the rank and the signal.
  EXPECT_NE(r.text().find("rank 1"), std::string::npos) << r.text();
  EXPECT_NE(r.text().find("signal 9"), std::string::npos) << r.text();
}

TEST(Mpi, FailingRankNamedOnceAndNoOutput) {
  SKIP_WITHOUT_MPIRUN();
  const fs::path d = attnmc::test::scratch_dir("attnmc_mpi_");
  const fs::path out = d / "out";
  fs::remove_all(out);
  const CliResult r = launch(3, kSmallRun + out.string(), d, "ATTNMC_TEST_FAULT=error@2");
  EXPECT_EQ(r.code, 1) << r.text();
  EXPECT_EQ(count(r.err, "attnmc: error:"), 1) << r.err;
  EXPECT_NE(r.err.find("attnmc: error: rank 2: injected fault"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(no_staging_left(out));
}

TEST(Mpi, BadInputOnOneRanksShareReportedOnce) {
  SKIP_WITHOUT_MPIRUN();
  const fs::path d = attnmc::test::scratch_dir("attnmc_mpi_");
  const fs::path out = d / "out";
  fs::remove_all(out);
  const CliResult r = launch(3, kSmallRun + out.string(), d, "ATTNMC_TEST_FAULT=input@1");
  EXPECT_EQ(r.code, 2) << r.text();
  EXPECT_EQ(count(r.err, "attnmc: error:"), 1) << r.err;
  EXPECT_NE(r.err.find("attnmc: error: rank 1: ensemble.members: injected fault"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST(Mpi, BadInputReportedOnceAsWithoutMpirun) {
  SKIP_WITHOUT_MPIRUN();
  const fs::path d = attnmc::test::scratch_dir("attnmc_mpi_");
  const fs::path out = d / "out";
  fs::remove_all(out);
  const std::string args = "run --set model.width=0 -o " + out.string();
  const CliResult plain = launch(0, args, d);
  const CliResult r = launch(3, args, d);
  EXPECT_EQ(plain.code, 2);
  EXPECT_EQ(r.code, 2) << r.text();
  // Once, word for word (mpirun adds its own note on the exit code).
  EXPECT_EQ(attnmc_lines(r.err), plain.err);
  EXPECT_EQ(count(r.err, "model.width"), 1) << r.err;
  EXPECT_FALSE(fs::exists(out));
  // The same for an output directory that cannot be used, which only rank 0 checks.
  fs::create_directories(d / "taken");
  std::ofstream(d / "taken" / "mine.txt") << "not attnmc's\n";
  const std::string taken = std::string(kSmallRun) + (d / "taken").string();
  const CliResult p = launch(0, taken, d), o = launch(2, taken, d);
  EXPECT_EQ(p.code, 2) << p.text();
  EXPECT_EQ(o.code, 2) << o.text();
  EXPECT_EQ(attnmc_lines(o.err), p.err);
  EXPECT_EQ(count(o.err, "attnmc: error: output:"), 1) << o.err;
}

TEST(Mpi, KilledSweepResumesToTheSameStore) {
  SKIP_WITHOUT_MPIRUN();
  const fs::path d = attnmc::test::scratch_dir("attnmc_mpi_");
  const fs::path file = d / "sweep.toml";
  {
    std::ofstream f(file);
    f << R"([sweep]
command = "sde"
mode = "grid"
seed = "index"
[[sweep.axis]]
key = "model.tau0"
values = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
[base.model]
width = 16
depth = 8
[base.ensemble]
members = 800
seed = 4
chunk = 400  # the resumed job may split a cell over its ranks: one chunk for all
)";
  }
  const std::string args = "sweep " + file.string() + " --threads 1 -q -o ";
  for (const char* s : {"plain", "killed"}) fs::remove_all(d / s);
  ASSERT_EQ(launch(0, args + (d / "plain").string(), d).code, 0);
  // Rank 1 dies as it is handed its first cell (it asks as soon as the
  // queue opens, while rank 0 starts on its own first cell).
  const CliResult k = launch(2, args + (d / "killed").string(), d, "ATTNMC_TEST_FAULT=kill@1");
  EXPECT_NE(k.code, 0) << k.text();
  EXPECT_NE(k.text().find("rank 1"), std::string::npos) << k.text();
  ASSERT_TRUE(fs::exists(d / "killed" / "sweep.json"));
  // The cell rank 1 was handed never finished.
  int cells = 0;
  for (const auto& e : fs::directory_iterator(d / "killed" / "cells"))
    cells += e.path().filename().string()[0] != '.';
  EXPECT_LT(cells, 6);
  const CliResult r = launch(2, args + (d / "killed").string(), d);
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(std::system(("diff -r -x .lock " + (d / "plain").string() + " " +
                         (d / "killed").string() + " >/dev/null")
                            .c_str()),
            0);
}

TEST(Mpi, OtherCommandsRunOnRankZeroAlone) {
  SKIP_WITHOUT_MPIRUN();
  const fs::path d = attnmc::test::scratch_dir("attnmc_mpi_");
  const CliResult r = launch(2, "presets", d);
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(count(r.out, "shaped-mlp"), 1) << r.out;  // printed once
}

}  // namespace
