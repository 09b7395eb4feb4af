// The attnmc binary end to end on tiny configurations: the files of a run
// (read back with nlohmann and, when available, h5py), exit codes, error
// messages that name the parameter, and no output directory after a failure.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "attnmc/model_spec.hpp"
#include "attnmc/version.hpp"
#include "tests/cli_runner.hpp"

namespace {

namespace fs = std::filesystem;

using attnmc::test::slurp;
using Result = attnmc::test::CliResult;

// A fresh scratch directory per test.
class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = attnmc::test::temp_root() / (std::string("attnmc_test_cli_") + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result run(const std::string& args, const fs::path& cwd = {}) {
    return attnmc::test::run_attnmc(args, dir_, cwd);
  }

  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
  }

  // Entries of dir_ other than the given ones (staging leftovers, say).
  std::vector<std::string> entries() const {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(dir_)) v.push_back(e.path().filename().string());
    return v;
  }

  fs::path dir_;
};

const char* const kTiny = R"(
[model]
preset = "shaped"
width = 16
tokens = 3
depth = 8
[input]
rho0 = 0.4
[ensemble]
members = 60
seed = 3
record_every = 2
quantiles = [0.1, 0.5, 0.9]
histogram_bins = 20
[run]
device = "cpu"
threads = 1
)";

