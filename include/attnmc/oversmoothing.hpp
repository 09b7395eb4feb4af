// Oversmoothing versus sharpening (models.md section 3; Dovonon, Bronstein,
// Kusner, "Setting the Record Straight on Transformer Oversmoothing", TMLR
// 2024): deep residual attention networks
//     X_{l+1} = X_l + A_l X_l H_l            (m tokens x n features, rows are tokens)
// whose value-projection product H = U Lambda U^{-1} has a prescribed
// spectrum, with optional LayerNorm/RMS normalisation after each layer
// (post) or on the branch input (pre: X + A(N X) N(X) H).
//
// The theory (fixed A and H, no normalisation): vec(X_{l+1}) = (I + H^T (x) A)
// vec(X_l), eigenvalues 1 + a_i h_j (a_i of A, h_j of H). A is row-stochastic:
// a = 1 on the constant vector (the DC mode). The dominant |1 + a_i h_j| decides:
// on the DC mode -> oversmoothing (tokens converge to one vector, cosine -> 1);
// on a real non-DC mode -> sharpening (rank one, rows ~ v_i: cosines
// sign(v_k v_k')); on a complex pair -> oscillating. spec(H) in [-1, 0) rules
// oversmoothing out; a positive spectrum forces it (|a| <= 1).
//
// Only the direct sampler exists: the weights are not i.i.d. Gaussian, so no
// Gram-chain law applies. Every random number is keyed (include/attnmc/rng.hpp,
// purpose `oversmoothing`, slots in kernels/oversmoothing/oversmoothing_math.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attnmc/engine.hpp"
#include "attnmc/exact_sum.hpp"
#include "attnmc/run_spec.hpp"
#include "attnmc/sketch.hpp"
#include "attnmc/statistics.hpp"

namespace attnmc {

// Where Lambda (the eigenvalues of H) comes from.
enum class SpectrumKind {
  list,     // `lambdas`: n values, or one value for all
  range,    // n values evenly spaced from lambda_lo to lambda_hi (inclusive)
  uniform,  // i.i.d. uniform on [lambda_lo, lambda_hi]
  minus,    // the paper's "-" model: -psi^2 clipped into [-1, 0), psi ~ N(0, psi_scale^2)
  plus,     // the "+" model: +psi^2, psi ~ N(0, psi_scale^2)
  file,     // H itself from h_file (n x n); eigvecs ignored
};
// U of H = U Lambda U^{-1}.
enum class EigvecKind {
  orthogonal,  // Q of the QR factorisation of an n x n N(0, 1) matrix (Haar): H symmetric
  gaussian,    // the N(0, 1) matrix itself: H not symmetric, eigenvalues still Lambda
  file,        // U from u_file (must be invertible)
};
enum class OsAttentionKind {
  softmax,    // A = softmax_rows(Xa W_Q W_K^T Xa^T / (temperature sqrt(n_k))), Xa = X (pre: N(X))
  random,     // fixed per network: rows of exp(a_scale G), G symmetric N(0, 1) (real spectrum)
  circulant,  // fixed: A_kk' proportional to exp(-a_scale circular distance(k, k'))
  file,       // fixed: a_file (m x m row-stochastic)
};
// NormPlacement and NormKind: shared with every residual family (attnmc/model_spec.hpp).
// The network's input tokens.
enum class OversmoothInputKind {
  random,  // every network draws its own X_0, i.i.d. N(0, 1) entries
  given,   // one X_0 for all networks: input.rho0, input.gram or input.tokens_file
};

struct OversmoothingSpec {
  int tokens = 8;    // m
  int width = 16;    // n
  int depth = 64;    // L layers
  int head_dim = 0;  // n_k of W_Q, W_K (0: = width)

  SpectrumKind spectrum = SpectrumKind::minus;
  std::vector<double> lambdas;  // list
  double lambda_lo = -1.0, lambda_hi = 0.0;
  double psi_scale = 1.0;
  EigvecKind eigvecs = EigvecKind::orthogonal;
  std::vector<double> h_matrix;  // SpectrumKind::file: n x n row-major
  std::vector<double> u_matrix;  // EigvecKind::file: n x n row-major
  bool fresh_h = false;          // H drawn afresh at every layer (else once per network)

