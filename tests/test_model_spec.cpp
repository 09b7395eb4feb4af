// Validation of model and run specs: every bad input names its parameter;
// derived fields and the input-token construction are right.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "attnmc/error.hpp"
#include "attnmc/model_spec.hpp"
#include "attnmc/run_spec.hpp"

using namespace attnmc;

namespace {

// Runs f, expects an InputError whose parameter is `key`.
template <typename F>
void expect_input_error(F f, const std::string& key) {
  try {
    f();
    ADD_FAILURE() << "expected InputError for " << key;
  } catch (const InputError& e) {
    EXPECT_EQ(e.parameter(), key) << e.what();
  }
}

}  // namespace

TEST(ModelSpec, DerivesResidualWeights) {
  ModelSpec s;
  ModelSpec r = resolve_model(s);
  EXPECT_NEAR(r.lambda, std::sqrt(0.5), 1e-15);
  EXPECT_NEAR(r.gamma, std::sqrt(0.5), 1e-15);
  EXPECT_EQ(r.head_dim, s.width);
  s.gamma = 0.6;
  EXPECT_NEAR(resolve_model(s).lambda, 0.8, 1e-15);
  s.gamma = -1;
  s.lambda = 0.6;
  EXPECT_NEAR(resolve_model(s).gamma, 0.8, 1e-15);
  s.gamma = 0.8;
  EXPECT_NO_THROW(resolve_model(s));
}

TEST(ModelSpec, BadInputNamesParameter) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto with = [](auto change) {
    return [change] {
      ModelSpec s;
      change(s);
      resolve_model(s);
    };
  };
  expect_input_error(with([](ModelSpec& s) { s.width = 0; }), "model.width");
  expect_input_error(with([](ModelSpec& s) { s.width = -3; }), "model.width");
  expect_input_error(with([](ModelSpec& s) { s.tokens = 0; }), "model.tokens");
  expect_input_error(with([](ModelSpec& s) { s.tokens = 200; }), "model.tokens");  // m > n
  expect_input_error(with([](ModelSpec& s) { s.depth = -1; }), "model.depth");
  expect_input_error(with([](ModelSpec& s) { s.heads = 0; }), "model.heads");
  expect_input_error(with([](ModelSpec& s) { s.tau0 = 0; }), "model.tau0");
  expect_input_error(with([](ModelSpec& s) { s.tau0 = -1; }), "model.tau0");
  expect_input_error(with([nan](ModelSpec& s) { s.tau0 = nan; }), "model.tau0");
  expect_input_error(with([](ModelSpec& s) { s.lambda = 1.5; }), "model.lambda");
  expect_input_error(with([nan](ModelSpec& s) { s.lambda = nan; }), "model.lambda");
  expect_input_error(with([](ModelSpec& s) { s.gamma = 2; }), "model.gamma");
  expect_input_error(with([](ModelSpec& s) { s.lambda = 0.5, s.gamma = 0.5; }), "model.gamma");
  expect_input_error([] { model_preset("nonsense"); }, "model.preset");
}

TEST(ModelSpec, InitialTokensHaveTheRequestedGram) {
  ModelSpec s = resolve_model(ModelSpec{});
  s.tokens = 3;
  s.width = 10;
  InputSpec in;
  in.kind = InputSpec::Kind::gram;
  in.gram = {2.0, 0.3, -0.4, 0.3, 1.0, 0.1, -0.4, 0.1, 0.5};
  const std::vector<double> x = initial_tokens(in, s);
  ASSERT_EQ(x.size(), 30u);
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      double v = 0;
      for (int i = 0; i < 10; ++i) v += x[a * 10 + i] * x[b * 10 + i];
      EXPECT_NEAR(v / 10, in.gram[a * 3 + b], 1e-12);
    }
  in.gram[8] = -1.0;  // not positive definite
  expect_input_error([&] { initial_tokens(in, s); }, "input.gram");
  in.gram = {1, 0.2, 0.3, 0.2, 1, 0.1, 0.3, 0.1};  // wrong size
  expect_input_error([&] { initial_tokens(in, s); }, "input.gram");
  InputSpec rho;
  rho.rho0 = 1.0;
  expect_input_error([&] { initial_tokens(rho, s); }, "input.rho0");
  InputSpec tok;
  tok.kind = InputSpec::Kind::tokens;
  tok.values.assign(29, 1.0);
  expect_input_error([&] { initial_tokens(tok, s); }, "input.tokens_file");
}

TEST(RunSpec, RecordLayersAlwaysHoldInputAndOutput) {
  RunSpec s;
  s.model.depth = 10;
  s.record_every = 4;
  EXPECT_EQ(resolve_run(s).record_layers, (std::vector<int>{0, 4, 8, 10}));
  s.record_layers = {3, 7};
  EXPECT_EQ(resolve_run(s).record_layers, (std::vector<int>{0, 3, 7, 10}));
  s.record_layers = {7, 3, 3};  // not increasing: refused, not silently sorted (issue 9)
  expect_input_error([&] { resolve_run(s); }, "ensemble.record_layers");
  s.record_layers = {11};
  expect_input_error([&] { resolve_run(s); }, "ensemble.record_layers");
}

TEST(RunSpec, BadEnsembleInputNamesParameter) {
  auto with = [](auto change) {
    return [change] {
      RunSpec s;
      change(s);
      resolve_run(s);
    };
  };
  expect_input_error(with([](RunSpec& s) { s.members = 0; }), "ensemble.members");
  expect_input_error(with([](RunSpec& s) { s.threads = -1; }), "run.threads");
  expect_input_error(with([](RunSpec& s) { s.memory_cap = 0; }), "ensemble.memory_cap");
  expect_input_error(with([](RunSpec& s) { s.histogram_bins = 0; }), "ensemble.histogram_bins");
  expect_input_error(with([](RunSpec& s) { s.quantiles = {0.5, 1.5}; }), "ensemble.quantiles");
  expect_input_error(with([](RunSpec& s) { s.model.width = 0; }), "model.width");
}