bool python_has(const char* module) {
  const std::string cmd = std::string("python3 -c 'import ") + module + "' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

TEST_F(Cli, VersionHelpPresets) {
  Result v = run("--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_NE(v.out.find(attnmc::kVersion), std::string::npos) << v.out;
  Result h = run("--help");
  EXPECT_EQ(h.code, 0);
  for (const char* cmd : {"run", "collapse", "presets"})
    EXPECT_NE(h.out.find(cmd), std::string::npos) << h.out;
  Result p = run("presets");
  EXPECT_EQ(p.code, 0);
  for (const std::string& name : attnmc::model_preset_names())
    EXPECT_NE(p.out.find(name), std::string::npos) << p.out;
}

TEST_F(Cli, RunWritesAllFiles) {
  const fs::path cfg = write("tiny.toml", kTiny);
  const fs::path out = dir_ / "out" / "run1";  // "out" does not exist yet
  // Several --set before the positional config: each takes one key=value.
  Result r = run("run --set ensemble.seed=4 -s ensemble.members=50 " + cfg.string() + " --output " +
                 out.string());
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* f : {"stats.h5", "summary.json", "table.txt"})
    EXPECT_TRUE(fs::is_regular_file(out / f)) << f;
  // The table printed is the table written.
  const std::string table = slurp(out / "table.txt");
  EXPECT_NE(r.out.find(table), std::string::npos);

  // No staging directory left next to the result.
  std::vector<std::string> siblings;
  for (const auto& e : fs::directory_iterator(dir_ / "out"))
    siblings.push_back(e.path().filename().string());
  EXPECT_EQ(siblings, std::vector<std::string>{"run1"});

  const nlohmann::json s = nlohmann::json::parse(slurp(out / "summary.json"));
  EXPECT_EQ(s["version"], attnmc::kVersion);
  EXPECT_EQ(s["seed"], 4);
  EXPECT_EQ(s["device"], "cpu");
  // The sampler used (automatic by default) is reported in both places.
  const std::string sampler = s["sampler"];
  EXPECT_TRUE(sampler == "direct" || sampler == "exact") << sampler;
  EXPECT_NE(table.find("sampler " + sampler), std::string::npos) << table;
  EXPECT_EQ(s["threads"], 1);
  EXPECT_EQ(s["config"]["model"]["width"], 16);
  EXPECT_EQ(s["config"]["ensemble"]["members"], 50);
  // record_every = 2 over depth 8: layers 0, 2, 4, 6, 8.
  ASSERT_EQ(s["layers"].size(), 5u);
  for (int k = 0; k < 5; ++k) {
    EXPECT_EQ(s["layers"][k]["layer"], 2 * k);
    EXPECT_EQ(s["layers"][k]["members"], 50);
  }
  EXPECT_TRUE(s["timings"].contains("simulate_s"));
}

TEST_F(Cli, StatsReadableWithH5py) {
  if (!python_has("h5py") || !python_has("numpy"))
    GTEST_SKIP() << "python3 with h5py and numpy is not available";
  const fs::path out = dir_ / "run";
  ASSERT_EQ(run("run " + write("tiny.toml", kTiny).string() + " -o " + out.string()).code, 0);
  // Checks against facts independent of the statistics code: the input Gram
  // matrix at layer 0, t = layer / width, histogram counts = finite members,
  // ordered quantiles, symmetric matrices, edges spanning [-1, 1].
  const fs::path script = write("check.py", R"(
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1])
m, R, Q = 3, 5, 3
assert list(f['layers'][:]) == [0, 2, 4, 6, 8], f['layers'][:]
assert np.allclose(f['t'][:], f['layers'][:] / 16.0)
for k in ('members', 'nonfinite', 'overflow'):
    assert f[k].shape == (R,) and f[k].dtype == np.int64, k
assert (f['members'][:] == 60).all()
V0 = np.full((m, m), 0.4) + 0.6 * np.eye(m)
assert np.allclose(f['gram_mean'][0], V0, atol=1e-6), f['gram_mean'][0]
assert np.allclose(f['rho_mean'][0], V0, atol=1e-6)
assert np.allclose(f['gram_var'][0], 0, atol=1e-10)
for k in ('gram_mean', 'gram_var', 'rho_mean', 'rho_var'):
    assert f[k].shape == (R, m, m), k
    assert np.allclose(f[k][:], np.swapaxes(f[k][:], 1, 2)), k
for k in ('gram_quantiles', 'rho_quantiles'):
    q = f[k][:]
    assert q.shape == (R, Q, m, m), k
    assert (np.diff(q, axis=1) >= -1e-12).all(), k
    assert list(f[k].attrs['quantile_levels']) == [0.1, 0.5, 0.9]
assert list(f['quantile_levels'][:]) == [0.1, 0.5, 0.9]
assert np.allclose(f['rho_quantiles'][:, :, 0, 0], 1.0)
h = f['rho_histogram'][:]
assert h.shape == (R, 3, 20), h.shape
good = f['members'][:] - f['nonfinite'][:] - f['overflow'][:]
assert (h.sum(axis=2) == good[:, None]).all()
e = f['rho_histogram_edges'][:]
assert e.shape == (21,) and e[0] == -1.0 and e[-1] == 1.0
# Layer 0: every member has rho = 0.4 exactly -> one bin.
assert h[0, 0, int((0.4 + 1) / 2 * 20)] == 60
assert f.attrs['version'] == sys.argv[2] and int(f.attrs['seed']) == 3
print('ok')
)");
  const std::string cmd = "python3 " + script.string() + " " + (out / "stats.h5").string() + " " +
                          attnmc::kVersion + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string text;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) text += buf;
  EXPECT_EQ(pclose(p), 0) << text;
  EXPECT_NE(text.find("ok"), std::string::npos) << text;
}

// Same seed, same bits: stats.h5 and table.txt are byte-identical whatever
// the chunk size and thread count, for both samplers.
TEST_F(Cli, SameSeedSameFilesAcrossChunksAndThreads) {
  const fs::path cfg = write("tiny.toml", kTiny);
  for (const char* sampler : {"direct", "exact"}) {
    const std::string base = "run " + cfg.string() + " --set ensemble.sampler=" + sampler;
    const fs::path a = dir_ / (std::string("a_") + sampler),
                   b = dir_ / (std::string("b_") + sampler);
    ASSERT_EQ(run(base + " --threads 1 --set ensemble.chunk=1 --output " + a.string()).code, 0);
    ASSERT_EQ(run(base + " --threads 2 --set ensemble.chunk=7 --output " + b.string()).code, 0);
    EXPECT_EQ(slurp(a / "stats.h5"), slurp(b / "stats.h5")) << sampler;
    // The table's second line states threads, chunk and timings; the rest must match.
    auto body = [](const std::string& t) { return t.substr(t.find('\n', t.find('\n') + 1)); };
    EXPECT_EQ(body(slurp(a / "table.txt")), body(slurp(b / "table.txt"))) << sampler;
    const nlohmann::json sa = nlohmann::json::parse(slurp(a / "summary.json"));
    const nlohmann::json sb = nlohmann::json::parse(slurp(b / "summary.json"));
    EXPECT_EQ(sa["layers"], sb["layers"]) << sampler;
    EXPECT_EQ(sa["sampler"], sampler);
  }
}

