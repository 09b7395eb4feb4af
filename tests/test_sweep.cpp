// Sweeps: the plan (grid and zip order, the seed rules), and the store end
// to end through the binary: resuming after signals at random points gives
// the bytes of an uninterrupted sweep, corrupted or truncated cells are
// recomputed, the lock refuses a second sweep, bad input in any cell stops
// the sweep before any work, a cell that fails numerically is recorded and
// the sweep goes on, and a store holding another sweep is refused.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "attnmc/error.hpp"
#include "host/sphere_sweep.hpp"
#include "host/sweep/sweep_plan.hpp"
#include "tests/cli_runner.hpp"

namespace {

namespace fs = std::filesystem;
using attnmc::test::CliResult;
using attnmc::test::slurp;

fs::path scratch() {
  const fs::path d = attnmc::test::scratch_dir("attnmc_sweep_");
  return d;
}

fs::path write(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
  return p;
}

// Six small cells of the finite network (about 0.2 s each on 2 cores).
const char* const kRunSweep = R"(
[sweep]
command = "run"
[[sweep.axis]]
key = "model.width"
values = [16, 32, 64]
[[sweep.axis]]
key = "model.tau0"
values = [0.5, 2.0]
[base.model]
depth = 24
tokens = 3
[base.ensemble]
members = 3000
chunk = 500
seed = 11
)";

// Every file of a store but the lock, as bytes keyed by relative path.
std::map<std::string, std::string> contents(const fs::path& store) {
  std::map<std::string, std::string> m;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(store)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = fs::relative(e.path(), store).string();
    if (rel == ".lock") continue;
    m[rel] = slurp(e.path());
  }
  return m;
}

void expect_same_store(const fs::path& a, const fs::path& b) {
  const auto ca = contents(a), cb = contents(b);
  ASSERT_FALSE(ca.empty());
  EXPECT_EQ(ca.size(), cb.size());
  for (const auto& [name, bytes] : ca) {
    auto it = cb.find(name);
    ASSERT_NE(it, cb.end()) << name << " missing";
    EXPECT_TRUE(it->second == bytes) << name << " differs";
  }
  for (const auto& [name, unused] : cb) EXPECT_TRUE(ca.count(name)) << name << " is extra";
}

