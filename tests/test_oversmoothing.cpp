// The oversmoothing family (models.md section 3): the float32 engine against
// the double reference network by network for every option, planted bugs
// that the comparison must catch, the construction of H, the eigenvalue
// theory on small exact cases, and reproducibility across chunks, threads
// and pieces. (The ensemble-level science is in test_oversmoothing_science.cpp.)
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <string>
#include <vector>

#include "attnmc/oversmoothing.hpp"
#include "kernels/oversmoothing/oversmoothing_math.hpp"
#include "reference/oversmoothing_reference.hpp"
#include "tests/test_support.hpp"

namespace attnmc {
namespace {

using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

OversmoothingSpec small_spec() {
  OversmoothingSpec s;
  s.tokens = 5;
  s.width = 6;
  s.depth = 6;
  s.members = 4;
  s.seed = 11;
  s.record_every = 2;
  s.device = test::kTestDevice;
  s.threads = 2;
  return s;
}

// Largest disagreement of the engine's metrics with the reference's, over
// `count` networks and every record, each metric measured on its own scale:
// cosines, log growth and the Dirichlet energy absolutely, the rest
// relative to max(|ref|, floor).
double engine_vs_reference(const OversmoothingSpec& in, int count,
                           reference::OsFault fault = reference::OsFault::none) {
  const OversmoothingSpec s = resolve_oversmoothing(in);
  const OversmoothNetworks e = simulate_oversmoothing(s, 0, std::uint64_t(count));
  const std::size_t R = s.record_layers.size();
  double worst = 0.0;
  for (int t = 0; t < count; ++t) {
    const reference::OsReferenceNetwork ref = reference::oversmoothing_network(s, t, fault);
    for (std::size_t r = 0; r < R; ++r)
      for (int q = 0; q < kMetricCount; ++q) {
        const double a = e.metrics[(t * R + r) * kMetricCount + q];
        const double b = ref.metrics[r * kMetricCount + q];
        double err;
        if (q == kCosine || q == kLogGrowth)
          err = std::fabs(a - b);
        else
          err = std::fabs(a - b) / std::max(std::fabs(b), 1e-2);
        if (!std::isfinite(a) || !std::isfinite(b))
          err = std::isfinite(a) == std::isfinite(b) ? 0 : 1e9;
        worst = std::max(worst, err);
      }
  }
  return worst;
}

// float32 against double over a few shallow layers: the metrics agree to
// 2e-3 (measured worst over these cases: ~1e-5; planted bugs give > 0.05).
constexpr double kEngineTolerance = 2e-3;

struct Option {
  const char* name;
  void (*apply)(OversmoothingSpec&);
};

const std::vector<Option>& options() {
  static const std::vector<Option> all = {
      {"minus/orthogonal/softmax", [](OversmoothingSpec&) {}},
      {"plus", [](OversmoothingSpec& s) { s.spectrum = SpectrumKind::plus; }},
      {"plus psi_scale 0.5",
       [](OversmoothingSpec& s) {
         s.spectrum = SpectrumKind::plus;
         s.psi_scale = 0.5;
       }},
      {"list",
       [](OversmoothingSpec& s) {
         s.spectrum = SpectrumKind::list;
         s.lambdas = {-0.9, -0.5, 0.2, 0.4, -0.1, 0.7};
       }},
      {"list broadcast",
       [](OversmoothingSpec& s) {
         s.spectrum = SpectrumKind::list;
         s.lambdas = {-0.6};
       }},
      {"range",
       [](OversmoothingSpec& s) {
         s.spectrum = SpectrumKind::range;
         s.lambda_lo = -1.0;
         s.lambda_hi = 0.5;
       }},
      {"uniform",
       [](OversmoothingSpec& s) {
         s.spectrum = SpectrumKind::uniform;
         s.lambda_lo = -1.0;
         s.lambda_hi = -0.2;
       }},
      {"h file",
       [](OversmoothingSpec& s) {
         s.spectrum = SpectrumKind::file;
         s.h_matrix.resize(36);
         for (int e = 0; e < 36; ++e) s.h_matrix[e] = 0.1 * std::sin(1.0 + e);
       }},
      {"gaussian eigvecs", [](OversmoothingSpec& s) { s.eigvecs = EigvecKind::gaussian; }},
      {"u file",
       [](OversmoothingSpec& s) {
         s.eigvecs = EigvecKind::file;
         s.u_matrix.resize(36);
         for (int e = 0; e < 36; ++e) s.u_matrix[e] = (e % 7 == 0 ? 2.0 : 0.0) + 0.3 * std::cos(e);
       }},
      {"fresh h", [](OversmoothingSpec& s) { s.fresh_h = true; }},
      {"fresh qk", [](OversmoothingSpec& s) { s.fresh_qk = true; }},
      {"head_dim 3 temperature 0.5",
       [](OversmoothingSpec& s) {
         s.head_dim = 3;
         s.temperature = 0.5;
       }},
      {"random A", [](OversmoothingSpec& s) { s.attention = OsAttentionKind::random; }},
      {"random A plus",
       [](OversmoothingSpec& s) {
         s.attention = OsAttentionKind::random;
         s.spectrum = SpectrumKind::plus;
       }},
      {"circulant A",
       [](OversmoothingSpec& s) {
         s.attention = OsAttentionKind::circulant;
         s.a_scale = 0.7;
       }},
      {"a file",
       [](OversmoothingSpec& s) {
         s.attention = OsAttentionKind::file;
         s.a_matrix.assign(25, 0.0);
         for (int k = 0; k < 5; ++k) {
           double t = 0;
           for (int q = 0; q < 5; ++q) t += (s.a_matrix[k * 5 + q] = 1.0 + ((k * 3 + q) % 4));
           for (int q = 0; q < 5; ++q) s.a_matrix[k * 5 + q] /= t;
         }
       }},
      {"post LN", [](OversmoothingSpec& s) { s.norm = NormPlacement::post; }},
      {"post LN negative gain vector bias",
       [](OversmoothingSpec& s) {
         s.norm = NormPlacement::post;
         s.gain = {-1.0, 0.5, -2.0, 1.0, 0.3, -0.7};
         s.bias = 0.1;
       }},
      {"pre LN", [](OversmoothingSpec& s) { s.norm = NormPlacement::pre; }},
      {"pre LN negative gain",
       [](OversmoothingSpec& s) {
         s.norm = NormPlacement::pre;
         s.gain = {-1.0};
       }},
      {"post RMS",
       [](OversmoothingSpec& s) {
         s.norm = NormPlacement::post;
         s.norm_kind = NormKind::rms;
         s.gain = {-0.8};
       }},
      {"pre RMS random A",
       [](OversmoothingSpec& s) {
         s.norm = NormPlacement::pre;
         s.norm_kind = NormKind::rms;
         s.attention = OsAttentionKind::random;
       }},
      {"given input rho0",
       [](OversmoothingSpec& s) {
         s.input = OversmoothInputKind::given;
         s.given_input.kind = InputSpec::Kind::correlation;
         s.given_input.rho0 = 0.3;
       }},
      {"given tokens, fixed A, deep (rescaled)",
       [](OversmoothingSpec& s) {
         s.input = OversmoothInputKind::given;
         s.given_input.kind = InputSpec::Kind::tokens;
         s.given_input.values.resize(30);
         for (int e = 0; e < 30; ++e) s.given_input.values[e] = std::sin(0.7 * e) + 0.1;
         s.attention = OsAttentionKind::random;
         s.depth = 40;
         s.record_every = 10;
       }},
  };
  return all;
}

TEST(OversmoothingEngine, MatchesTheDoubleReferenceForEveryOption) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  for (const Option& o : options()) {
    OversmoothingSpec s = small_spec();
    o.apply(s);
    EXPECT_LT(engine_vs_reference(s, 4), kEngineTolerance) << o.name;
  }
}

// The comparison catches planted bugs in the reference (so it would catch
// them in the engine): each changes some metric by far more than the tolerance.
TEST(OversmoothingEngine, ComparisonCatchesPlantedBugs) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  OversmoothingSpec s = small_spec();
  s.attention = OsAttentionKind::random;
  EXPECT_GT(engine_vs_reference(s, 4, reference::OsFault::lambda_sign), 20 * kEngineTolerance);
  s.eigvecs = EigvecKind::gaussian;  // H not symmetric: its transpose differs
  EXPECT_GT(engine_vs_reference(s, 4, reference::OsFault::transpose_h), 20 * kEngineTolerance);
  s.eigvecs = EigvecKind::orthogonal;
  EXPECT_GT(engine_vs_reference(s, 4, reference::OsFault::qr_raw), 20 * kEngineTolerance);
  s.norm = NormPlacement::pre;
  s.gain = {-1.0, 0.5, -2.0, 1.0, 0.3, -0.7};
  EXPECT_GT(engine_vs_reference(s, 4, reference::OsFault::gain_ignored), 20 * kEngineTolerance);
}

