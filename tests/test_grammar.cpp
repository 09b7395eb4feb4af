// The shared command-line grammar of every ensemble command (run, collapse,
// sde, sphere, compare): a TOML file, --set, the named flags and the output
// options, with the same errors and precedence everywhere; and the defects
// of issue 9, one test each.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/cli_runner.hpp"

namespace {

namespace fs = std::filesystem;
using attnmc::test::CliResult;
using attnmc::test::run_attnmc;
using attnmc::test::scratch_dir;
using attnmc::test::slurp;
using nlohmann::json;

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
}

json read_json(const fs::path& p) {
  std::ifstream f(p);
  return json::parse(f);
}

// One tiny configuration per command; `extra` is what the command needs on
// every line (no plots), `members` where its summary.json records the
// ensemble size and `seed` where it records the seed.
struct Family {
  std::string name, toml, extra;
  std::vector<json::json_pointer> members, seed;
};

const std::vector<Family>& families() {
  using P = json::json_pointer;
  static const std::vector<Family> all = {
      {"run",
       "[model]\npreset = \"shaped\"\nwidth = 16\ntokens = 3\ndepth = 8\n"
       "[ensemble]\nmembers = 300\nseed = 1\n",
       "",
       {P("/config/ensemble/members")},
       {P("/seed"), P("/config/ensemble/seed")}},
      {"collapse",
       "[model]\nwidth = 16\ntokens = 3\ndepth = 8\n[ensemble]\nmembers = 300\nseed = 1\n",
       "--no-plot",
       {P("/runs/softmax/config/ensemble/members"),
        P("/runs/softmax-prenorm/config/ensemble/members"),
        P("/runs/shaped/config/ensemble/members")},
       {P("/seed"), P("/runs/shaped/config/ensemble/seed")}},
      {"sde",
       "[model]\ntokens = 3\nwidth = 16\ndepth = 16\n[ensemble]\nmembers = 300\nseed = 1\n",
       "",
       {P("/config/ensemble/members")},
       {P("/seed"), P("/config/ensemble/seed")}},
      {"sphere",
       "[model]\ntokens = 2\ndim = 3\n[sphere]\nhorizon = 0.2\ndt = 0.05\n"
       "[ensemble]\nmembers = 300\nseed = 1\n",
       "",
       {P("/spec/trajectories")},
       {P("/spec/seed")}},
      {"compare",
       "[model]\ntokens = 3\n[compare]\nwidths = [8, 16]\nhorizon = 0.25\nrecords = 2\n"
       "trajectories = 300\n[ensemble]\nmembers = 300\nseed = 1\n",
       "--no-plot",
       {P("/members")},
       {P("/seed")}},
  };
  return all;
}

// A scratch directory with the command's config file and an empty `outs/`
// (the parent of every output directory, so that leftovers show).
struct Scratch {
  fs::path dir, cfg, outs;
  explicit Scratch(const Family& f) {
    dir = scratch_dir("attnmc_grammar_") / f.name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    cfg = dir / (f.name + ".toml");
    write_file(cfg, f.toml);
    outs = dir / "outs";
    fs::create_directories(outs);
  }
  fs::path out() const { return outs / "o"; }
  CliResult run(const std::string& args) const { return run_attnmc(args, dir); }
  bool outs_empty() const { return fs::is_empty(outs); }
};

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

// --- 1. the shared grammar, per command --------------------------------------

TEST(Grammar, UnknownSectionExitsTwoAndLeavesNothing) {
  for (const Family& f : families()) {
    SCOPED_TRACE(f.name);
    const Scratch s(f);
    const CliResult r = s.run(f.name + " " + quoted(s.cfg) + " " + f.extra +
                              " --set nosuch.key=1 -o " + quoted(s.out()));
    EXPECT_EQ(r.code, 2) << r.text();
    EXPECT_TRUE(contains(r.err, "nosuch")) << r.text();
    EXPECT_TRUE(contains(r.err, "unknown section")) << r.text();
    EXPECT_TRUE(s.outs_empty()) << "output left behind";
  }
}

