// The attention-paths task, heads and overlaps (include/attnmc/paths.hpp):
// the Markov-chain law of section 4, the same-token head's rule, the
// closed-form overlaps G and K_GP against brute-force double forward passes
// (reference/paths_reference.hpp), .npy loading and named input errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "attnmc/error.hpp"
#include "attnmc/paths.hpp"
#include "host/paths/paths_config.hpp"
#include "reference/paths_reference.hpp"
#include "tests/npy_writer.hpp"

namespace attnmc {
namespace {

using test::write_npy;

PathsSpec small_spec() {
  PathsSpec s;
  s.task.markov.train = 4;
  s.task.markov.test = 2;
  s.task.markov.tokens = 5;
  s.task.markov.features = 8;
  s.heads = markov_task_heads();
  s.widths = {7};
  s.variances = {1.0};
  return resolve_paths(s);
}

// Two-sided binomial check: |k - n p| within 5 standard deviations.
// False-failure rate below 1e-6 per call (normal approximation, n p (1-p) > 100).
void expect_frequency(std::int64_t k, std::int64_t n, double p, const char* what) {
  const double sd = std::sqrt(n * p * (1 - p));
  EXPECT_LT(std::fabs(double(k) - n * p), 5 * sd) << what << ": " << k << " of " << n;
}

TEST(PathsTask, MarkovChainLaw) {
  PathsSpec s = small_spec();
  s.task.markov.train = 2000;
  s.task.markov.test = 0;
  s.task.markov.tokens = 30;
  const PathsTask t = make_paths_task(s);
  ASSERT_EQ(t.n_in, 8 + 31);
  ASSERT_EQ(t.columns, 31);
  const int T = 30;
  std::int64_t stay[2] = {0, 0}, steps[2] = {0, 0}, plus = 0;
  for (int mu = 0; mu < t.train; ++mu) {
    const int c = mu < t.train / 2 ? 0 : 1;
    EXPECT_EQ(t.y[std::size_t(mu)], c == 0 ? 1.0 : -1.0);
    plus += t.states[std::size_t(mu) * T] > 0;
    for (int k = 1; k < T; ++k) {
      stay[c] += t.states[std::size_t(mu) * T + k] == t.states[std::size_t(mu) * T + k - 1];
      ++steps[c];
    }
  }
  expect_frequency(stay[0], steps[0], 0.7, "class a stays");
  expect_frequency(stay[1], steps[1], 0.3, "class b stays");
  expect_frequency(plus, t.train, 0.5, "first state +");
  // Planted check of the test's power: the two classes are told apart.
  EXPECT_GT(double(stay[0]) / steps[0] - double(stay[1]) / steps[1], 0.35);
}

TEST(PathsTask, TokensAreEmbeddingsPlusNoiseAndOneHotPositions) {
  PathsSpec s = small_spec();
  s.task.markov.train = 400;
  s.task.markov.noise_out = 0.0;  // noise only in the plane of v_+ and v_-
  s.task.markov.noise_sum = 0.5;
  s.task.markov.noise_diff = 2.0;
  const PathsTask t = make_paths_task(s);
  const int C = t.columns, n0 = 8;
  double sum_sq_s = 0, sum_sq_d = 0;
  std::int64_t count = 0;
  for (int mu = 0; mu < t.sequences(); ++mu) {
    const double* x = t.sequence(mu);
    for (int i = 0; i < n0; ++i) EXPECT_EQ(x[std::size_t(i) * C], 0.0) << "BOS carries no features";
    for (int j = 0; j < C; ++j)
      for (int tok = 0; tok < C; ++tok)
        EXPECT_EQ(x[std::size_t(n0 + j) * C + tok], j == tok ? 1.0 : 0.0);
    for (int tok = 1; tok < C; ++tok) {
      const int state = t.states[std::size_t(mu) * 5 + tok - 1];
      double n[8];
      for (int i = 0; i < n0; ++i)
        n[i] = x[std::size_t(i) * C + tok] - ((state > 0) == (i < 4) ? std::sqrt(2.0) : 0.0);
      // in the plane: constant on each half
      for (int i = 1; i < 4; ++i) EXPECT_NEAR(n[i], n[0], 1e-12);
      for (int i = 5; i < 8; ++i) EXPECT_NEAR(n[i], n[4], 1e-12);
      const double ps = (n[0] + n[4]) / 2 * std::sqrt(8.0), pd = (n[0] - n[4]) / 2 * std::sqrt(8.0);
      sum_sq_s += ps * ps;
      sum_sq_d += pd * pd;
      ++count;
    }
  }
  // Component variances strength^2 (chi-square mean over 2000 draws: 5 sd = 0.16 relative).
  EXPECT_NEAR(sum_sq_s / count, 0.25, 0.25 * 0.16);
  EXPECT_NEAR(sum_sq_d / count, 4.0, 4.0 * 0.16);
}

TEST(PathsTask, KeyedAndIndependentOfOtherSizes) {
  PathsSpec a = small_spec(), b = small_spec();
  b.task.markov.train = 6;  // more training sequences: the test set must not move
  const PathsTask ta = make_paths_task(a), tb = make_paths_task(b);
  const std::size_t seq = std::size_t(ta.n_in) * ta.columns;
  for (int k = 0; k < ta.test; ++k)
    EXPECT_EQ(0, std::memcmp(ta.sequence(ta.train + k), tb.sequence(tb.train + k), seq * 8));
  EXPECT_EQ(0, std::memcmp(ta.sequence(0), tb.sequence(0), seq * 8));
  b = small_spec();
  b.task.seed = 2;
  EXPECT_NE(0, std::memcmp(ta.sequence(0), make_paths_task(b).sequence(0), seq * 8));
}

TEST(PathsHeads, SameTokenAttendsToPreviousWhenStayedElseBos) {
  PathsSpec s = small_spec();
  s.task.markov.train = 50;
  s.task.markov.tokens = 30;
  s.task.markov.features = 200;
  s.task.markov.noise_sum = s.task.markov.noise_diff = s.task.markov.noise_out = 0.0;
  PathsTask t = make_paths_task(s);
  const int C = t.columns, T = 30;
  std::int64_t checked = 0;
  for (int mu = 0; mu < t.sequences(); ++mu) {
    const std::vector<double> om = attention_matrix(t, 0, 0, mu);
    for (int q = 2; q <= T; ++q) {
      const bool stayed =
          t.states[std::size_t(mu) * T + q - 1] == t.states[std::size_t(mu) * T + q - 2];
      const int target = stayed ? q - 1 : 0;
      // The target is the largest weight, and most of the mass (the other
      // same-state tokens share the rest: e^-5 each against it at beta = 10).
      for (int k = 0; k < C; ++k)
        if (k != target) EXPECT_LT(om[std::size_t(k) * C + q], om[std::size_t(target) * C + q]);
      EXPECT_GT(om[std::size_t(target) * C + q], 0.75) << "mu " << mu << " query " << q;
      ++checked;
    }
    EXPECT_GT(om[0 * C + 1], 0.75) << "token 1 has no previous token: BOS";
  }
  EXPECT_EQ(checked, t.sequences() * 29);
  // With the default noise the rule still holds for nearly every query.
  s = small_spec();
  s.task.markov.train = 50;
  s.task.markov.tokens = 30;
  s.task.markov.features = 200;
  t = make_paths_task(s);
  std::int64_t right = 0;
  for (int mu = 0; mu < t.sequences(); ++mu) {
    const std::vector<double> om = attention_matrix(t, 0, 0, mu);
    for (int q = 2; q <= T; ++q) {
      const bool stayed =
          t.states[std::size_t(mu) * T + q - 1] == t.states[std::size_t(mu) * T + q - 2];
      right += om[std::size_t(stayed ? q - 1 : 0) * C + q] > 0.5;
    }
  }
  EXPECT_GT(double(right) / (t.sequences() * 29), 0.95);
  // The uniform head: every key weighs 1 / (T + 1).
  const std::vector<double> un = attention_matrix(t, 1, 0, 3);
  for (double w : un) EXPECT_NEAR(w, 1.0 / C, 1e-14);
}

void expect_close(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  double scale = 0;
  for (double v : b) scale = std::max(scale, std::fabs(v));
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol * scale) << "index " << i;
}

TEST(PathsOverlaps, ClosedFormMatchesBruteForceForwardPasses) {
  const PathsSpec s = small_spec();
  const PathsTask t = make_paths_task(s);
  const std::vector<double> G = path_overlaps(s, t);
  expect_close(G, reference::brute_force_overlaps(s, t, t.sequences()), 1e-12);
  // Attention by Eigen vs by loops.
  expect_close(attention_matrix(t, 1, 1, 2), reference::reference_attention(t, 1, 1, 2), 1e-13);
  // K_GP = prod s sum_p G_pp, and G is a Gram matrix over (mu, p).
  PathsSpec v = s;
  v.variances = {2.0, 0.5, 3.0, 1.5};
  const std::vector<double> K = gp_kernel(v, G, t.sequences());
  const int M = t.sequences(), Pp = 4;
  for (int mu = 0; mu < M; ++mu)
    for (int nu = 0; nu < M; ++nu) {
      double k = 0;
      for (int p = 0; p < Pp; ++p) k += G[((std::size_t(mu) * M + nu) * Pp + p) * Pp + p];
      EXPECT_NEAR(K[std::size_t(mu) * M + nu], 4.5 * k, 1e-12 * std::fabs(k) + 1e-300);
      EXPECT_NEAR(K[std::size_t(mu) * M + nu], K[std::size_t(nu) * M + mu], 1e-14 * std::fabs(k));
    }
}

TEST(PathsOverlaps, DeeperUnevenHeadsAndOtherReadouts) {
  PathsSpec s = small_spec();
  HeadSpec un, rd;
  un.kind = HeadKind::uniform;
  rd.kind = HeadKind::random;
  rd.beta = 2.0;
  s.heads = {{rd, un, rd}, {rd}, {un, rd}};  // L = 3, H = (3, 1, 2): 6 paths
  s.widths = {5};
  s.variances = {1.0};
  for (ReadoutToken r : {ReadoutToken::last, ReadoutToken::first, ReadoutToken::mean}) {
    s.readout = r;
    const PathsSpec rs = resolve_paths(s);
    const PathsTask t = make_paths_task(rs);
    ASSERT_EQ(rs.paths(), 6);
    expect_close(path_overlaps(rs, t, 3), reference::brute_force_overlaps(rs, t, 3), 1e-12);
  }
}

TEST(PathsReference, PathsSumToTheNetwork) {
  const PathsSpec s = small_spec();
  const PathsTask t = make_paths_task(s);
  const reference::PathsWeights w = reference::draw_paths_weights(s, t.n_in, 5, 3);
  for (int mu = 0; mu < t.sequences(); ++mu) {
    const double f = reference::paths_forward(s, t, w, mu);
    const std::vector<double> fp = reference::paths_forward_per_path(s, t, w, mu);
    double sum = 0;
    for (double v : fp) sum += v;
    EXPECT_NEAR(sum, f, 1e-12 * (std::fabs(f) + 1));
  }
}

// ---------------------------------------------------------------- files and errors

struct TempDir {
  std::filesystem::path p;
  TempDir() {
    p = std::filesystem::temp_directory_path() /
        ("attnmc_paths_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(p);
  }
  ~TempDir() { std::filesystem::remove_all(p); }
  std::string operator/(const std::string& n) const { return (p / n).string(); }
};

std::string error_key(const ConfigSource& src) {
  try {
    const PathsConfig c = load_paths_config(src, {});
    make_paths_task(c.spec);
  } catch (const InputError& e) {
    return e.parameter();
  }
  return "";
}

TEST(PathsFiles, LoadedSequencesGiveTheSameOverlapsAsTheGeneratedTask) {
  TempDir d;
  PathsSpec s = small_spec();
  HeadSpec un, rd;
  un.kind = HeadKind::uniform;
  rd.kind = HeadKind::file;
  s.heads = {{un, rd}, {un}};
  const PathsSpec gen = [] {
    PathsSpec g = small_spec();
    HeadSpec u;
    u.kind = HeadKind::uniform;
    g.heads = {{u}, {u}};
    return resolve_paths(g);
  }();
  const PathsTask t = make_paths_task(gen);
  const std::size_t per = std::size_t(t.n_in) * t.columns;
  std::vector<double> train(t.x.begin(), t.x.begin() + std::ptrdiff_t(per * t.train));
  std::vector<double> test(t.x.begin() + std::ptrdiff_t(per * t.train), t.x.end());
  write_npy(d / "train.npy", {t.train, t.n_in, t.columns}, train);
  write_npy(d / "test.npy", {t.test, t.n_in, t.columns}, test);
  write_npy(d / "ytrain.npy", {t.train}, std::vector<double>(t.y.begin(), t.y.begin() + t.train));
  write_npy(d / "ytest.npy", {t.test}, std::vector<double>(t.y.begin() + t.train, t.y.end()));
  std::vector<double> w(std::size_t(t.n_in) * t.n_in);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::sin(double(i)) * 0.05;
  write_npy(d / "w.npy", {t.n_in, t.n_in}, w);
  std::ofstream(d / "c.toml")
      << "[task]\ntrain_file = \"train.npy\"\ntrain_labels = "
         "\"ytrain.npy\"\ntest_file = \"test.npy\"\ntest_labels = "
         "\"ytest.npy\"\n[heads]\nlayers = [[\"uniform\", "
         "\"file:w.npy\"], [\"uniform\"]]\nbeta = 3.0\n[model]\nwidth = 4\n";
  const PathsConfig c = load_paths_config(ConfigSource{d / "c.toml", "", {}}, {});
  ASSERT_EQ(c.spec.task.kind, PathsTaskKind::file);
  const PathsTask lt = make_paths_task(c.spec);
  ASSERT_EQ(lt.sequences(), t.sequences());
  EXPECT_EQ(lt.x, t.x);
  EXPECT_EQ(lt.y, t.y);
  for (std::size_t i = 0; i < w.size(); ++i) ASSERT_EQ(lt.w[0][1][i], 3.0 * w[i]);
  expect_close(path_overlaps(c.spec, lt),
               reference::brute_force_overlaps(c.spec, lt, lt.sequences()), 1e-12);

  // Bad input: each names its key.
  write_npy(d / "ragged.npy", {t.test, t.n_in, t.columns - 1},
            std::vector<double>(std::size_t(t.test) * t.n_in * (t.columns - 1)));
  write_npy(d / "y3.npy", {3}, {1, -1, 1});
  write_npy(d / "w_bad.npy", {t.n_in, t.n_in - 1},
            std::vector<double>(std::size_t(t.n_in) * (t.n_in - 1)));
  const std::string base = d / "c.toml";
  auto key = [&](std::vector<std::string> o) { return error_key(ConfigSource{base, "", o}); };
  EXPECT_EQ(key({"task.test_file=\"" + (d / "ragged.npy") + "\""}), "task.test_file");
  EXPECT_EQ(key({"task.train_labels=\"" + (d / "y3.npy") + "\""}), "task.train_labels");
  EXPECT_EQ(key({"heads.layers=[[\"file:" + (d / "w_bad.npy") + "\"]]"}), "heads.layers");
  EXPECT_EQ(key({"heads.layers=[[\"same_token\"]]"}), "heads.layers");
  EXPECT_EQ(key({"model.temperature=0"}), "model.temperature");
  EXPECT_EQ(key({"model.temperature=-1"}), "model.temperature");
  EXPECT_EQ(key({"model.variances=[1, 1, 0]"}), "model.variances");
  EXPECT_EQ(key({"model.variances=[1, 1]"}), "model.variances");
  EXPECT_EQ(key({"model.widths=[4, 4, 4]"}), "model.widths");
  EXPECT_EQ(key({"heads.beta=[[1.0], [2.0]]"}), "heads.beta");
  EXPECT_EQ(key({"task.train_labels=\"" + (d / "missing.npy") + "\""}), "task.train_labels");
  EXPECT_EQ(key({"run.mode=\"sideways\""}), "run.mode");
  EXPECT_EQ(key({"task.bogus=1"}), "task.bogus");
}

TEST(PathsFiles, MarkovKeysAreChecked) {
  const std::string text = "[task]\nkind = \"markov\"\ntrain = 4\ntest = 2\n";
  auto key = [&](std::vector<std::string> o) { return error_key(ConfigSource{"", text, o}); };
  EXPECT_EQ(key({}), "");
  EXPECT_EQ(key({"task.stay_a=1.5"}), "task.stay_a");
  EXPECT_EQ(key({"task.features=7"}), "task.features");
  EXPECT_EQ(key({"task.noise_out=-1"}), "task.noise_out");
  EXPECT_EQ(key({"task.train=0"}), "task.train");
  EXPECT_EQ(key({"heads.layers=[[\"sometimes\"]]"}), "heads.layers");
}

}  // namespace
}  // namespace attnmc