// H = U Lambda U^-1: the engine's construction (MGS twice, Gauss-Jordan)
// against the reference's (Householder QR with R_jj > 0, LU inverse): the
// same matrix to rounding; symmetric with spectrum Lambda for orthogonal U,
// spectrum Lambda for Gaussian U; a planted non-orthogonal "Q" is not.
TEST(OversmoothingEngine, HHasThePrescribedSpectrum) {
  for (EigvecKind u : {EigvecKind::orthogonal, EigvecKind::gaussian}) {
    OversmoothingSpec s = small_spec();
    s.width = 12;
    s.spectrum = SpectrumKind::range;
    s.lambda_lo = -1.0;
    s.lambda_hi = -0.1;
    s.eigvecs = u;
    s = resolve_oversmoothing(s);
    for (std::uint64_t member : {0u, 3u}) {
      const std::vector<double> h = oversmoothing_h(s, member, 0);
      const std::vector<double> ref = reference::oversmoothing_h(s, member, 0);
      const Mat H = Eigen::Map<const Mat>(h.data(), 12, 12);
      const Mat R = Eigen::Map<const Mat>(ref.data(), 12, 12);
      EXPECT_LT((H - R).cwiseAbs().maxCoeff(), 1e-9 * (1 + R.cwiseAbs().maxCoeff()));
      Eigen::VectorXcd ev = Eigen::EigenSolver<Eigen::MatrixXd>(H).eigenvalues();
      std::vector<double> got;
      for (int i = 0; i < 12; ++i) {
        EXPECT_LT(std::fabs(ev[i].imag()), 1e-8);
        got.push_back(ev[i].real());
      }
      std::sort(got.begin(), got.end());
      for (int i = 0; i < 12; ++i) EXPECT_NEAR(got[i], s.lambdas[i], 1e-8);
      if (u == EigvecKind::orthogonal) {
        EXPECT_LT((H - H.transpose()).cwiseAbs().maxCoeff(), 1e-12);
        const std::vector<double> bad =
            reference::oversmoothing_h(s, member, 0, reference::OsFault::qr_raw);
        const Mat B = Eigen::Map<const Mat>(bad.data(), 12, 12);
        Eigen::VectorXd bev = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(B).eigenvalues();
        EXPECT_GT(
            (bev - Eigen::Map<const Eigen::VectorXd>(s.lambdas.data(), 12)).cwiseAbs().maxCoeff(),
            0.1);  // the planted bug breaks the spectrum
      } else {
        EXPECT_GT((H - H.transpose()).cwiseAbs().maxCoeff(), 1e-3);
      }
    }
  }
}

