// Input that can be known to be degenerate is refused up front, naming its
// key: a token of zero norm, a V0 beyond the float32 range or the overflow
// threshold, record layers out of order, bad compare parameters. And the
// statistics of an ensemble in which no member is finite read NaN, not 0.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "attnmc/engine.hpp"
#include "attnmc/error.hpp"
#include "attnmc/model_spec.hpp"
#include "attnmc/run_spec.hpp"
#include "attnmc/sde.hpp"
#include "attnmc/statistics.hpp"
#include "host/compare.hpp"

using namespace attnmc;

namespace {

// Runs f, expects an InputError whose parameter is `key` and whose message
// contains every piece of `says`.
template <typename F>
void expect_input_error(F f, const std::string& key, const std::vector<std::string>& says = {}) {
  try {
    f();
    ADD_FAILURE() << "expected InputError for " << key;
  } catch (const InputError& e) {
    EXPECT_EQ(e.parameter(), key) << e.what();
    const std::string what = e.what();
    for (const std::string& s : says)
      EXPECT_NE(what.find(s), std::string::npos) << "'" << what << "' does not say '" << s << "'";
  }
}

RunSpec small_run(int m, int n) {
  RunSpec s;
  s.model.width = n;
  s.model.tokens = m;
  s.model.depth = 4;
  s.members = 8;
  s.threads = 1;
  s.device = Device::cpu;
  return s;
}

RunSpec gram_run(std::vector<double> gram) {
  const int m = int(std::lround(std::sqrt(double(gram.size()))));
  RunSpec s = small_run(m, 8);
  s.input.kind = InputSpec::Kind::gram;
  s.input.gram = std::move(gram);
  return s;
}

RunSpec token_run(int m, int n, std::vector<double> values) {
  RunSpec s = small_run(m, n);
  s.input.kind = InputSpec::Kind::tokens;
  s.input.values = std::move(values);
  s.input.source = "test";
  return s;
}

}  // namespace

// ---------------------------------------------------------------- A: input

TEST(InputValidation, AllZeroTokensAreRefused) {
  const RunSpec s = token_run(2, 4, std::vector<double>(8, 0.0));
  expect_input_error([&] { resolve_run(s); }, "input.tokens_file",
                     {"token 0 has zero norm (V0_00 = 0)", "correlations are undefined"});
  expect_input_error([&] { initial_tokens(s.input, s.model); }, "input.tokens_file", {"zero norm"});
  // run_ensemble resolves: nothing runs.
  expect_input_error([&] { run_ensemble(s); }, "input.tokens_file", {"zero norm"});
}

TEST(InputValidation, OneZeroTokenIsNamed) {
  std::vector<double> x = {1, 2, 3, 4, 0, 0, 0, 0, 1, 0, 0, 0};  // token 1 is zero
  const RunSpec s = token_run(3, 4, x);
  expect_input_error([&] { resolve_run(s); }, "input.tokens_file",
                     {"token 1 has zero norm (V0_11 = 0)"});
}

TEST(InputValidation, ZeroDiagonalGramIsRefusedAsZeroNorm) {
  expect_input_error(
      [&] {
        resolve_run(gram_run({1, 0, 0, 0}));
      },
      "input.gram", {"token 1 has zero norm (V0_11 = 0)"});
}

TEST(InputValidation, HugeGramOverflowsFloat32) {
  const RunSpec s = gram_run({1e300, 0, 0, 1e300});
  expect_input_error([&] { resolve_run(s); }, "input.gram",
                     {"V0_00 = 1e+300 overflows float32", "largest usable about 1e+30"});
  expect_input_error([&] { validate_input(s.input, resolve_model(s.model)); }, "input.gram",
                     {"overflows float32"});
  // Off the diagonal too (the matrix stays positive definite in double).
  expect_input_error(
      [&] {
        resolve_run(gram_run({1e31, 1e30 * 5, 1e30 * 5, 1e31}));
      },
      "input.gram", {"V0_00 = 1e+31 overflows"});
}