// Starts `attnmc ARGS` (stdout, stderr to files in `dir`) and returns its pid.
pid_t spawn(const std::vector<std::string>& args, const fs::path& dir) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int out = ::open((dir / "child.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open((dir / "child.err").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(out, 1);
    ::dup2(err, 2);
    std::vector<char*> argv;
    const std::string bin = ATTNMC_BINARY_DIR "/attnmc";
    argv.push_back(const_cast<char*>(bin.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

CliResult cli(const std::string& args, const fs::path& dir) {
  return attnmc::test::run_attnmc(args, dir);
}

// ------------------------------------------------------------------ plans

TEST(SweepPlan, GridRunsTheLastAxisFastestAndZipPairsValues) {
  const fs::path dir = scratch();
  attnmc::sweep::Plan p = attnmc::sweep::read_plan(write(dir / "s.toml", kRunSweep).string());
  attnmc::sweep::expand(p, "");
  ASSERT_EQ(p.cells.size(), 6u);
  EXPECT_EQ(p.cells[1].params[0].second, "16");
  EXPECT_EQ(p.cells[1].params[1].second, "2.0");
  EXPECT_EQ(p.cells[2].params[0].second, "32");
  EXPECT_EQ(p.cells[2].params[1].second, "0.5");
  // file < [base] < axis values < seed
  const auto& o = p.cells[5].source.overrides;
  ASSERT_GE(o.size(), 3u);
  EXPECT_EQ(o[o.size() - 3], "model.width=64");
  EXPECT_EQ(o[o.size() - 2], "model.tau0=2.0");
  EXPECT_EQ(o.back(), "ensemble.seed=\"" + std::to_string(p.cells[5].seed) + "\"");

  std::string zip = kRunSweep;
  zip.replace(zip.find("command = \"run\""), 15, "command = \"run\"\nmode = \"zip\"");
  zip.replace(zip.find("[0.5, 2.0]"), 10, "[0.5, 1.0, 2.0]");
  attnmc::sweep::Plan z = attnmc::sweep::read_plan(write(dir / "z.toml", zip).string());
  attnmc::sweep::expand(z, "");
  ASSERT_EQ(z.cells.size(), 3u);
  EXPECT_EQ(z.cells[2].params[0].second, "64");
  EXPECT_EQ(z.cells[2].params[1].second, "2.0");
  zip.replace(zip.find("[0.5, 1.0, 2.0]"), 15, "[0.5]");
  attnmc::sweep::Plan bad = attnmc::sweep::read_plan(write(dir / "b.toml", zip).string());
  EXPECT_THROW(attnmc::sweep::expand(bad, ""), attnmc::InputError);
  fs::remove_all(dir);
}

TEST(SweepPlan, DerivedSeedsDependOnTheCellsParametersOnly) {
  using attnmc::sweep::derived_seed;
  const std::vector<std::pair<std::string, std::string>> a = {{"model.width", "32"},
                                                              {"model.tau0", "0.5"}};
  const auto b = std::vector<std::pair<std::string, std::string>>{{"model.width", "64"},
                                                                  {"model.tau0", "0.5"}};
  EXPECT_EQ(derived_seed(11, a), derived_seed(11, a));
  EXPECT_NE(derived_seed(11, a), derived_seed(11, b));
  EXPECT_NE(derived_seed(11, a), derived_seed(12, a));
  // A cell keeps its seed when another axis gains values.
  const fs::path dir = scratch();
  std::string more = kRunSweep;
  more.replace(more.find("[16, 32, 64]"), 12, "[8, 16, 32, 64, 128]");
  attnmc::sweep::Plan p = attnmc::sweep::read_plan(write(dir / "s.toml", kRunSweep).string());
  attnmc::sweep::Plan q = attnmc::sweep::read_plan(write(dir / "m.toml", more).string());
  attnmc::sweep::expand(p, "");
  attnmc::sweep::expand(q, "");
  EXPECT_EQ(p.base_seed, 11u);
  EXPECT_EQ(p.cells[2].params, q.cells[4].params);  // width 32, tau0 0.5
  EXPECT_EQ(p.cells[2].seed, q.cells[4].seed);
  EXPECT_EQ(p.cells[2].seed, derived_seed(11, p.cells[2].params));
  fs::remove_all(dir);
}

TEST(SweepPlan, IndexSeedsAreThePhaseDiagramsRule) {
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 4; ++j)
      for (std::size_t k = 0; k < 5; ++k)
        EXPECT_EQ(attnmc::sweep::index_seed(99, {i, j, k}),
                  attnmc::sweep_cell_seed(99, int(i), int(j), int(k)));
}

TEST(SweepPlan, MistakesNameTheSweepKey) {
  const fs::path dir = scratch();
  auto error_of = [&](const std::string& text) -> std::string {
    try {
      attnmc::sweep::Plan p = attnmc::sweep::read_plan(write(dir / "e.toml", text).string());
      attnmc::sweep::expand(p, "");
    } catch (const attnmc::InputError& e) {
      return e.parameter();
    }
    return "";
  };
  EXPECT_EQ(error_of("[sweep]\ncommand = \"run\"\nbogus = 1\n"), "sweep.bogus");
  EXPECT_EQ(error_of("[sweep]\nmode = \"grid\"\n"), "sweep.command");
  EXPECT_EQ(error_of("[sweep]\ncommand = \"run\"\nmode = \"cube\"\n"), "sweep.mode");
  EXPECT_EQ(error_of("[sweep]\ncommand = \"run\"\nseed = \"random\"\n"), "sweep.seed");
  EXPECT_EQ(error_of("[sweep]\ncommand = \"run\"\n[[sweep.axis]]\nkey = \"model.width\"\n"),
            "sweep.axis");
  EXPECT_EQ(error_of("[sweep]\ncommand = \"run\"\n[other]\nx = 1\n"), "other");
  fs::remove_all(dir);
}

// ------------------------------------------------------------------ stores

class SweepStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = scratch();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    sweep_ = write(dir_ / "sweep.toml", kRunSweep);
  }
  void TearDown() override { fs::remove_all(dir_); }
  CliResult sweep(const fs::path& store, const std::string& extra = "") {
    return cli("sweep " + sweep_.string() + " -o " + store.string() + " --threads 2 " + extra,
               dir_);
  }
  fs::path dir_, sweep_;
};

// Signals at random points (fixed seed; the false-failure rate is zero: the
// result must be bytes, whatever the timing), then resume: the store equals
// an uninterrupted sweep's. A planted bug (timings in the cells, a cell
// rewritten non-atomically) makes the stores differ or leaves debris.
TEST_F(SweepStore, ResumingAfterSignalsGivesTheBytesOfAnUninterruptedSweep) {
  const fs::path whole = dir_ / "whole", pieces = dir_ / "pieces";
  const auto t0 = std::chrono::steady_clock::now();
  const CliResult w = sweep(whole, "-q");
  ASSERT_EQ(w.code, 0) << w.text();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(w.out.empty()) << w.out;

  std::mt19937 rng(20261202);
  // Each run gets through about one cell before its signal (a cell takes
  // about seconds / 6), so the signals land all along the sweep.
  std::uniform_real_distribution<double> when(0.05, 0.05 + seconds / 6);
  const int signals[] = {SIGKILL, SIGTERM, SIGINT, SIGKILL, SIGKILL, SIGTERM};
  int interrupted = 0;
  for (int sig : signals) {
    const pid_t pid =
        spawn({"sweep", sweep_.string(), "-o", pieces.string(), "--threads", "2", "-q"}, dir_);
    std::this_thread::sleep_for(std::chrono::duration<double>(when(rng)));
    ::kill(pid, sig);
    const int code = wait_exit(pid);
    if (code == 128 + sig) ++interrupted;
    // Caught signals leave no staging directory behind.
    if (sig != SIGKILL && fs::exists(pieces / "cells"))
      for (const fs::directory_entry& e : fs::directory_iterator(pieces / "cells"))
        EXPECT_NE(e.path().filename().string()[0], '.') << e.path() << " after signal " << sig;
  }
  EXPECT_GE(interrupted, 3) << "the sweep finished before most signals: make the cells slower";
  const CliResult r = sweep(pieces);
  ASSERT_EQ(r.code, 0) << r.text();
  expect_same_store(whole, pieces);
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(pieces))
    EXPECT_NE(e.path().filename().string().find(".tmp-"), 0u) << e.path();
  // A finished sweep run again computes nothing.
  const CliResult again = sweep(pieces);
  EXPECT_NE(again.out.find("0 computed, 6 already in the store"), std::string::npos)
      << again.text();
  expect_same_store(whole, pieces);
}