// vec(X_{l+1}) = (I + H^T (x) A) vec(X_l): the component c_ij = u_i^T X w_j
// (u_i a left eigenvector of A, w_j a right eigenvector of H) grows by
// exactly 1 + a_i h_j per layer. Checked on the double reference (to
// rounding) and on the float engine (to float accuracy), with a
// non-symmetric H and a non-symmetric A.
// The effective rank's eigenvalues (tridiagonalisation + implicit QL, the
// kernels' own function) against Eigen's self-adjoint solver on Gram
// matrices of every shape the metrics meet: full rank, rank-deficient
// (n < m), a single token, zero, diagonal, and m = 197 (ViT).
TEST(OversmoothingMetrics, TridiagonalEigenvaluesMatchEigen) {
  std::uint64_t state = 12345;
  auto uniform = [&state] {  // SplitMix64 -> [-1, 1)
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return double((z ^ (z >> 31)) >> 11) * 0x1.0p-52 - 1.0;
  };
  struct Case {
    int m, n;
    int kind;  // 0 Gram of a random m x n, 1 zero, 2 diagonal
  };
  for (const Case c : {Case{1, 4, 0}, Case{2, 3, 0}, Case{5, 2, 0}, Case{8, 40, 0}, Case{17, 5, 0},
                       Case{64, 64, 0}, Case{197, 64, 0}, Case{6, 1, 1}, Case{7, 1, 2}}) {
    Mat X(c.m, c.n), G(c.m, c.m);
    for (int i = 0; i < c.m; ++i)
      for (int j = 0; j < c.n; ++j) X(i, j) = uniform();
    if (c.kind == 0) G = X * X.transpose();
    if (c.kind == 1) G.setZero();
    if (c.kind == 2) {
      G.setZero();
      for (int i = 0; i < c.m; ++i) G(i, i) = 3.0 - i;
    }
    std::vector<double> a(G.data(), G.data() + G.size()), d(c.m), e(c.m);
    ASSERT_TRUE(kernels::os_tridiagonal_eigenvalues(a.data(), c.m, d.data(), e.data()));
    std::sort(d.begin(), d.end());
    const Eigen::VectorXd want = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(G).eigenvalues();
    const double scale = std::max(1.0, want.cwiseAbs().maxCoeff());
    for (int k = 0; k < c.m; ++k)
      EXPECT_NEAR(d[k], want[k], 1e-12 * c.m * scale) << "m " << c.m << " n " << c.n << " k " << k;
  }
}

