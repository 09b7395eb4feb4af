// Attention paths: the saddle-point theory and the exact width-free
// posterior over order parameters (design/attention-paths.md sections 3, 5).
//
// Everything here is host code in double precision. It works on the path
// overlaps G[mu,nu,p,q] (section 2) of a set of training and test sequences,
// whatever produced them (the Markov-chain task, loaded sequences, or a
// synthetic tensor in a test), for any depth L and heads H_l per layer.
//
// Order parameters, level by level (0-based here, the paper's U_{l+1}):
//   u[l], l = 0..L-1: symmetric D_l x D_l, D_l = H_l H_{l+1} ... H_{L-1},
//                     indexed by (h_l, rest) = h_l * D_{l+1} + rest (paths
//                     packed with the first layer's head most significant);
//   u_a:              the readout scalar.
// u[0] is the paper's U_1 (one row per path); the kernel it renormalises is
//   K_U[mu,nu] = s_0 sum_{p,q} u[0][p,q] G[mu,nu,p,q].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attnmc::paths {

// Overlaps of the path features over train then test sequences:
// g[((mu * n + nu) * n_paths + p) * n_paths + q], n = n_train + n_test.
struct PathOverlapData {
  int n_train = 0;
  int n_test = 0;
  int n_paths = 0;
  std::vector<double> g;
  std::vector<double> y_train;  // training labels (regression targets)
  std::vector<double> y_test;   // test labels (+-1), for accuracy
  double at(int mu, int nu, int p, int q) const {
    const std::size_t n = std::size_t(n_train + n_test);
    return g[((std::size_t(mu) * n + std::size_t(nu)) * std::size_t(n_paths) + std::size_t(p)) *
                 std::size_t(n_paths) +
             std::size_t(q)];
  }
};

// The Bayesian network the order parameters describe.
struct PathsTheoryModel {
  std::vector<int> heads;         // H_1..H_L
  std::vector<long> widths;       // N_1..N_L, then N_a (L + 1 entries)
  std::vector<double> variances;  // s_0, s_1..s_L, s_a (L + 2 entries), prior variances
  double temperature = 0.01;      // likelihood variance Temp
  int depth() const { return int(heads.size()); }
  int level_dim(int level) const;  // D_level (1 for level == L, the readout)
  int n_paths() const { return level_dim(0); }
};

// Throws attnmc::InputError naming the bad field (heads, widths, variances,
// temperature, or the overlap tensor's shape).
void validate(const PathsTheoryModel& model, const PathOverlapData& data);

struct OrderParameters {
  std::vector<std::vector<double>> u;  // u[l]: D_l x D_l, row-major
  double u_a = 1.0;
};

// The Gaussian-process point: U_l = (s_{l+1} ... s_L s_a) I, u_a = s_a; it is
// the saddle point as every width goes to infinity.
OrderParameters gp_point(const PathsTheoryModel& model);

// The action S of section 3 for general L (up to an additive constant):
//   S = logdet(K_U + T I) + y^T (K_U + T I)^{-1} y + N_a (u_a / s_a - ln u_a)
//     + sum_l N_l [tr(Sigma_l^{-1} U_l) - logdet U_l + logdet Sigma_l],
//   Sigma_l = s_{l+1} (I_{H_l} (x) U_{l+1}),  U_L = u_a.
// When `grad` is given it receives dS/dU (symmetric matrices; dS = sum
// tr(grad_l dU_l) + grad_a du_a). Returns +inf when some U is not positive
// definite.
double action(const PathsTheoryModel& model, const PathOverlapData& data,
              const OrderParameters& params, OrderParameters* grad = nullptr);

struct SaddlePointOptions {
  int max_iterations = 5000;
  double gradient_tolerance = 1e-8;  // on max |dS/dU| relative to max(1, |S|)
};

struct SaddlePoint {
  OrderParameters params;
  double action = 0.0;
  double max_abs_gradient = 0.0;  // max |dS/dU| over every entry and u_a, at the answer
  double gradient_norm = 0.0;     // Euclidean norm of dS/dU at the answer
  int iterations = 0;             // L-BFGS iterations (a failed line search counts one)
  int evaluations = 0;            // evaluations of S and its gradient
  int restarts = 0;
  bool converged = false;
};