TEST(Grammar, UnknownKeyExitsTwoAndListsTheValidKeys) {
  for (const Family& f : families()) {
    SCOPED_TRACE(f.name);
    const Scratch s(f);
    const CliResult r = s.run(f.name + " " + quoted(s.cfg) + " " + f.extra +
                              " --set model.nokey=1 -o " + quoted(s.out()));
    EXPECT_EQ(r.code, 2) << r.text();
    EXPECT_TRUE(contains(r.err, "model.nokey: unknown key (valid in [model]:")) << r.text();
    EXPECT_TRUE(s.outs_empty()) << "output left behind";
  }
}

TEST(Grammar, NegativeSeedExitsTwoNamingEnsembleSeed) {
  for (const Family& f : families()) {
    SCOPED_TRACE(f.name);
    const Scratch s(f);
    const CliResult r =
        s.run(f.name + " " + quoted(s.cfg) + " " + f.extra + " --seed -1 -o " + quoted(s.out()));
    EXPECT_EQ(r.code, 2) << r.text();
    EXPECT_TRUE(contains(r.err, "ensemble.seed")) << r.text();
    EXPECT_TRUE(contains(r.err, "0 to 2^64 - 1")) << r.text();
    EXPECT_TRUE(s.outs_empty()) << "output left behind";
  }
}

TEST(Grammar, ConfigThatIsADirectoryExitsTwo) {
  for (const Family& f : families()) {
    SCOPED_TRACE(f.name);
    const Scratch s(f);
    const fs::path d = s.dir / "a_directory.toml";
    fs::create_directories(d);
    const CliResult r = s.run(f.name + " " + quoted(d) + " " + f.extra + " -o " + quoted(s.out()));
    EXPECT_EQ(r.code, 2) << r.text();
    EXPECT_TRUE(contains(r.err, "it is a directory")) << r.text();
    EXPECT_TRUE(s.outs_empty()) << "output left behind";
  }
}

TEST(Grammar, NamedFlagsRunQuietlyAndRecordTheSeed) {
  for (const Family& f : families()) {
    SCOPED_TRACE(f.name);
    const Scratch s(f);
    const CliResult r =
        s.run(f.name + " " + quoted(s.cfg) + " " + f.extra +
              " --threads 1 --device cpu -q --progress --seed 5 -B 100 -o " + quoted(s.out()));
    ASSERT_EQ(r.code, 0) << r.text();
    EXPECT_EQ(r.out, "");  // -q: nothing on stdout
    EXPECT_EQ(r.err, "");  // -q beats --progress: no progress lines, no notes
    ASSERT_TRUE(fs::exists(s.out() / "summary.json"));
    const json j = read_json(s.out() / "summary.json");
    for (const json::json_pointer& p : f.seed) {
      ASSERT_TRUE(j.contains(p)) << p.to_string();
      EXPECT_EQ(j.at(p).get<std::uint64_t>(), 5u) << p.to_string();
    }
    for (const json::json_pointer& p : f.members) {
      ASSERT_TRUE(j.contains(p)) << p.to_string();
      EXPECT_EQ(j.at(p).get<std::uint64_t>(), 100u) << p.to_string();
    }
  }
}

