// The fused kernels' per-row math (kernels/attention_math.hpp), in float and
// double, against the plain double reference on random rows, including
// extreme and tiny logits. The kernels apply exactly these functions per
// row, so this pins the kernels' arithmetic; the engine-vs-reference suite
// checks the assembled layers.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/attention_math.hpp"
#include "reference/reference_model.hpp"

using namespace attnmc;

namespace {

// Max |a - b| over a row.
double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

template <typename Real>
std::vector<double> engine_row(const std::vector<double>& y, double scale, bool shaped, int row) {
  const int m = int(y.size());
  std::vector<Real> yr(y.begin(), y.end()), out(m);
  kernels::attention_row<Real>(yr.data(), m, Real(scale), shaped, row, out.data());
  return std::vector<double>(out.begin(), out.end());
}

std::vector<double> reference_row(const std::vector<double>& y, double scale, bool shaped,
                                  int row) {
  const int m = int(y.size());
  std::vector<double> scaled(m), out(m);
  for (int b = 0; b < m; ++b) scaled[b] = scale * y[b];
  reference::attention_row(scaled.data(), m, shaped, row, out.data());
  return out;
}

// A textbook float softmax minus 1/m: the rounding the centred form avoids.
std::vector<double> naive_float_row(const std::vector<double>& y, double scale, int row) {
  const int m = int(y.size());
  float mx = -INFINITY, sum = 0;
  std::vector<float> e(m);
  for (int b = 0; b < m; ++b) mx = std::max(mx, float(scale * y[b]));
  for (int b = 0; b < m; ++b) sum += e[b] = std::exp(float(scale * y[b]) - mx);
  std::vector<double> out(m);
  for (int b = 0; b < m; ++b) out[b] = double(e[b] / sum - 1.0f / float(m) + (b == row));
  return out;
}

// Relative error of the deviation from the identity-plus-uniform map, the
// O(1/sqrt(n)) part that carries all the shaped attention's signal, over the
// off-diagonal entries. (The diagonal entry 1 + deviation is itself a float:
// its rounding, 6e-8 absolute, is that of any float sum with an O(1) term.)
double deviation_error(const std::vector<double>& got, const std::vector<double>& ref, int row) {
  double scale = 0, err = 0;
  for (std::size_t b = 0; b < ref.size(); ++b) {
    if (int(b) == row) {
      EXPECT_NEAR(got[b], ref[b], 1.2e-7);
      continue;
    }
    scale = std::max(scale, std::abs(ref[b]));
    err = std::max(err, std::abs(got[b] - ref[b]));
  }
  return err / scale;
}

}  // namespace

TEST(AttentionRow, MatchesReferenceOnRandomRows) {
  std::mt19937 gen(2024);
  std::normal_distribution<double> normal;
  for (int trial = 0; trial < 2000; ++trial) {
    const int m = 2 + trial % 15;
    const double spread = std::pow(10.0, (trial % 7) - 3);  // 1e-3 .. 1e3
    std::vector<double> y(m);
    for (double& v : y) v = spread * normal(gen);
    const bool shaped = trial % 2 == 0;
    const int row = trial % m;
    const auto ref = reference_row(y, 0.7, shaped, row);
    // The kernels run this row in double (rounding only). In float the
    // exponent z = scale y - max carries an absolute error of a few ulp of
    // max|scale y|, which becomes a relative error of the entries.
    double ymax = 0;
    for (double v : y) ymax = std::max(ymax, std::abs(0.7 * v));
    EXPECT_LT(max_abs_diff(engine_row<double>(y, 0.7, shaped, row), ref), 1e-14 * (1 + ymax));
    EXPECT_LT(max_abs_diff(engine_row<float>(y, 0.7, shaped, row), ref), 1e-6 * (2 + ymax));
    double sum = 0;
    for (double v : engine_row<float>(y, 0.7, shaped, row)) sum += v;
    EXPECT_NEAR(sum, 1.0, 1e-5);  // rows of softmax and of I + softmax - 11^T/m sum to 1
  }
}

TEST(AttentionRow, ExtremeLogitsStayFinite) {
  for (double big : {80.0, 1e4, 1e30}) {
    for (bool shaped : {true, false}) {
      const std::vector<double> y = {big, -big, 0.0, big};
      const auto f = engine_row<float>(y, 1.0, shaped, 1);
      const auto ref = reference_row(y, 1.0, shaped, 1);
      for (double v : f) EXPECT_TRUE(std::isfinite(v));
      EXPECT_LT(max_abs_diff(f, ref), 1e-6);
      EXPECT_NEAR(f[0], 0.5 + (shaped ? -0.25 : 0.0), 1e-6);  // two tied maxima share the mass
    }
  }
}

// Shaped attention at width n has logits O(1/sqrt(n)): the part of A that
// is not I + 0 is tiny, and float must keep its relative precision.
TEST(AttentionRow, ShapedDeviationKeepsRelativePrecisionForTinyLogits) {
  std::mt19937 gen(99);
  std::normal_distribution<double> normal;
  for (int trial = 0; trial < 500; ++trial) {
    const int m = 2 + trial % 7;
    std::vector<double> y(m);
    for (double& v : y) v = 1e-5 * normal(gen);
    const auto ref = reference_row(y, 1.0, true, 0);
    EXPECT_LT(deviation_error(engine_row<float>(y, 1.0, true, 0), ref, 0), 1e-4);
  }
}

// The check above is not vacuous: a textbook float softmax - 1/m fails it.
TEST(AttentionRow, TinyLogitCheckCatchesNaiveSoftmax) {
  std::mt19937 gen(99);
  std::normal_distribution<double> normal;
  int failures = 0;
  for (int trial = 0; trial < 100; ++trial) {
    std::vector<double> y(4);
    for (double& v : y) v = 1e-5 * normal(gen);
    const auto ref = reference_row(y, 1.0, true, 0);
    failures += deviation_error(naive_float_row(y, 1.0, 0), ref, 0) >= 1e-4;
  }
  EXPECT_GT(failures, 90);
}

TEST(RmsNormalisation, MatchesReference) {
  std::mt19937 gen(5);
  std::normal_distribution<double> normal;
  for (int n : {1, 7, 128, 4096}) {
    std::vector<double> x(n);
    for (double& v : x) v = 3.0 * normal(gen) + 1.0;
    std::vector<float> xf(x.begin(), x.end());
    const double inv = kernels::inverse_rms(xf.data(), n);
    std::vector<double> ref(xf.begin(), xf.end());
    reference::rms_normalise(ref.data(), n);
    for (int i = 0; i < n; ++i)
      EXPECT_NEAR(float(xf[i] * inv), ref[i], 1e-6 * std::abs(ref[i]) + 1e-7);
  }
  std::vector<float> zero(5, 0.0f);
  EXPECT_EQ(kernels::inverse_rms(zero.data(), 5), 0.0);
}

TEST(ShapedRelu, Slopes) {
  EXPECT_FLOAT_EQ(kernels::shaped_relu(2.0f, 1.5f, 0.5f), 3.0f);
  EXPECT_FLOAT_EQ(kernels::shaped_relu(-2.0f, 1.5f, 0.5f), -1.0f);
  EXPECT_FLOAT_EQ(kernels::shaped_relu(0.0f, 1.5f, 0.5f), 0.0f);
}