TEST(OversmoothingTheory, EachEigenComponentGrowsByOnePlusAH) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  OversmoothingSpec s = small_spec();
  s.tokens = 6;
  s.width = 5;
  s.spectrum = SpectrumKind::uniform;
  s.lambda_lo = -1.0;
  s.lambda_hi = 0.5;
  s.eigvecs = EigvecKind::gaussian;
  s.attention = OsAttentionKind::random;
  s.a_scale = 1.5;
  s.record_layers = {};
  s.depth = 3;
  const OversmoothingSpec s3 = resolve_oversmoothing(s);
  s.depth = 4;
  const OversmoothingSpec s4 = resolve_oversmoothing(s);
  for (std::uint64_t member : {0u, 1u, 2u}) {
    const Mat A = Eigen::Map<const Mat>(oversmoothing_a(s3, member).data(), 6, 6);
    const std::vector<double> hv = oversmoothing_h(s3, member, 0);
    const Mat H = Eigen::Map<const Mat>(hv.data(), 5, 5);
    Eigen::EigenSolver<Eigen::MatrixXd> ea(A), eh(H);
    const Eigen::MatrixXcd left = ea.eigenvectors().inverse();  // rows: left eigenvectors
    const Eigen::MatrixXcd right = eh.eigenvectors();
    auto component = [&](const std::vector<double>& x, double log_norm, double norm, int i, int j) {
      const Mat X = Eigen::Map<const Mat>(x.data(), 6, 5) * (std::exp(log_norm) / norm);
      return std::complex<double>(
          (left.row(i) * X.cast<std::complex<double>>() * right.col(j))(0, 0));
    };
    const reference::OsReferenceNetwork r3 = reference::oversmoothing_network(s3, member);
    const reference::OsReferenceNetwork r4 = reference::oversmoothing_network(s4, member);
    const OversmoothNetworks e3 = simulate_oversmoothing(s3, member, 1);
    const OversmoothNetworks e4 = simulate_oversmoothing(s4, member, 1);
    auto as_double = [](const std::vector<float>& f) {
      return std::vector<double>(f.begin(), f.end());
    };
    const std::vector<double> t3 = as_double(e3.final_tokens), t4 = as_double(e4.final_tokens);
    const double n3 = Eigen::Map<const Mat>(t3.data(), 6, 5).norm();
    const double n4 = Eigen::Map<const Mat>(t4.data(), 6, 5).norm();
    int checked = 0;
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 5; ++j) {
        const std::complex<double> predicted = 1.0 + ea.eigenvalues()[i] * eh.eigenvalues()[j];
        const std::complex<double> c3 = component(r3.tokens, r3.log_norm, 1.0, i, j);
        const std::complex<double> c4 = component(r4.tokens, r4.log_norm, 1.0, i, j);
        if (std::abs(c3) < 1e-6) continue;  // a component with nothing in it
        // Rounding in X moves a component by ~eps |u_i| |X|_F |w_j|: the
        // ratio's error is that over |c3| (large when c3 is a small part of X).
        const double spread = left.row(i).norm() * right.col(j).norm();
        const double x3 =
            std::exp(r3.log_norm) * Eigen::Map<const Mat>(r3.tokens.data(), 6, 5).norm();
        const double x4 =
            std::exp(r4.log_norm) * Eigen::Map<const Mat>(r4.tokens.data(), 6, 5).norm();
        const double rounding = spread * (x4 + std::abs(predicted) * x3) / std::abs(c3);
        EXPECT_LT(std::abs(c4 / c3 - predicted), 1e-9 * (std::abs(predicted) + rounding))
            << i << "," << j;
        const std::complex<double> f3 = component(t3, e3.log_norm[0], n3, i, j);
        const std::complex<double> f4 = component(t4, e4.log_norm[0], n4, i, j);
        if (std::abs(c3) > 1e-2 * std::exp(r3.log_norm))  // the float engine, on large components
          EXPECT_LT(std::abs(f4 / f3 - predicted), 1e-3 * (1 + std::abs(predicted)));
        ++checked;
      }
    EXPECT_GT(checked, 20);
  }
}