// The file, then --set, then the named flag.
TEST(Grammar, SetBeatsTheFileAndNamedFlagsBeatSet) {
  for (const Family& f : families()) {
    SCOPED_TRACE(f.name);
    const Scratch s(f);
    const std::string base = f.name + " " + quoted(s.cfg) + " " + f.extra + " --threads 1 -q ";
    // The file alone: 300 members, seed 1.
    CliResult r = s.run(base + "-o " + quoted(s.outs / "file"));
    ASSERT_EQ(r.code, 0) << r.text();
    json j = read_json(s.outs / "file" / "summary.json");
    for (const json::json_pointer& p : f.members) EXPECT_EQ(j.at(p).get<int>(), 300);
    for (const json::json_pointer& p : f.seed) EXPECT_EQ(j.at(p).get<int>(), 1);
    // --set over the file.
    r = s.run(base + "--set ensemble.members=200 --set ensemble.seed=7 -o " +
              quoted(s.outs / "set"));
    ASSERT_EQ(r.code, 0) << r.text();
    j = read_json(s.outs / "set" / "summary.json");
    for (const json::json_pointer& p : f.members) EXPECT_EQ(j.at(p).get<int>(), 200);
    for (const json::json_pointer& p : f.seed) EXPECT_EQ(j.at(p).get<int>(), 7);
    // The named flags over --set (whatever their order on the line).
    r = s.run(base + "-B 100 --seed 9 --set ensemble.members=200 --set ensemble.seed=7 -o " +
              quoted(s.outs / "flag"));
    ASSERT_EQ(r.code, 0) << r.text();
    j = read_json(s.outs / "flag" / "summary.json");
    for (const json::json_pointer& p : f.members) EXPECT_EQ(j.at(p).get<int>(), 100);
    for (const json::json_pointer& p : f.seed) EXPECT_EQ(j.at(p).get<int>(), 9);
  }
}

// --range is a piece of the ensemble for `attnmc merge`: run, collapse, sde
// and sphere take it; compare has no member range and says so.
TEST(Grammar, RangeIsAcceptedWhereThereIsAMemberRange) {
  for (const Family& f : families()) {
    SCOPED_TRACE(f.name);
    const Scratch s(f);
    const CliResult r = s.run(f.name + " " + quoted(s.cfg) + " " + f.extra +
                              " --threads 1 -q --range 0:50 -o " + quoted(s.out()));
    if (f.name == "compare") {
      EXPECT_EQ(r.code, 2) << r.text();
      // compare has no pieces: --range is not one of its options
      EXPECT_TRUE(contains(r.err, "--range")) << r.text();
      EXPECT_TRUE(s.outs_empty()) << "output left behind";
    } else {
      EXPECT_EQ(r.code, 0) << r.text();
      EXPECT_TRUE(fs::exists(s.out() / "summary.json"));
    }
  }
}

TEST(Grammar, MalformedRangeExitsTwo) {
  const Family& f = families()[0];
  const Scratch s(f);
  const CliResult r = s.run("run " + quoted(s.cfg) + " --range 50 -o " + quoted(s.out()));
  EXPECT_EQ(r.code, 2) << r.text();
  EXPECT_TRUE(contains(r.err, "--range")) << r.text();
  EXPECT_TRUE(s.outs_empty());
}

// --- 2. issue 9, one test per defect ---------------------------------------

const Family& family(const std::string& name) {
  for (const Family& f : families())
    if (f.name == name) return f;
  throw std::runtime_error("no family " + name);
}

TEST(Issue9, Defect1CompareForceReplacesItsOwnOutput) {
  const Scratch s(family("compare"));
  const std::string args = "compare " + quoted(s.cfg) + " --threads 1 -q --no-plot ";
  CliResult r = s.run(args + "-o " + quoted(s.out()));
  ASSERT_EQ(r.code, 0) << r.text();
  r = s.run(args + "-o " + quoted(s.out()));  // exists: refused without --force
  EXPECT_EQ(r.code, 2) << r.text();
  EXPECT_TRUE(contains(r.err, "--force")) << r.text();
  r = s.run(args + "--force -o " + quoted(s.out()));
  EXPECT_EQ(r.code, 0) << r.text();
  EXPECT_TRUE(fs::exists(s.out() / "summary.json"));
  EXPECT_TRUE(fs::exists(s.out() / "compare.json"));
}