  OsAttentionKind attention = OsAttentionKind::softmax;
  bool fresh_qk = false;  // W_Q, W_K afresh at every layer
  double temperature = 1.0;
  double a_scale = 1.0;          // random / circulant A
  std::vector<double> a_matrix;  // OsAttentionKind::file: m x m row-major

  NormPlacement norm = NormPlacement::none;
  NormKind norm_kind = NormKind::layer;
  std::vector<double> gain = {1.0};  // n values, or one for all features
  double bias = 0.0;
  double norm_eps = 1e-5;

  OversmoothInputKind input = OversmoothInputKind::random;
  InputSpec given_input;  // OversmoothInputKind::given (rho0, gram or tokens)

  std::uint64_t members = 1000;
  std::uint64_t seed = 1;
  int record_every = 0;            // 0: about 32 records
  std::vector<int> record_layers;  // explicit list (0 and depth added)
  // Gram statistics V = X X^T / n of the other families (stats.h5); -1: on when m <= 16.
  int gram_statistics = -1;
  double quantile_accuracy = 1e-3;  // metric and V sketches
  int histogram_bins = 200;
  std::vector<double> quantiles = {0.1, 0.5, 0.9};
  // Observed regime at the last layer: smoothing when ncf < smooth_tol,
  // sharpening when not and effective rank < 1 + rank_tol, else other.
  double smooth_tol = 1e-3, rank_tol = 1e-2;
  Device device = Device::automatic;
  int threads = 0;
  std::uint64_t chunk = 0;
  std::size_t memory_cap = std::size_t(2) << 30;
  std::uint64_t member_begin = 0, member_end = 0;
  std::uint64_t end_member() const { return member_end > 0 ? member_end : members; }