// The circulant example of models.md: A = row-normalised exp(-circular
// distance), m = 8. Its spectrum is the DFT of a row, lambda_k =
// sum_d c_d cos(2 pi k d / m) (derived here, not copied). With H = diag of
// negative values the alternating mode (k = m/2, the smallest lambda) wins:
// rows ~ (-1)^k, mean pairwise cosine ((sum s)^2 - m) / (m (m - 1)) = -1/7;
// with a positive diagonal the DC mode wins: cosine 1 and ncf -> 0.
TEST(OversmoothingTheory, CirculantExampleReachesThePredictedLimits) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  const int m = 8;
  OversmoothingSpec s;
  s.tokens = m;
  s.width = 4;
  s.depth = 400;
  s.members = 3;
  s.attention = OsAttentionKind::circulant;
  s.a_scale = 1.0;
  s.spectrum = SpectrumKind::file;
  s.device = test::kTestDevice;
  // The spectrum by the DFT of the first row.
  std::vector<double> row(m);
  double total = 0;
  for (int d = 0; d < m; ++d) total += (row[d] = std::exp(-std::min(d, m - d)));
  std::vector<double> dft(m, 0.0);
  for (int k = 0; k < m; ++k)
    for (int d = 0; d < m; ++d) dft[k] += row[d] / total * std::cos(2 * M_PI * k * d / m);
  const std::vector<double> a = oversmoothing_a(resolve_oversmoothing([&] {
                                                  OversmoothingSpec t = s;
                                                  t.h_matrix.assign(16, 0.0);
                                                  return t;
                                                }()),
                                                0);
  Eigen::VectorXd ev =
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(Eigen::Map<const Mat>(a.data(), m, m))
          .eigenvalues();
  std::vector<double> expected = dft;
  std::sort(expected.begin(), expected.end());
  for (int k = 0; k < m; ++k) EXPECT_NEAR(ev[k], expected[k], 1e-12);
  EXPECT_NEAR(expected[0], dft[m / 2], 1e-15);  // the alternating mode is the smallest

  for (double sign : {-1.0, 1.0}) {
    OversmoothingSpec t = s;
    t.h_matrix.assign(16, 0.0);
    const double diag[4] = {0.5, 1.0, 0.3, 0.8};  // psi^2 (clipped into (0, 1])
    for (int j = 0; j < 4; ++j) t.h_matrix[j * 4 + j] = sign * diag[j];
    t = resolve_oversmoothing(t);
    const Prediction p = predict_oversmoothing(t, 0);
    const double limit = sign < 0 ? -1.0 / 7.0 : 1.0;
    EXPECT_EQ(p.regime, sign < 0 ? Regime::sharpening : Regime::smoothing);
    EXPECT_NEAR(p.limit_cosine, limit, 1e-12);
    // |1 + a h| is largest for the least negative h (-0.3) on the smallest a
    // (all a > 0 here); with h > 0, for the largest h (1.0) on a = 1.
    EXPECT_NEAR(p.dominant, sign < 0 ? 1 - 0.3 * dft[m / 2] : 2.0, 1e-12);
    const OversmoothNetworks e = simulate_oversmoothing(t, 0, 3);
    const std::size_t R = t.record_layers.size();
    for (int n = 0; n < 3; ++n) {
      const double* last = e.metrics.data() + (n * R + R - 1) * kMetricCount;
      EXPECT_NEAR(last[kCosine], limit, 1e-4);
      EXPECT_NEAR(last[kLogGrowth], std::log(p.dominant), 1e-4);
      if (sign > 0) EXPECT_LT(last[kNonConstant], 1e-4);
      if (sign < 0) EXPECT_GT(last[kNonConstant], 0.5);
      EXPECT_EQ(observed_regime(t, last), p.regime);
    }
  }
}