TEST(Issue9, Defect2SphereOutputUnderAFileFailsBeforeAnyWork) {
  const Scratch s(family("sphere"));
  write_file(s.dir / "file.txt", "not a directory\n");
  const auto t0 = std::chrono::steady_clock::now();
  const CliResult r =
      s.run("sphere " + quoted(s.cfg) + " -B 1000000 -o " + quoted(s.dir / "file.txt" / "out"));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.code, 2) << r.text();
  EXPECT_TRUE(contains(r.err, "output")) << r.text();
  EXPECT_LT(seconds, 2.0) << "the output check must come before the simulation";
}

void expect_plain_progress(const std::string& err) {
  EXPECT_FALSE(err.empty());
  EXPECT_EQ(err.find('\r'), std::string::npos) << err;
  ASSERT_FALSE(err.empty());
  EXPECT_EQ(err.back(), '\n') << err;
  std::size_t start = 0, lines = 0;
  while (start < err.size()) {
    const std::size_t end = err.find('\n', start);
    ASSERT_NE(end, std::string::npos) << "unterminated line in: " << err;
    const std::string line = err.substr(start, end - start);
    EXPECT_TRUE(contains(line, "members/s")) << line;
    EXPECT_TRUE(contains(line, "ETA")) << line;
    ++lines;
    start = end + 1;
  }
  EXPECT_GE(lines, 1u);
}

TEST(Issue9, Defect6ProgressIsPlainLinesWhenNotATerminal) {
  const Scratch s(family("run"));
  CliResult r = s.run("run " + quoted(s.cfg) + " --threads 1 --progress -o " + quoted(s.out()));
  ASSERT_EQ(r.code, 0) << r.text();
  expect_plain_progress(r.err);
  r = s.run("run " + quoted(s.cfg) + " --threads 1 --progress --set ensemble.chunk=0 -o " +
            quoted(s.outs / "chunk0"));
  ASSERT_EQ(r.code, 0) << r.text();
  expect_plain_progress(r.err);
}

TEST(Issue9, Defect7CompareHelpShowsTheDefaultOutput) {
  const fs::path dir = scratch_dir("attnmc_grammar_");
  const CliResult r = run_attnmc("compare --help", dir);
  EXPECT_EQ(r.code, 0) << r.text();
  bool found = false;
  std::size_t start = 0;
  const std::string& t = r.out;
  while (start < t.size()) {
    std::size_t end = t.find('\n', start);
    if (end == std::string::npos) end = t.size();
    const std::string line = t.substr(start, end - start);
    found = found || (contains(line, "--output") && contains(line, "out/compare"));
    start = end + 1;
  }
  EXPECT_TRUE(found) << "the -o line shows no default out/compare:\n" << r.text();
}

TEST(Issue9, Defect9ErrorsNameTheRightParameter) {
  const fs::path dir = scratch_dir("attnmc_grammar_");
  const std::string out = " -o " + quoted(dir / "never");
  CliResult r = run_attnmc("sphere --qk-file /nonexistent" + out, dir);
  EXPECT_EQ(r.code, 2) << r.text();
  EXPECT_TRUE(contains(r.err, "model.qk_file")) << r.text();
  EXPECT_FALSE(contains(r.err, "init.file")) << r.text();
  r = run_attnmc("compare -m 3 --pair 0,5" + out, dir);
  EXPECT_EQ(r.code, 2) << r.text();
  EXPECT_TRUE(contains(r.err, "compare.pair: token 5 is out of range")) << r.text();
  r = run_attnmc("compare -m 1" + out, dir);
  EXPECT_EQ(r.code, 2) << r.text();
  EXPECT_TRUE(contains(r.err, "model.tokens")) << r.text();
  r = run_attnmc("bogus", dir);
  EXPECT_EQ(r.code, 2) << r.text();
  EXPECT_TRUE(contains(r.err, "unknown command 'bogus'")) << r.text();
  r = run_attnmc("bogus --help", dir);
  EXPECT_EQ(r.code, 2) << r.text();
  EXPECT_TRUE(contains(r.err, "unknown command 'bogus'")) << r.text();
  EXPECT_FALSE(fs::exists(dir / "never"));
}