  // Derived by resolve_oversmoothing.
  bool fixed_a() const { return attention != OsAttentionKind::softmax; }
  bool fixed_h() const { return !fresh_h; }
  // The linear model (fixed A, no normalisation): X is rescaled to
  // ||X||_F = sqrt(m n) after each layer and the log of the factor kept
  // (directions, metrics and growth are unchanged; nothing overflows).
  bool rescaled() const { return fixed_a() && norm == NormPlacement::none; }
  // The prediction applies: A and H fixed across layers.
  bool predictable() const { return fixed_a() && fixed_h(); }
};

// Validated copy (record_layers resolved, gain broadcast to n, head_dim set,
// files checked). Throws InputError naming the configuration key.
OversmoothingSpec resolve_oversmoothing(const OversmoothingSpec& spec);

// The per-record metrics of one network (models.md section 3).
enum OversmoothMetric : int {
  kCosine = 0,         // mean pairwise cosine similarity over k != k'
  kNonConstant = 1,    // ||X - 1 mean(X)||_F / ||X||_F
  kHcOverDc = 2,       // ||HC||_F / ||DC||_F
  kEffectiveRank = 3,  // exp(-sum p ln p), p = sigma / sum sigma (Roy-Vetterli)
  kDirichlet = 4,      // tr(Xh^T (m I - 1 1^T) Xh) / 2, Xh = X / ||X||_F (= m ncf^2 / 2)
  kLogGrowth = 5,      // ln(||X_l||_F / ||X_{l-1}||_F) (0 at layer 0)
  kMetricCount = 6,
};
const char* metric_name(int metric);

enum class Regime : std::int8_t { smoothing = 0, sharpening = 1, oscillating = 2, other = 3 };
const char* regime_name(Regime r);

// The eigenvalue prediction of one network with fixed A and H (host, double,
// Eigen): a_i = eig(A), h_j = eig(H_eff) (H_eff = diag(g) H in the pre-norm
// form, by LN_g(X) H = LN_1(X) diag(g) H; H otherwise), the dominant
// |1 + a_i h_j| and the regime it implies. Exact for norm = none.
struct Prediction {
  Regime regime = Regime::other;
  double dominant = 0.0;      // max |1 + a_i h_j|
  double a_re = 0, a_im = 0;  // the dominant pair's A eigenvalue
  double h_re = 0, h_im = 0;  // and H eigenvalue
  bool dc = false;            // the dominant A mode is the constant vector
  bool degenerate = false;    // several A modes attain the maximum (no single direction)
  double limit_cosine = 0.0;  // mean_{k != k'} sign(v_k v_k') (NaN when degenerate/oscillating)
};

// Per-network output of members [first, first + count).
struct OversmoothNetworks {
  std::vector<double> metrics;      // count x records x kMetricCount
  std::vector<double> log_norm;     // count: ln ||X_L||_F (rescaled model: the accumulated log)
  std::vector<float> final_tokens;  // count x m x n: X_L (rescaled model: ||X_L||_F = sqrt(m n))
  std::vector<float> grams;         // count x records x m x m: V = X X^T / n
};
OversmoothNetworks simulate_oversmoothing(const OversmoothingSpec& resolved, std::uint64_t first,
                                          std::uint64_t count);

// Member `member`'s A (m x m) and H (n x n) of layer `layer` (0-based),
// built in double by the same functions the kernels use (for the
// prediction and for tests). A is only defined for fixed attention.
std::vector<double> oversmoothing_h(const OversmoothingSpec& resolved, std::uint64_t member,
                                    int layer);
std::vector<double> oversmoothing_a(const OversmoothingSpec& resolved, std::uint64_t member);
Prediction predict_oversmoothing(const OversmoothingSpec& resolved, std::uint64_t member);
// The prediction from given A (m x m) and H_eff (n x n).
Prediction predict_from(const std::vector<double>& a, const std::vector<double>& h, int m, int n);
// What a network did at its last record (metrics row of kMetricCount values).
Regime observed_regime(const OversmoothingSpec& resolved, const double* last_metrics);

// Mergeable statistics of one scalar over an ensemble: exact moments and a
// quantile sketch, non-finite values counted apart.
struct ScalarStatistics {
  std::int64_t count = 0, nonfinite = 0;  // moments over `count`; NaN counted apart
  std::int64_t infinite = 0;              // +-inf: in the sketch, not in the moments
  ExactSum sum, sum_sq;
  LogSketch sketch;
  ScalarStatistics() = default;
  explicit ScalarStatistics(double accuracy) : sketch(accuracy) {}
  void add(double x);
  void merge(const ScalarStatistics& o);
  double mean() const;
  double stddev() const;
  double quantile(double q) const { return sketch.quantile(q); }
};

struct OversmoothingResult {
  OversmoothingSpec spec;  // resolved
  std::string device;
  int threads = 0;
  std::uint64_t chunk = 0;
  std::vector<int> layers;                             // recorded layers
  std::vector<std::vector<ScalarStatistics>> metrics;  // [record][metric]
  std::vector<std::int64_t> nonfinite;                 // per record: networks with non-finite X
  EnsembleStatistics gram;                             // V statistics (when gram statistics are on)
  bool has_gram = false;
  // The prediction (predictable specs only).
  std::int64_t predicted[4] = {}, observed[4] = {};
  std::int64_t agree = 0, compared = 0;  // predicted regime == observed (finite networks)
  std::int64_t degenerate = 0;           // networks with no single dominant direction
  ScalarStatistics growth_error;  // |observed last-layer log growth - ln dominant| (norm = none)
  ScalarStatistics cosine_error;  // |observed last cosine - predicted limit| (non-degenerate)
  double seconds = 0.0;
};

// Runs an ensemble (resolved here); members in order, so any chunking,
// thread count or piece split gives the same statistics.
OversmoothingResult run_oversmoothing(const OversmoothingSpec& spec, const Progress& progress = {});
// Adds a later piece (members [b.member_begin, ...)) into `a` (same spec).
void merge_oversmoothing(OversmoothingResult& a, const OversmoothingResult& b);

}  // namespace attnmc