TEST(InputValidation, TokensBeyondFloat32RangeAreRefused) {
  // V0_00 = 1e40: overflows; V0_00 = 1e-50: underflows to 0 in float32.
  expect_input_error(
      [&] {
        resolve_run(token_run(1, 2, {1e20, 1e20}));
      },
      "input.tokens_file", {"V0_00 = 1e+40 overflows float32"});
  expect_input_error(
      [&] {
        resolve_run(token_run(1, 2, {1e-25, 1e-25}));
      },
      "input.tokens_file", {"V0_00 = 1e-50 underflows float32"});
  // Entries whose products overflow double: V0 = inf.
  expect_input_error(
      [&] {
        resolve_run(token_run(1, 2, {1e200, 1e200}));
      },
      "input.tokens_file", {"V0_00 = inf overflows"});
}

TEST(InputValidation, GramBeyondOverflowThresholdIsRefused) {
  RunSpec s = gram_run({100, 0, 0, 1});
  s.overflow_threshold = 10;
  // validate_input knows nothing of the threshold; resolve_run does.
  EXPECT_NO_THROW(validate_input(s.input, resolve_model(s.model)));
  expect_input_error([&] { resolve_run(s); }, "input.gram",
                     {"V0_00 = 100 exceeds ensemble.overflow_threshold = 10"});
  s.overflow_threshold = 100;
  EXPECT_NO_THROW(resolve_run(s));
}

TEST(InputValidation, UsableRangeIsAccepted) {
  EXPECT_NO_THROW(resolve_run(gram_run({kMaxInputGram, 0, 0, 1})));
  EXPECT_NO_THROW(resolve_run(gram_run({2 * kMinInputGram, 0, 0, 1})));
  EXPECT_NO_THROW(resolve_run(token_run(2, 2, {1, 0, 1, 0})));  // equal tokens: rho = 1
  const RunSpec s = token_run(2, 2, {3, 4, 0, 2});
  EXPECT_EQ(input_gram(s.input, resolve_model(s.model)), (std::vector<double>{12.5, 4, 4, 2}));
}

TEST(InputValidation, GramShapeSymmetryAndDefinitenessMessages) {
  // "a 3 x 3 matrix", not "an 3 x 3 matrix".
  RunSpec s = gram_run({1, 0, 0, 1});
  s.model.tokens = 3;
  expect_input_error([&] { resolve_run(s); }, "input.gram",
                     {"expected a 3 x 3 matrix, got 4 numbers"});
  expect_input_error(
      [&] {
        resolve_run(gram_run({1, 0.5, 0.3, 1}));
      },
      "input.gram", {"must be symmetric (V0_01 = 0.5 but V0_10 = 0.3)"});
  expect_input_error(
      [&] {
        resolve_run(gram_run({1, 2, 2, 1}));
      },
      "input.gram", {"must be positive definite (its leading 2 x 2 block"});
  expect_input_error(
      [&] {
        resolve_run(gram_run({-1, 0, 0, 1}));
      },
      "input.gram", {"V0_00 = -1 < 0: must be positive definite"});
}

TEST(InputValidation, SdeRefusesDegenerateInput) {
  SdeSpec s;
  s.model.tokens = 2;
  s.model.width = 8;
  s.model.depth = 8;
  s.input.kind = InputSpec::Kind::gram;
  s.input.gram = {1e300, 0, 0, 1e300};
  expect_input_error([&] { resolve_sde(s); }, "input.gram", {"overflows float32"});
  s.input.gram = {0, 0, 0, 1};
  expect_input_error([&] { resolve_sde(s); }, "input.gram", {"token 0 has zero norm"});
}

// ---------------------------------------------------------------- A: statistics