// run_attnmc redirects stdout to a file; these need /dev/full instead.
CliResult run_to_dev_full(const std::string& args, const fs::path& scratch) {
  const fs::path err = scratch / "stderr_full.txt";
  const std::string cmd =
      std::string(ATTNMC_BINARY_DIR "/attnmc ") + args + " >/dev/full 2>" + quoted(err);
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = slurp(err);
  fs::remove(err);
  return r;
}

TEST(Issue9, Defect12FullStdoutIsAFailure) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const Scratch s(family("sphere"));
  CliResult r = run_to_dev_full("presets", s.dir);
  EXPECT_NE(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "No space left on device")) << r.err;
  r = run_to_dev_full("sphere " + quoted(s.cfg) + " --threads 1 -B 50 -o " + quoted(s.out()),
                      s.dir);
  EXPECT_NE(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "No space left on device")) << r.err;
}

std::string sha256_of(const fs::path& p) {
  const std::string cmd = "sha256sum " + quoted(p);
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return {};
  char buf[256] = {};
  std::string text;
  while (std::fgets(buf, sizeof buf, pipe)) text += buf;
  ::pclose(pipe);
  return text.substr(0, text.find(' '));
}

TEST(Issue9, Defect13RelativeTokensFileIsRecordedAbsoluteWithItsChecksum) {
  const Scratch s(family("run"));
  // 3 tokens x width 16.
  std::string tokens;
  for (int a = 0; a < 3; ++a) {
    for (int i = 0; i < 16; ++i)
      tokens += std::to_string(0.1 * ((a * 16 + i) % 7) - 0.3 + (i == a ? 1.0 : 0.0)) + " ";
    tokens += "\n";
  }
  fs::create_directories(s.dir / "sub");
  write_file(s.dir / "sub" / "tok.txt", tokens);
  write_file(s.dir / "tok.txt", tokens);
  write_file(s.dir / "sub" / "tcfg.toml",
             "[model]\npreset = \"shaped\"\nwidth = 16\ntokens = 3\ndepth = 8\n"
             "[input]\ntokens_file = \"tok.txt\"\n[ensemble]\nmembers = 100\n");
  const std::string sha = sha256_of(s.dir / "tok.txt");
  ASSERT_EQ(sha.size(), 64u) << "sha256sum failed";

  // In the file: relative to the file's directory (the config path itself relative).
  CliResult r = run_attnmc("run sub/tcfg.toml --threads 1 -q -o outs/file", s.dir, s.dir);
  ASSERT_EQ(r.code, 0) << r.text();
  json in = read_json(s.outs / "file" / "summary.json")["config"]["input"];
  EXPECT_TRUE(fs::path(in["tokens_file"].get<std::string>()).is_absolute()) << in;
  EXPECT_EQ(in["tokens_file"], (s.dir / "sub" / "tok.txt").lexically_normal().string());
  EXPECT_EQ(in["tokens_sha256"], sha);

  // From --set: relative to the working directory.
  r = run_attnmc(
      "run " + quoted(s.cfg) + " --set input.tokens_file=tok.txt --threads 1 -q -o " + "outs/set",
      s.dir, s.dir);
  ASSERT_EQ(r.code, 0) << r.text();
  in = read_json(s.outs / "set" / "summary.json")["config"]["input"];
  EXPECT_TRUE(fs::path(in["tokens_file"].get<std::string>()).is_absolute()) << in;
  EXPECT_EQ(in["tokens_file"], (s.dir / "tok.txt").lexically_normal().string());
  EXPECT_EQ(in["tokens_sha256"], sha);
}