TEST_F(SweepStore, CorruptedOrTruncatedCellsAreRecomputed) {
  const fs::path whole = dir_ / "whole", store = dir_ / "store";
  ASSERT_EQ(sweep(whole, "-q").code, 0);
  ASSERT_EQ(sweep(store, "-q").code, 0);
  fs::resize_file(store / "cells/0001/stats.h5", 1000);  // truncated
  {
    std::fstream f(store / "cells/0004/summary.json", std::ios::in | std::ios::out);
    f.seekp(10);
    f.put('#');  // corrupted, same size
  }
  fs::remove(store / "cells/0002/cell.json");  // no manifest
  const CliResult r = sweep(store);
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_NE(r.err.find("cell 1 (model.width=16, model.tau0=2.0): stats.h5 has the wrong size"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("cell 4 (model.width=64, model.tau0=0.5): summary.json does not match"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("cell 2"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("3 computed, 3 already in the store"), std::string::npos) << r.out;
  expect_same_store(whole, store);
}

TEST_F(SweepStore, TheLockRefusesASecondSweep) {
  const fs::path store = dir_ / "store";
  fs::create_directories(store / "cells");
  write(store / ".lock", "4242\n");
  const int fd = ::open((store / ".lock").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  const CliResult r = sweep(store);
  EXPECT_EQ(r.code, 2) << r.text();
  EXPECT_NE(r.err.find("in use by another sweep (pid 4242)"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(store / "sweep.json"));
  ::close(fd);  // released: the sweep runs
  EXPECT_EQ(sweep(store, "-q").code, 0);
}

TEST_F(SweepStore, BadInputInAnyCellStopsTheSweepBeforeAnyWork) {
  std::string text = kRunSweep;
  text.replace(text.find("[16, 32, 64]"), 12, "[16, 32, -4]");
  write(sweep_, text);
  const fs::path store = dir_ / "store";
  const CliResult r = sweep(store);
  EXPECT_EQ(r.code, 2) << r.text();
  EXPECT_NE(r.err.find("error: model.width: cell 4 (model.width=-4, model.tau0=0.5)"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(store));
  // An unknown key in [base] is named like on the command line.
  text = kRunSweep;
  text += "[base.run]\nthreds = 2\n";
  write(sweep_, text);
  const CliResult k = sweep(store);
  EXPECT_EQ(k.code, 2);
  EXPECT_NE(k.err.find("run.threds: cell 0 (model.width=16, model.tau0=0.5): unknown key (valid "
                       "in [run]: device, threads)"),
            std::string::npos)
      << k.err;
  EXPECT_FALSE(fs::exists(store));
}

TEST_F(SweepStore, ANumericallyFailedCellIsRecordedAndTheSweepGoesOn) {
  // Every path of the first cell blows up (threshold just above V0); the second runs.
  write(sweep_, R"(
[sweep]
command = "sde"
[[sweep.axis]]
key = "sde.blowup_threshold"
values = [1.01, 1e6]
[base.model]
tokens = 3
tau0 = 0.05
[base.ensemble]
members = 200
)");
  const fs::path store = dir_ / "store";
  const CliResult r = sweep(store);
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_NE(r.err.find("cell 0 (sde.blowup_threshold=1.01) failed: every one of the 200 paths"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.out.find("2 computed, 0 already in the store, 1 failed"), std::string::npos) << r.out;
  const std::string csv = slurp(store / "cells.csv");
  EXPECT_NE(csv.find("\n0,failed,every one of the 200 paths"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\n1,ok,,"), std::string::npos) << csv;
  std::ifstream f(store / "cells/0000/cell.json");
  const nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_TRUE(fs::exists(store / "cells/0000/stats.h5"));  // the counts are kept
}

TEST_F(SweepStore, AStoreHoldingAnotherSweepIsRefusedUnlessForced) {
  const fs::path store = dir_ / "store";
  ASSERT_EQ(sweep(store, "-q").code, 0);
  const CliResult other = sweep(store, "--set ensemble.members=2000");
  EXPECT_EQ(other.code, 2);
  EXPECT_NE(other.err.find("holds a different sweep"), std::string::npos) << other.err;
  // --threads is how it runs, not what: the same sweep.
  const CliResult threads =
      cli("sweep " + sweep_.string() + " -o " + store.string() + " --threads 1", dir_);
  EXPECT_EQ(threads.code, 0) << threads.text();
  EXPECT_NE(threads.out.find("0 computed, 6 already"), std::string::npos) << threads.out;
  const CliResult forced = sweep(store, "--set ensemble.members=2000 --force -q");
  EXPECT_EQ(forced.code, 0) << forced.text();
  std::ifstream f(store / "cells/0000/summary.json");
  EXPECT_EQ(nlohmann::json::parse(f)["config"]["ensemble"]["members"], 2000);
}

TEST_F(SweepStore, ProgressOnANonTerminalIsPlainLinesWithRateAndEta) {
  const fs::path store = dir_ / "store";
  const CliResult r = sweep(store, "--progress");
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sweep: 6 / 6 cells, 18000 / 18000 members"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("members/s, ETA"), std::string::npos) << r.err;
}

}  // namespace