// Minimises S over positive-definite U in log-Cholesky coordinates
// (U_l = C C^T, C lower triangular with C_ii = exp(theta_ii)), u_a = exp(theta_a)
// kept as a variable, with L-BFGS (LBFGS++), started at the GP point.
SaddlePoint solve_saddle_point(const PathsTheoryModel& model, const PathOverlapData& data,
                               const SaddlePointOptions& options = {});

// The GP predictor with kernel K_U built from u1 (= U_1, n_paths^2 row-major).
struct Prediction {
  std::vector<double> mean;      // on every test sequence
  std::vector<double> variance;  // K_U(x*,x*) - k^T (K_U + T I)^{-1} k
  double test_accuracy = 0.0;    // fraction of sign(mean) == sign(y_test)
  double train_error = 0.0;      // mean squared (mean - y) on the training set
};
Prediction predict(const PathsTheoryModel& model, const PathOverlapData& data,
                   const std::vector<double>& u1);

// The GP limit's U_1 (s_1 ... s_L s_a I) as a flat matrix.
std::vector<double> gp_u1(const PathsTheoryModel& model);

// Head scores (the authors' compute_heads_score): for head h of layer l, the
// sum of |U_1[p,q]| over entries whose row path or column path uses h,
// divided by the largest score over all heads. Pruning head h zeroes the rows
// and columns of U_1 of its paths; accuracy_drop = full - pruned accuracy.
struct HeadScore {
  int layer = 0;  // 0-based
  int head = 0;
  double score = 0.0;
  double pruned_accuracy = 0.0;
  double accuracy_drop = 0.0;
};
std::vector<HeadScore> head_scores(const PathsTheoryModel& model, const PathOverlapData& data,
                                   const std::vector<double>& u1);

// ---------------------------------------------------------------- exact posterior
// p(U | y) proportional to N(y; 0, K_{U_1} + T I) p_chain(U): the Wishart
// chain of section 5, exact at every width. Sampled in Bartlett coordinates
// (see host/paths/theory/wishart_chain.hpp): a bounded number of latent
// variables whatever N is, PSD matrices by construction, singular Wisharts
// (N_l < dimension) included.
struct PosteriorOptions {
  std::uint64_t seed = 1;
  int chains = 64;
  int burn_in = 2000;  // steps per chain, the first half adapting the proposal
  int steps = 4000;    // kept steps per chain after burn-in
  int thin = 10;       // evaluate the test predictor every `thin` kept steps
  int threads = 0;     // OpenMP threads over chains (0: the default); results do not depend on it
  int planted_df_shift = 0;  // testing only: adds to every Wishart's degrees of freedom
};

struct PosteriorResult {
  // Posterior mean and second moment of f(x*) per test sequence (Rao-Blackwellised:
  // the GP predictive given U_1 averaged over the chain), with standard errors
  // from the spread of the per-chain means.
  std::vector<double> f_mean, f_mean_se;
  std::vector<double> f_second, f_second_se;
  double test_accuracy = 0.0;  // sign of the posterior mean against y_test
  OrderParameters u_mean;      // posterior mean of every U
  OrderParameters u_mean_se;
  double acceptance = 0.0;  // Metropolis acceptance rate after burn-in
  double max_rhat = 1.0;  // largest Gelman-Rubin R-hat over the entries of every U (near 1: mixed)
  double ess = 0.0;       // importance sampling only: effective sample size (sum w)^2 / sum w^2
  int latent_dim = 0;     // number of Bartlett variables sampled
  std::uint64_t likelihood_evaluations = 0;
  double seconds = 0.0;
};

PosteriorResult sample_posterior(const PathsTheoryModel& model, const PathOverlapData& data,
                                 const PosteriorOptions& options = {});

// The same posterior by importance sampling: exact draws from the Wishart
// chain (the prior) weighted by the likelihood, self-normalised, with
// delta-method standard errors and the effective sample size. Sound only
// where the ESS is large (few, noisy training points, small N); the caller
// checks result.ess. Keyed by (seed, sample): the same bits for any threads.
struct ImportanceOptions {
  std::uint64_t seed = 1;
  std::uint32_t samples = 100000;
  int threads = 0;
  int planted_df_shift = 0;  // testing only
};
PosteriorResult importance_posterior(const PathsTheoryModel& model, const PathOverlapData& data,
                                     const ImportanceOptions& options);

}  // namespace attnmc::paths