TEST_F(Cli, ExistingOutputNeedsForce) {
  const fs::path cfg = write("tiny.toml", kTiny);
  const fs::path out = dir_ / "out";
  fs::create_directories(out);
  std::ofstream(out / "keep.txt") << "old";
  // --force replaces only what attnmc wrote (a summary.json is the mark).
  Result n = run("run " + cfg.string() + " -o " + out.string() + " --force");
  EXPECT_EQ(n.code, 2);
  EXPECT_NE(n.err.find("attnmc: error: output:"), std::string::npos) << n.err;
  EXPECT_EQ(slurp(out / "keep.txt"), "old");
  std::ofstream(out / "summary.json") << "{}";
  Result r = run("run " + cfg.string() + " -o " + out.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("attnmc: error: output:"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(out / "keep.txt"), "old");  // untouched
  EXPECT_FALSE(fs::exists(out / "stats.h5"));
  // A summary.json beside the user's own file is not enough (defect 8).
  Result u = run("run " + cfg.string() + " -o " + out.string() + " --force");
  EXPECT_EQ(u.code, 2);
  EXPECT_NE(u.err.find("keep.txt"), std::string::npos) << u.err;
  EXPECT_EQ(slurp(out / "keep.txt"), "old");

  fs::remove(out / "keep.txt");
  Result f = run("run " + cfg.string() + " -o " + out.string() + " --force --quiet");
  EXPECT_EQ(f.code, 0) << f.err;
  EXPECT_TRUE(f.out.empty()) << f.out;
  EXPECT_TRUE(fs::exists(out / "stats.h5"));  // replaced as a whole
  // The working directory (or one containing it) is never replaced, even
  // when it holds an attnmc result.
  Result w = run("run " + cfg.string() + " -o . --force", out);
  EXPECT_EQ(w.code, 2);
  EXPECT_NE(w.err.find("contains the working directory"), std::string::npos) << w.err;
  EXPECT_TRUE(fs::exists(out / "stats.h5"));
  EXPECT_EQ(entries().size(), 2u);  // tiny.toml, out: no staging or backup left
}

struct BadCase {
  std::string args;  // after `run <tiny.toml> -o <dir>/out`
  std::string parameter;
};

TEST_F(Cli, BadInputExitsTwoNamingTheParameter) {
  const fs::path cfg = write("tiny.toml", kTiny);
  const fs::path bad_key = write("bad_key.toml", std::string(kTiny) + "[extra]\nfoo = 1\n");
  write("a_file", "x");
  const std::vector<BadCase> cases = {
      {"--set model.width=0", "model.width"},
      {"--set model.width=-4", "model.width"},
      {"--set model.tokens=17", "model.tokens"},
      {"--set model.tau0=0", "model.tau0"},
      {"--set model.tau0=nan", "model.tau0"},
      {"--set model.lambda=1.5", "model.lambda"},
      {"--set model.bogus=1", "model.bogus"},
      {"--set input.rho0=1", "input.rho0"},
      {"--members 0", "ensemble.members"},
      {"--members -5", "ensemble.members"},
      {"--seed abc", "ensemble.seed"},
      {"--device gpu", "run.device"},
      {"--threads -1", "run.threads"},
      {"--set ensemble.memory_cap=100B", "ensemble.memory_cap"},  // engine: one network won't fit
      {"--set ensemble.quantiles=[2]", "ensemble.quantiles"},
      {"--set oops", "set"},
      {"--no-such-flag", "command line"},
  };
  for (const BadCase& c : cases) {
    const fs::path out = dir_ / "out";
    Result r = run("run " + cfg.string() + " -o " + out.string() + " " + c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find("attnmc: error: " + c.parameter + ":"), std::string::npos)
        << c.args << "\n"
        << r.err;
    EXPECT_FALSE(fs::exists(out)) << c.args;
  }
  // Problems with the files themselves.
  const std::vector<BadCase> file_cases = {
      {"run " + bad_key.string() + " -o " + (dir_ / "out").string(), "extra"},
      {"run " + (dir_ / "missing.toml").string() + " -o " + (dir_ / "out").string(), "config"},
      {"run " + cfg.string() + " -o " + (dir_ / "a_file").string(), "output"},
      {"run " + cfg.string() + " -o " + (dir_ / "a_file" / "out").string(), "output"},
      {"collapse " + cfg.string() + " --set model.depth=-1 -o " + (dir_ / "out").string(),
       "model.depth"},
  };
  for (const BadCase& c : file_cases) {
    Result r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find("attnmc: error: " + c.parameter + ":"), std::string::npos)
        << c.args << "\n"
        << r.err;
    EXPECT_FALSE(fs::exists(dir_ / "out")) << c.args;
  }
  // Nothing but the inputs remains: no staging directories.
  EXPECT_EQ(entries().size(), 3u);
}