// Same seed, same bits: chunk 1 / 7 / all, 1 or 2 threads, and two pieces
// merged give identical statistics (exact sums and sketches compared).
void expect_same(const OversmoothingResult& a, const OversmoothingResult& b) {
  ASSERT_EQ(a.layers, b.layers);
  EXPECT_EQ(a.nonfinite, b.nonfinite);
  for (std::size_t r = 0; r < a.layers.size(); ++r)
    for (int q = 0; q < kMetricCount; ++q) {
      const ScalarStatistics &x = a.metrics[r][q], &y = b.metrics[r][q];
      EXPECT_EQ(x.count, y.count);
      EXPECT_EQ(x.infinite, y.infinite);
      EXPECT_TRUE(x.sum == y.sum && x.sum_sq == y.sum_sq) << r << " " << metric_name(q);
      EXPECT_TRUE(x.sketch == y.sketch) << r << " " << metric_name(q);
    }
  EXPECT_EQ(a.agree, b.agree);
  EXPECT_EQ(a.compared, b.compared);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(a.predicted[i], b.predicted[i]);
  EXPECT_TRUE(a.cosine_error.sum == b.cosine_error.sum);
  if (a.has_gram) EXPECT_TRUE(a.gram.per_layer()[1].gram[1] == b.gram.per_layer()[1].gram[1]);
}

TEST(OversmoothingEngine, ReproducibleAcrossChunksThreadsAndPieces) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  for (OsAttentionKind att : {OsAttentionKind::softmax, OsAttentionKind::random}) {
    OversmoothingSpec s = small_spec();
    s.attention = att;
    s.members = 23;
    s.depth = 12;
    s.chunk = 0;
    s.threads = 1;
    const OversmoothingResult whole = run_oversmoothing(s);
    EXPECT_TRUE(whole.has_gram);
    for (std::uint64_t chunk : {1u, 7u}) {
      s.chunk = chunk;
      s.threads = 2;
      expect_same(whole, run_oversmoothing(s));
    }
    s.chunk = 5;
    s.member_end = 9;
    OversmoothingResult a = run_oversmoothing(s);
    s.member_begin = 9;
    s.member_end = 0;
    s.chunk = 4;
    merge_oversmoothing(a, run_oversmoothing(s));
    expect_same(whole, a);
  }
}

}  // namespace
}  // namespace attnmc