TEST(InputValidation, AllNonFiniteStatisticsReadNaNAndAreFlagged) {
  const Moments none;  // no member contributed: NaN, not 0
  EXPECT_TRUE(std::isnan(none.mean()));
  EXPECT_TRUE(std::isnan(none.variance()));
  EXPECT_TRUE(std::isnan(none.stddev()));
  const int m = 2;
  EnsembleStatistics st(m, {0, 3}, StatisticsOptions{});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Record 0: V = 0 (zero-norm tokens); record 1: NaN.
  const std::vector<float> g = {0, 0, 0, 0, nan, nan, nan, nan};
  for (int i = 0; i < 5; ++i) st.add_member(g.data());
  for (std::size_t r = 0; r < 2; ++r) {
    const LayerStatistics& L = st.per_layer()[r];
    EXPECT_EQ(L.members, 5);
    EXPECT_EQ(L.nonfinite, 5);
    EXPECT_EQ(L.finite_members(), 0);
    EXPECT_EQ(L.moment_members(), 0);
    EXPECT_TRUE(std::isnan(L.rho[1].mean()));
    EXPECT_TRUE(std::isnan(L.rho[1].stddev()));
    EXPECT_TRUE(std::isnan(L.gram[0].mean()));
    EXPECT_TRUE(std::isnan(L.gram[0].stddev()));
    EXPECT_TRUE(std::isnan(st.quantile(int(r), 0, 1, 0.5, true)));
    EXPECT_TRUE(std::isnan(st.quantile(int(r), 0, 0, 0.5, false)));
  }
  EXPECT_TRUE(all_members_nonfinite(st));
  EXPECT_EQ(first_all_nonfinite_layer(st), 0);
}

TEST(InputValidation, NonFiniteFlagFindsTheFirstDeadLayer) {
  const int m = 2;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EnsembleStatistics st(m, {0, 2, 5}, StatisticsOptions{});
  EXPECT_FALSE(all_members_nonfinite(st));  // no members: nothing to warn about
  EXPECT_EQ(first_all_nonfinite_layer(st), -1);
  // Finite at layers 0 and 2, NaN at layer 5.
  const std::vector<float> g = {1, 0.5f, 0.5f, 1, 2, 1, 1, 2, nan, nan, nan, nan};
  st.add_member(g.data());
  st.add_member(g.data());
  EXPECT_TRUE(all_members_nonfinite(st));
  EXPECT_EQ(first_all_nonfinite_layer(st), 5);
  EXPECT_EQ(st.per_layer()[1].moment_members(), 2);
  EXPECT_DOUBLE_EQ(st.per_layer()[1].rho[1].mean(), 0.5);

  // One finite member at the last layer: no longer all non-finite.
  const std::vector<float> ok = {1, 0.5f, 0.5f, 1, 2, 1, 1, 2, 3, 0, 0, 3};
  st.add_member(ok.data());
  EXPECT_FALSE(all_members_nonfinite(st));
  EXPECT_EQ(st.per_layer()[2].finite_members(), 1);
}

TEST(InputValidation, OverflowIsFiniteAndBlowUpIsNot) {
  const int m = 1;
  StatisticsOptions o;
  o.overflow_threshold = 10;
  EnsembleStatistics st(m, {0}, o);
  const float big = 100;
  st.add_member(&big);
  // Overflowing members are finite (they have quantiles) but have no moments.
  EXPECT_EQ(st.per_layer()[0].finite_members(), 1);
  EXPECT_EQ(st.per_layer()[0].moment_members(), 0);
  EXPECT_TRUE(std::isnan(st.per_layer()[0].gram[0].mean()));
  EXPECT_FALSE(all_members_nonfinite(st));

  EnsembleStatistics sde(m, {0}, o);
  const float one = 1;
  const unsigned char blown = 1;
  sde.add_member(&one, &blown);  // a blown-up SDE path: no finite V
  EXPECT_EQ(sde.per_layer()[0].finite_members(), 0);
  EXPECT_TRUE(all_members_nonfinite(sde));
}

// ---------------------------------------------------------------- B: record layers