TEST_F(Cli, CollapseShowsSoftmaxRankCollapse) {
  const fs::path cfg = write("collapse.toml", R"(
[model]
width = 16
tokens = 3
depth = 16
[input]
rho0 = 0.3
[ensemble]
members = 40
seed = 2
[run]
device = "cpu"
threads = 1
)");
  const fs::path out = dir_ / "collapse";
  const bool plot = python_has("matplotlib");
  Result r = run("collapse " + cfg.string() + " -o " + out.string() + (plot ? "" : " --no-plot"));
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(fs::is_regular_file(out / "collapse.csv"));
  EXPECT_TRUE(fs::is_regular_file(out / "table.txt"));
  EXPECT_TRUE(fs::is_regular_file(out / "summary.json"));
  // Last row of each model: softmax attention collapses (rho -> 1) within a
  // few layers, shaped attention keeps the correlation near its start. At
  // width 16, depth 16 the shaped mean has sd ~0.05 over 40 members, so the
  // 0.9 bound is > 10 sd away (false-failure rate negligible).
  std::istringstream csv(slurp(out / "collapse.csv"));
  std::string line;
  std::getline(csv, line);
  std::map<std::string, double> last;
  int rows = 0;
  while (std::getline(csv, line)) {
    ++rows;
    std::istringstream ls(line);
    std::string model, layer, t, rho;
    std::getline(ls, model, ',');
    std::getline(ls, layer, ',');
    std::getline(ls, t, ',');
    std::getline(ls, rho, ',');
    if (layer == "16") last[model] = std::stod(rho);
  }
  EXPECT_EQ(rows, 3 * 17);  // depth 16 < 32: every layer recorded
  ASSERT_EQ(last.size(), 3u);
  EXPECT_GT(last["softmax"], 0.99);
  EXPECT_GT(last["softmax-prenorm"], 0.9);
  EXPECT_LT(last["shaped"], 0.9);
  if (plot)
    EXPECT_TRUE(fs::is_regular_file(out / "collapse.png")) << r.err;
  else
    GTEST_SKIP() << "matplotlib missing: collapse.png not checked";
}

TEST_F(Cli, CollapseWithoutPythonKeepsTheCsv) {
  const fs::path cfg = write("c.toml",
                             "[model]\nwidth = 8\ntokens = 2\ndepth = 4\n"
                             "[ensemble]\nmembers = 10\n[run]\nthreads = 1\n");
  const fs::path out = dir_ / "c";
  // No python3 on PATH: the picture is skipped with a note, the run succeeds.
  const std::string cmd = "PATH=/nonexistent " ATTNMC_BINARY_DIR "/attnmc collapse " +
                          cfg.string() + " -o " + out.string() + " > /dev/null 2> " +
                          (dir_ / "err.txt").string();
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(fs::is_regular_file(out / "collapse.csv"));
  EXPECT_FALSE(fs::exists(out / "collapse.png"));
  EXPECT_NE(slurp(dir_ / "err.txt").find("collapse.png not made"), std::string::npos);
}

}  // namespace