TEST(Issue9, Defect14SdeRecordsOnlyWhatItUsesAndCountsBlowups) {
  const fs::path dir = scratch_dir("attnmc_grammar_");
  const fs::path out = dir / "sde14";
  fs::remove_all(out);
  const CliResult r =
      run_attnmc("sde -m 3 --tau0 0.05 -B 200 --threads 1 -q -o " + quoted(out), dir);
  ASSERT_EQ(r.code, 0) << r.text();
  const json j = read_json(out / "summary.json");
  EXPECT_FALSE(j["config"]["model"].contains("width")) << j["config"]["model"];
  EXPECT_FALSE(j["config"]["model"].contains("head_dim")) << j["config"]["model"];
  const int blowups = j["sde"]["blowups"].get<int>();
  EXPECT_GT(blowups, 0) << "tau0 = 0.05 should blow paths up";
  EXPECT_EQ(j["sde"]["blowups_per_record"].back().get<int>(), blowups);

  if (std::system("python3 -c 'import h5py' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 with h5py not available: stats.h5 not read";
  const std::string cmd = "python3 -c \"import h5py; print(int(h5py.File('" +
                          (out / "stats.h5").string() + "')['blowup'][-1]))\"";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buf[64] = {};
  const bool got = std::fgets(buf, sizeof buf, pipe) != nullptr;
  ::pclose(pipe);
  ASSERT_TRUE(got);
  EXPECT_EQ(std::stoi(buf), blowups);
  fs::remove_all(out);
}

TEST(Issue9, Defect15CompareHeadDimAndSdeQuantileColumns) {
  const Scratch s(family("compare"));
  CliResult r = s.run("compare " + quoted(s.cfg) + " --head-dim 4 --threads 1 -q --no-plot -o " +
                      quoted(s.out()));
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(read_json(s.out() / "summary.json")["model"]["head_dim"].get<int>(), 4);
  EXPECT_EQ(read_json(s.out() / "compare.json")["model"]["head_dim"].get<int>(), 4);

  const Scratch t(family("sde"));
  r = t.run("sde " + quoted(t.cfg) + " --threads 1 --set 'ensemble.quantiles=[0.25,0.75]' -o " +
            quoted(t.out()));
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_TRUE(contains(r.out, "rho01_q25")) << r.out;
  EXPECT_TRUE(contains(r.out, "rho01_q75")) << r.out;
  EXPECT_FALSE(contains(r.out, "rho01_q10")) << r.out;
  const std::string table = slurp(t.out() / "table.txt");
  EXPECT_TRUE(contains(table, "rho01_q25")) << table;
  EXPECT_TRUE(contains(table, "rho01_q75")) << table;
}

TEST(Issue9, Defect16SphereNoiseIsReducedByDefault) {
  const Scratch s(family("sphere"));
  // The built-in configuration.
  CliResult r = s.run("sphere -B 100 --threads 1 -q -o " + quoted(s.outs / "builtin"));
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(read_json(s.outs / "builtin" / "summary.json")["spec"]["noise"].get<std::string>(),
            "reduced");
  // A file that does not name sphere.noise gets the same default.
  r = s.run("sphere " + quoted(s.cfg) + " -B 100 --threads 1 -q -o " + quoted(s.outs / "file"));
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(read_json(s.outs / "file" / "summary.json")["spec"]["noise"].get<std::string>(),
            "reduced")
      << "a configuration file without sphere.noise";
}

TEST(Issue9, Defect11ListsMustIncrease) {
  struct Case {
    std::string family, args, key;
  };
  const std::vector<Case> cases = {
      {"run", "--set 'ensemble.record_layers=[3,1]'", "ensemble.record_layers"},
      {"sde", "--record-times 0.5,0.25", "sde.record_times"},
      {"compare", "--widths 8,8 --no-plot", "compare.widths"},
      {"compare", "--sde-steps -1 --no-plot", "compare.sde_steps"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.family + " " + c.args);
    const Scratch s(family(c.family));
    const CliResult r =
        s.run(c.family + " " + quoted(s.cfg) + " " + c.args + " -o " + quoted(s.out()));
    EXPECT_EQ(r.code, 2) << r.text();
    EXPECT_TRUE(contains(r.err, c.key)) << r.text();
    EXPECT_TRUE(s.outs_empty()) << "output left behind";
  }
}

}  // namespace
