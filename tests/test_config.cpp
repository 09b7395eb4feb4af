// Configuration parsing: every key lands in the right RunSpec field,
// overrides win over the file, and every bad input names its dotted key.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "attnmc/error.hpp"
#include "host/config.hpp"
#include "tests/scratch.hpp"

namespace attnmc {
namespace {

namespace fs = std::filesystem;

RunSpec parse(const std::string& text, std::vector<std::string> overrides = {}) {
  ConfigSource s;
  s.text = text;
  s.overrides = std::move(overrides);
  return load_run_spec(s);
}

// The parameter named by the InputError that loading + resolving throws
// ("<none>" when nothing is thrown).
std::string error_key(const std::string& text, std::vector<std::string> overrides = {}) {
  ConfigSource s;
  s.text = text;
  s.overrides = std::move(overrides);
  try {
    load_resolved_run_spec(s);
  } catch (const InputError& e) {
    return e.parameter();
  }
  return "<none>";
}

fs::path temp_dir() {
  fs::path p = attnmc::test::temp_root() /
               ("attnmc_test_config_" +
                std::to_string(::testing::UnitTest::GetInstance()->current_test_info()->line()));
  fs::create_directories(p);
  return p;
}

TEST(Config, EveryKeyLandsInItsField) {
  const RunSpec s = parse(R"(
[model]
preset = "shaped"
width = 96
tokens = 3
depth = 40
heads = 2
head_dim = 48
tau0 = 1.5
lambda = 0.6
mlp = true
c_plus = 0.25
c_minus = -0.75
attention = "softmax"
pre_norm = true
[input]
rho0 = 0.3
[ensemble]
members = 1234
seed = 99
record_every = 5
sampler = "exact"
chunk = 17
memory_cap = "512MiB"
overflow_threshold = 1e20
histogram_bins = 50
quantiles = [0.25, 0.75]
quantile_accuracy = 2e-4
rho_quantile_bins = 4096
exact_quantiles = true
member_begin = 100
member_end = 200
[run]
device = "cpu"
threads = 3
)");
  EXPECT_EQ(s.model.width, 96);
  EXPECT_EQ(s.model.tokens, 3);
  EXPECT_EQ(s.model.depth, 40);
  EXPECT_EQ(s.model.heads, 2);
  EXPECT_EQ(s.model.head_dim, 48);
  EXPECT_DOUBLE_EQ(s.model.tau0, 1.5);
  EXPECT_DOUBLE_EQ(s.model.lambda, 0.6);
  EXPECT_TRUE(s.model.mlp);
  EXPECT_DOUBLE_EQ(s.model.c_plus, 0.25);
  EXPECT_DOUBLE_EQ(s.model.c_minus, -0.75);
  EXPECT_EQ(s.model.attention, AttentionKind::softmax);
  EXPECT_TRUE(s.model.pre_norm);
  EXPECT_EQ(s.input.kind, InputSpec::Kind::correlation);
  EXPECT_DOUBLE_EQ(s.input.rho0, 0.3);
  EXPECT_EQ(s.members, 1234u);
  EXPECT_EQ(s.seed, 99u);
  EXPECT_EQ(s.record_every, 5);
  EXPECT_EQ(s.sampler, Sampler::exact);
  EXPECT_EQ(s.chunk, 17u);
  EXPECT_EQ(s.memory_cap, std::size_t(512) << 20);
  EXPECT_DOUBLE_EQ(s.overflow_threshold, 1e20);
  EXPECT_EQ(s.histogram_bins, 50);
  EXPECT_EQ(s.quantiles, (std::vector<double>{0.25, 0.75}));
  EXPECT_DOUBLE_EQ(s.quantile_accuracy, 2e-4);
  EXPECT_EQ(s.rho_quantile_bins, 4096);
  EXPECT_TRUE(s.exact_quantiles);
  EXPECT_EQ(s.member_begin, 100u);
  EXPECT_EQ(s.member_end, 200u);
  EXPECT_EQ(s.device, Device::cpu);
  EXPECT_EQ(s.threads, 3);
}

TEST(Config, PresetIsTheBaseAndKeysRefineIt) {
  const RunSpec s = parse("[model]\nwidth = 32\npreset = \"softmax-prenorm\"\n");
  EXPECT_EQ(s.model.attention, AttentionKind::softmax);
  EXPECT_TRUE(s.model.pre_norm);
  EXPECT_EQ(s.model.width, 32);  // applied after the preset although written before it
  const RunSpec mlp = parse("[model]\npreset = \"shaped-mlp\"\n");
  EXPECT_TRUE(mlp.model.mlp);
  EXPECT_EQ(mlp.model.attention, AttentionKind::shaped);
}

TEST(Config, OverridesWinAndBareWordsAreStrings) {
  const RunSpec s = parse(
      "[model]\nwidth = 64\n[input]\ngram = [[1, 0.5], [0.5, 1]]\n",
      {"model.width=256", "model.preset=softmax", "model.tokens=2", "ensemble.memory_cap=2GiB",
       "run.device=cpu", "input.rho0=0.25", "ensemble.quantiles=[0.1, 0.9]"});
  EXPECT_EQ(s.model.width, 256);
  EXPECT_EQ(s.model.attention, AttentionKind::softmax);
  EXPECT_EQ(s.memory_cap, std::size_t(2) << 30);
  EXPECT_EQ(s.device, Device::cpu);
  // input.rho0 on the command line replaces the file's gram.
  EXPECT_EQ(s.input.kind, InputSpec::Kind::correlation);
  EXPECT_DOUBLE_EQ(s.input.rho0, 0.25);
  EXPECT_EQ(s.quantiles, (std::vector<double>{0.1, 0.9}));
  // Later overrides win over earlier ones.
  EXPECT_EQ(parse("", {"model.depth=5", "model.depth=7"}).model.depth, 7);
}

TEST(Config, GramInputAndResolve) {
  const RunSpec s = load_resolved_run_spec(
      {"",
       "[model]\ntokens = 2\nwidth = 8\ndepth = 4\n[input]\ngram = [[2.0, 0.5], [0.5, 1.0]]\n",
       {}});
  ASSERT_EQ(s.input.kind, InputSpec::Kind::gram);
  EXPECT_EQ(s.input.gram, (std::vector<double>{2.0, 0.5, 0.5, 1.0}));
  EXPECT_EQ(s.record_layers.front(), 0);
  EXPECT_EQ(s.record_layers.back(), 4);
}

TEST(Config, ByteSizes) {
  EXPECT_EQ(parse_byte_size("4096", "k"), 4096u);
  EXPECT_EQ(parse_byte_size("4096B", "k"), 4096u);
  EXPECT_EQ(parse_byte_size("512MiB", "k"), std::size_t(512) << 20);
  EXPECT_EQ(parse_byte_size("2GiB", "k"), std::size_t(2) << 30);
  EXPECT_EQ(parse_byte_size("1.5GB", "k"), std::size_t(1500000000));
  EXPECT_EQ(parse_byte_size("3 KiB", "k"), 3072u);
  EXPECT_EQ(parse("[ensemble]\nmemory_cap = 1000000\n").memory_cap, 1000000u);
  for (const char* bad : {"", "MiB", "12 parsecs", "-5MiB", "0", "nan"}) {
    try {
      parse_byte_size(bad, "ensemble.memory_cap");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const InputError& e) {
      EXPECT_EQ(e.parameter(), "ensemble.memory_cap") << bad;
    }
  }
}

TEST(Config, TokensFileTextRelativeToTheConfig) {
  const fs::path dir = temp_dir();
  {
    std::ofstream f(dir / "tokens.txt");
    f << "# two tokens in R^3\n1, 0, 0\n0.5 2 0   # comment\n\n";
  }
  {
    std::ofstream f(dir / "run.toml");
    f << "[model]\nwidth = 3\ntokens = 2\ndepth = 2\n[input]\ntokens_file = \"tokens.txt\"\n";
  }
  const RunSpec s = load_resolved_run_spec({(dir / "run.toml").string(), "", {}});
  ASSERT_EQ(s.input.kind, InputSpec::Kind::tokens);
  EXPECT_EQ(s.input.values, (std::vector<double>{1, 0, 0, 0.5, 2, 0}));
  EXPECT_EQ(fs::path(s.input.source), dir / "tokens.txt");
  fs::remove_all(dir);
}

// A minimal .npy writer, independent of the reader under test.
void write_npy(const fs::path& p, const char* descr, int rows, int cols, const void* data,
               std::size_t bytes) {
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                       std::to_string(cols) + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream f(p, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  const std::uint16_t len = std::uint16_t(header.size());
  f.put(char(len & 0xff));
  f.put(char(len >> 8));
  f << header;
  f.write(static_cast<const char*>(data), std::streamsize(bytes));
}

TEST(Config, TokensFileNpy) {
  const fs::path dir = temp_dir();
  const double d[6] = {1, 2, 3, 4, 5, 6.5};
  const float f[6] = {1, 2, 3, 4, 5, 6.5f};
  write_npy(dir / "t8.npy", "<f8", 2, 3, d, sizeof d);
  write_npy(dir / "t4.npy", "<f4", 2, 3, f, sizeof f);
  EXPECT_EQ(read_tokens_file((dir / "t8.npy").string(), 2, 3),
            (std::vector<double>{1, 2, 3, 4, 5, 6.5}));
  EXPECT_EQ(read_tokens_file((dir / "t4.npy").string(), 2, 3),
            (std::vector<double>{1, 2, 3, 4, 5, 6.5}));
  try {
    read_tokens_file((dir / "t8.npy").string(), 3, 2);
    ADD_FAILURE() << "wrong shape accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.parameter(), "input.tokens_file");
  }
  fs::remove_all(dir);
}

TEST(Config, ExamplesParseAndResolve) {
  int seen = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(ATTNMC_SOURCE_DIR) / "examples")) {
    if (entry.path().extension() != ".toml") continue;
    if (entry.path().filename().string().rfind("sweep", 0) == 0) continue;  // test_sweep.cpp
    if (entry.path().filename().string().rfind("paths", 0) == 0)
      continue;  // attnmc paths: test_paths*_cli.cpp
    ++seen;
    EXPECT_NO_THROW(load_resolved_run_spec({entry.path().string(), "", {}})) << entry.path();
  }
  EXPECT_GE(seen, 2);
}

struct BadCase {
  const char* text;
  std::vector<std::string> overrides;
  const char* key;
};

TEST(Config, BadInputNamesTheKey) {
  const std::vector<BadCase> cases = {
      {"[foo]\nx = 1\n", {}, "foo"},
      {"model = 3\n", {}, "model"},
      {"[model]\nwidht = 64\n", {}, "model.widht"},
      {"[model]\nwidth = \"wide\"\n", {}, "model.width"},
      {"[model]\nwidth = 1.5\n", {}, "model.width"},
      {"[model]\nwidth = 0\n", {}, "model.width"},
      {"[model]\nwidth = -3\n", {}, "model.width"},
      {"[model]\nwidth = 99999999999\n", {}, "model.width"},
      {"[model]\ntokens = 0\n", {}, "model.tokens"},
      {"[model]\nwidth = 4\ntokens = 5\n", {}, "model.tokens"},
      {"[model]\ndepth = -1\n", {}, "model.depth"},
      {"[model]\nheads = 0\n", {}, "model.heads"},
      {"[model]\ntau0 = 0\n", {}, "model.tau0"},
      {"[model]\ntau0 = -1.0\n", {}, "model.tau0"},
      {"[model]\ntau0 = nan\n", {}, "model.tau0"},
      {"[model]\ntau0 = inf\n", {}, "model.tau0"},
      {"[model]\nlambda = 1.5\n", {}, "model.lambda"},
      {"[model]\nlambda = -0.1\n", {}, "model.lambda"},
      {"[model]\ngamma = 2\n", {}, "model.gamma"},
      {"[model]\nc_plus = nan\n", {}, "model.c_plus"},
      {"[model]\npreset = \"gpt\"\n", {}, "model.preset"},
      {"[model]\nattention = \"linear\"\n", {}, "model.attention"},
      {"[model]\npre_norm = 1\n", {}, "model.pre_norm"},
      {"[model]\nmlp = \"yes\"\n", {}, "model.mlp"},
      {"[input]\nrho0 = 1.0\n", {}, "input.rho0"},
      {"[input]\nrho0 = nan\n", {}, "input.rho0"},
      {"[input]\nrho0 = 0.5\ngram = [[1, 0], [0, 1]]\n", {}, "input"},
      {"[model]\ntokens = 2\n[input]\ngram = [[1, 0], [0]]\n", {}, "input.gram"},
      {"[model]\ntokens = 2\n[input]\ngram = [[1, 2], [2, 1]]\n", {}, "input.gram"},
      {"[model]\ntokens = 3\n[input]\ngram = [[1, 0], [0, 1]]\n", {}, "input.gram"},
      {"[input]\ntokens_file = \"/nonexistent/attnmc/tokens.txt\"\n", {}, "input.tokens_file"},
      {"[ensemble]\nmembers = 0\n", {}, "ensemble.members"},
      {"[ensemble]\nmembers = -5\n", {}, "ensemble.members"},
      {"[ensemble]\nseed = -1\n", {}, "ensemble.seed"},
      {"[ensemble]\nseed = \"one\"\n", {}, "ensemble.seed"},
      {"[ensemble]\nrecord_every = -2\n", {}, "ensemble.record_every"},
      {"[ensemble]\nrecord_layers = [0, 9999]\n", {}, "ensemble.record_layers"},
      {"[ensemble]\nrecord_layers = 4\n", {}, "ensemble.record_layers"},
      {"[ensemble]\nsampler = \"fast\"\n", {}, "ensemble.sampler"},
      {"[ensemble]\nchunk = -1\n", {}, "ensemble.chunk"},
      {"[ensemble]\nmemory_cap = \"12 parsecs\"\n", {}, "ensemble.memory_cap"},
      {"[ensemble]\nmemory_cap = 0\n", {}, "ensemble.memory_cap"},
      {"[ensemble]\noverflow_threshold = nan\n", {}, "ensemble.overflow_threshold"},
      {"[ensemble]\noverflow_threshold = -1\n", {}, "ensemble.overflow_threshold"},
      {"[ensemble]\nhistogram_bins = 0\n", {}, "ensemble.histogram_bins"},
      {"[ensemble]\nquantiles = [0.5, 1.5]\n", {}, "ensemble.quantiles"},
      {"[ensemble]\nquantiles = [0.5, nan]\n", {}, "ensemble.quantiles"},
      {"[ensemble]\nquantile_accuracy = 0.5\n", {}, "ensemble.quantile_accuracy"},
      {"[ensemble]\nquantile_accuracy = 0\n", {}, "ensemble.quantile_accuracy"},
      {"[ensemble]\nrho_quantile_bins = 1\n", {}, "ensemble.rho_quantile_bins"},
      {"[ensemble]\nexact_quantiles = 3\n", {}, "ensemble.exact_quantiles"},
      {"[ensemble]\nmember_end = 99999999\n", {}, "ensemble.member_end"},
      {"[run]\ndevice = \"gpu\"\n", {}, "run.device"},
      {"[run]\nthreads = -1\n", {}, "run.threads"},
      {"[run]\nthreads = 2\nspeed = 3\n", {}, "run.speed"},
      {"[model\nwidth = 3\n", {}, "config"},
      {"", {"model.width"}, "set"},
      {"", {"=3"}, "set"},
      {"", {"width=3"}, "width"},
      {"", {"model.bogus=1"}, "model.bogus"},
      {"", {"foo.bar=1"}, "foo"},
      {"", {"model.width=abc"}, "model.width"},
      {"", {"model.width=0"}, "model.width"},
      {"", {"model.tau0=nan"}, "model.tau0"},
      {"", {"model.lambda=1.5"}, "model.lambda"},
      {"", {"run.device=gpu"}, "run.device"},
      {"[model]\nwidth = 64\n", {"model.tokens=65"}, "model.tokens"},
  };
  for (const BadCase& c : cases) {
    EXPECT_EQ(error_key(c.text, c.overrides), c.key)
        << "config:\n"
        << c.text << "overrides: " << (c.overrides.empty() ? "" : c.overrides.front());
  }
}

TEST(Config, MissingFileNamesConfig) {
  try {
    load_run_spec({"/nonexistent/attnmc/run.toml", "", {}});
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.parameter(), "config");
    EXPECT_NE(std::string(e.what()).find("/nonexistent/attnmc/run.toml"), std::string::npos);
  }
}

TEST(Config, ResolvedSpecAsJson) {
  const RunSpec s = load_resolved_run_spec(
      {"", "[model]\npreset = \"softmax\"\nwidth = 16\ndepth = 8\n[ensemble]\nseed = 5\n", {}});
  const nlohmann::json j = run_spec_json(s);
  EXPECT_EQ(j["model"]["attention"], "softmax");
  EXPECT_EQ(j["model"]["width"], 16);
  EXPECT_EQ(j["model"]["depth"], 8);
  EXPECT_EQ(j["model"]["head_dim"], 16);  // derived: = width
  EXPECT_NEAR(j["model"]["lambda"].get<double>(), std::sqrt(0.5), 1e-12);
  EXPECT_EQ(j["ensemble"]["seed"], 5);
  EXPECT_EQ(j["ensemble"]["record_layers"].front(), 0);
  EXPECT_EQ(j["ensemble"]["record_layers"].back(), 8);
  EXPECT_DOUBLE_EQ(j["input"]["rho0"].get<double>(), s.input.rho0);
  EXPECT_EQ(j["run"]["device"], "auto");
}

}  // namespace
}  // namespace attnmc