// Issue 9, defect 9: an unknown command exits 2 naming it, with or without
// --help after it.
TEST_F(Cli, UnknownCommandsAreErrors) {
  for (const char* args : {"bogus", "bogus --help"}) {
    Result r = run(args);
    EXPECT_EQ(r.code, 2) << args;
    EXPECT_NE(r.err.find("unknown command 'bogus'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("run"), std::string::npos) << r.err;  // lists the commands
  }
}

// Issue 9, defect 3: a configuration path that is a directory cannot be read
// (it used to run the built-in defaults with exit 0).
TEST_F(Cli, AConfigThatIsADirectoryIsRefused) {
  fs::create_directories(dir_ / "cfgdir");
  Result r = run("run " + (dir_ / "cfgdir").string() + " -o " + (dir_ / "out").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("it is a directory"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "out"));
}

// Issue 9, defect 10: one rule for seeds on every command, 0 to 2^64 - 1;
// -1 is refused (it used to wrap to 2^64 - 1 in sde and sphere) and 2^64 - 1
// is accepted by run (it used to be refused), through to a merge of pieces.
TEST_F(Cli, SeedsFollowOneRuleEverywhere) {
  for (const char* cmd : {"run", "sde", "sphere", "compare"}) {
    Result r = run(std::string(cmd) + " --seed -1 -q");
    EXPECT_EQ(r.code, 2) << cmd << ": " << r.text();
    EXPECT_NE(r.text().find("0 to 2^64 - 1"), std::string::npos) << cmd << ": " << r.text();
  }
  const fs::path cfg = write("tiny.toml", kTiny);
  const std::string base = "run " + cfg.string() + " --seed 18446744073709551615 -q ";
  Result a = run(base + "--range 0:20 -o " + (dir_ / "a").string());
  Result b = run(base + "--range 20:60 -o " + (dir_ / "b").string());
  ASSERT_EQ(a.code, 0) << a.text();
  ASSERT_EQ(b.code, 0) << b.text();
  EXPECT_NE(slurp(dir_ / "a" / "summary.json").find("18446744073709551615"), std::string::npos);
  Result m = run("merge " + (dir_ / "a").string() + " " + (dir_ / "b").string() + " -q -o " +
                 (dir_ / "ab").string());
  EXPECT_EQ(m.code, 0) << m.text();
  Result big =
      run("run " + cfg.string() + " --seed 18446744073709551616 -q -o " + (dir_ / "c").string());
  EXPECT_EQ(big.code, 2) << big.text();
}

// With OMP_WAIT_POLICY unset, attnmc sets it to passive and executes itself
// again (host/cli/openmp_wait_policy.cpp): the second process must see the
// same arguments (a path with a space, quoted values) and give the same
// files as a run that needed no re-execution.
TEST_F(Cli, ReexecutionKeepsTheArguments) {
  const fs::path cfg = write("tiny config.toml", kTiny);
  const std::string args =
      "run '" + cfg.string() + "' --set 'ensemble.quantiles=[0.25, 0.75]' --threads 2 --output ";
  const Result unset = attnmc::test::run_attnmc(args + "'" + (dir_ / "re exec").string() + "'",
                                                dir_, {}, "-u OMP_WAIT_POLICY");
  ASSERT_EQ(unset.code, 0) << unset.err;
  const Result passive = attnmc::test::run_attnmc(args + "'" + (dir_ / "passive").string() + "'",
                                                  dir_, {}, "OMP_WAIT_POLICY=passive");
  ASSERT_EQ(passive.code, 0) << passive.err;
  EXPECT_EQ(slurp(dir_ / "re exec" / "stats.h5"), slurp(dir_ / "passive" / "stats.h5"));
  const nlohmann::json s = nlohmann::json::parse(slurp(dir_ / "re exec" / "summary.json"));
  EXPECT_EQ(s["config"]["ensemble"]["quantiles"], nlohmann::json::array({0.25, 0.75}));
}
