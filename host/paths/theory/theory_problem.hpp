// The pieces of the overlap tensor the theory and the posterior use, as Eigen
// matrices, and the linear algebra they share (kernel, likelihood, GP
// predictive). Internal to host/paths/theory/.
#pragma once

#include <Eigen/Dense>
#include <vector>

#include "attnmc/paths_theory.hpp"

namespace attnmc::paths::detail {

using Mat = Eigen::MatrixXd;
using Vec = Eigen::VectorXd;

struct Problem {
  int n_train = 0, n_test = 0, n_paths = 0;
  double s0 = 1.0, temperature = 1.0;
  Mat g_train;  // (n_train^2) x (n_paths^2): row mu * n_train + nu, column p * n_paths + q
  Mat g_cross;  // (n_test * n_train) x (n_paths^2): row t * n_train + nu
  Mat g_diag;   // n_test x (n_paths^2): G[t, t, ., .]
  Vec y;        // training targets
  Vec y_test;
  Problem(const PathsTheoryModel& model, const PathOverlapData& data);

  // K_U on the training set (n_train x n_train) for U_1 = u1.
  Mat train_kernel(const Mat& u1) const;
};

// Cholesky of K + T I and alpha = (K + T I)^{-1} y; false when not PD.
struct Gp {
  Eigen::LLT<Mat> llt;
  Vec alpha;
  double logdet = 0.0;
  bool ok = false;
  Gp(const Problem& pb, const Mat& u1);
  // log N(y; 0, K + T I) without the constant -P/2 ln(2 pi).
  double log_likelihood(const Problem& pb) const { return -0.5 * (logdet + pb.y.dot(alpha)); }
};

// GP predictive mean and variance on every test sequence for U_1 = u1.
void gp_predict(const Problem& pb, const Mat& u1, const Gp& gp, Vec& mean, Vec& variance);

// Partial trace over the first (outer) factor of size h: U is (h d) x (h d).
Mat partial_trace(const Mat& u, int h);

Mat to_mat(const std::vector<double>& flat, int d);
std::vector<double> to_flat(const Mat& m);

}  // namespace attnmc::paths::detail

namespace attnmc::paths::detail {
// S and dS/dU on levels 0..L (level L = the 1 x 1 matrix [u_a]); +inf when
// some level is not positive definite.
double action_levels(const PathsTheoryModel& model, const Problem& pb, const std::vector<Mat>& u,
                     std::vector<Mat>* grad);
}  // namespace attnmc::paths::detail