TEST(InputValidation, RecordLayersMustBeStrictlyIncreasing) {
  RunSpec s = small_run(2, 8);
  s.model.depth = 8;
  s.record_layers = {3, 1};
  expect_input_error([&] { resolve_run(s); }, "ensemble.record_layers",
                     {"entry 1 (layer 1)", "entry 0 (layer 3)", "strictly increasing"});
  s.record_layers = {2, 2};
  expect_input_error([&] { resolve_run(s); }, "ensemble.record_layers",
                     {"entry 1 (layer 2)", "strictly increasing"});
  s.record_layers = {0, 8, 8};
  expect_input_error([&] { resolve_run(s); }, "ensemble.record_layers", {"entry 2 (layer 8)"});
  // A valid list gains layers 0 (input) and depth (output) when missing.
  s.record_layers = {2, 5};
  const RunSpec r = resolve_run(s);
  EXPECT_EQ(r.record_layers, (std::vector<int>{0, 2, 5, 8}));
  EXPECT_EQ(resolve_run(r).record_layers, r.record_layers);  // resolving is idempotent
  s.record_layers = {0, 8};
  EXPECT_EQ(resolve_run(s).record_layers, (std::vector<int>{0, 8}));
  s.record_layers = {8};
  EXPECT_EQ(resolve_run(s).record_layers, (std::vector<int>{0, 8}));
  s.model.depth = 0;
  s.record_layers = {0};
  EXPECT_EQ(resolve_run(s).record_layers, (std::vector<int>{0}));
}

TEST(InputValidation, RecordLayersOutsideTheDepthNameTheEntry) {
  RunSpec s = small_run(2, 8);
  s.model.depth = 8;
  s.record_layers = {2, 9};
  expect_input_error([&] { resolve_run(s); }, "ensemble.record_layers",
                     {"entry 1 (layer 9) is outside [0, 8]"});
  s.record_layers = {-1, 2};
  expect_input_error([&] { resolve_run(s); }, "ensemble.record_layers",
                     {"entry 0 (layer -1) is outside [0, 8]"});
}

// ---------------------------------------------------------------- C: compare

namespace {

// A comparison small enough to finish quickly even if a check were missing.
CompareSpec small_compare() {
  CompareSpec s;
  s.model.tokens = 3;
  s.widths = {4, 8};
  s.horizon = 0.5;
  s.records = 1;
  s.members = 16;
  s.trajectories = 16;
  s.device = Device::cpu;
  s.threads = 1;
  return s;
}

// run_compare refuses `s` before any network runs (no progress reported).
void expect_compare_error(const CompareSpec& s, const std::string& key,
                          const std::vector<std::string>& says) {
  int calls = 0;
  expect_input_error([&] { run_compare(s, [&](std::uint64_t, std::uint64_t) { ++calls; }); }, key,
                     says);
  EXPECT_EQ(calls, 0) << "refused only after running networks";
}

}  // namespace

TEST(InputValidation, CompareRefusesNegativeSdeSteps) {
  CompareSpec s = small_compare();
  s.sde_steps = -1;
  expect_compare_error(s, "compare.sde_steps", {"must be >= 0", "got -1"});
}

TEST(InputValidation, CompareRefusesSdeStepsNotAMultipleOfRecordsUpFront) {
  CompareSpec s = small_compare();
  s.records = 2;
  s.widths = {4, 8};
  s.horizon = 1.0;
  s.sde_steps = 5;
  expect_compare_error(s, "compare.sde_steps", {"multiple of compare.records = 2"});
}

TEST(InputValidation, CompareRefusesRepeatedOrDecreasingWidths) {
  CompareSpec s = small_compare();
  s.widths = {8, 8};
  expect_compare_error(s, "compare.widths", {"entry 1 (n = 8)", "strictly increasing"});
  s.widths = {8, 4};
  expect_compare_error(s, "compare.widths", {"entry 1 (n = 4)", "entry 0 (n = 8)"});
}

TEST(InputValidation, ComparePairOutOfRangeNamesTheToken) {
  CompareSpec s = small_compare();
  s.a = 0;
  s.b = 5;
  expect_compare_error(s, "compare.pair", {"token 5 is out of range for m = 3 tokens"});
  s.a = -1;
  s.b = 1;
  expect_compare_error(s, "compare.pair", {"token -1 is out of range for m = 3 tokens"});
  s.a = s.b = 2;
  expect_compare_error(s, "compare.pair", {"must name two different tokens (got 2 twice)"});
}

TEST(InputValidation, CompareNeedsTwoTokens) {
  CompareSpec s = small_compare();
  s.model.tokens = 1;
  expect_compare_error(s, "model.tokens", {"compare needs at least two tokens", "m = 1"});
}
