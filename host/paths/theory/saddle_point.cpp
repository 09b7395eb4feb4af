// The saddle point of S: L-BFGS (LBFGS++, Debian liblbfgspp-dev) in
// log-Cholesky coordinates, so that every iterate is positive definite
// without constraints: U_l = C C^T with C lower triangular, C_ii =
// exp(theta_ii), C_ij = theta_ij (i > j); u_a = exp(theta_a) is kept as a
// variable (its closed form given U_L, section 3, is checked by the tests).
// Started at the GP point. dS/dC = 2 G C for the symmetric gradient G, so
// dS/dtheta_ii = 2 (G C)_ii C_ii and dS/dtheta_ij = 2 (G C)_ij.
#include <LBFGS.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "host/paths/theory/theory_problem.hpp"

namespace attnmc::paths {

using detail::Mat;
using detail::Vec;

namespace {

struct LogCholesky {
  std::vector<int> dims;  // levels 0..L-1 (the readout is the last coordinate)
  int size() const {
    int n = 1;
    for (int d : dims) n += d * (d + 1) / 2;
    return n;
  }
  // theta -> Cholesky factors (levels 0..L, level L = [sqrt(u_a)]).
  std::vector<Mat> factors(const Vec& theta) const {
    std::vector<Mat> c;
    int k = 0;
    for (int d : dims) {
      Mat f = Mat::Zero(d, d);
      for (int i = 0; i < d; ++i)
        for (int j = 0; j <= i; ++j) f(i, j) = (i == j) ? std::exp(theta(k++)) : theta(k++);
      c.push_back(f);
    }
    c.push_back(Mat::Constant(1, 1, std::exp(0.5 * theta(k))));
    return c;
  }
  Vec encode(const std::vector<Mat>& u) const {  // U -> theta (u PD)
    Vec theta(size());
    int k = 0;
    for (std::size_t l = 0; l < dims.size(); ++l) {
      const Mat c = Eigen::LLT<Mat>(u[l]).matrixL();
      for (int i = 0; i < dims[l]; ++i)
        for (int j = 0; j <= i; ++j) theta(k++) = (i == j) ? std::log(c(i, i)) : c(i, j);
    }
    theta(k) = std::log(u.back()(0, 0));
    return theta;
  }
  Vec chain(const std::vector<Mat>& c, const std::vector<Mat>& g) const {  // dS/dU -> dS/dtheta
    Vec out(size());
    int k = 0;
    for (std::size_t l = 0; l < dims.size(); ++l) {
      const Mat gc = 2.0 * g[l] * c[l];
      for (int i = 0; i < dims[l]; ++i)
        for (int j = 0; j <= i; ++j) out(k++) = (i == j) ? gc(i, i) * c[l](i, i) : gc(i, j);
    }
    out(k) = g.back()(0, 0) * c.back()(0, 0) * c.back()(0, 0);  // du_a/dtheta_a = u_a
    return out;
  }
};

std::vector<Mat> squares(const std::vector<Mat>& c) {
  std::vector<Mat> u;
  for (const Mat& f : c) u.push_back(f * f.transpose());
  return u;
}

}  // namespace

SaddlePoint solve_saddle_point(const PathsTheoryModel& model, const PathOverlapData& data,
                               const SaddlePointOptions& options) {
  validate(model, data);
  const detail::Problem pb(model, data);
  const int L = model.depth();
  LogCholesky lc;
  for (int l = 0; l < L; ++l) lc.dims.push_back(model.level_dim(l));

  const OrderParameters gp = gp_point(model);
  std::vector<Mat> u0;
  for (int l = 0; l < L; ++l)
    u0.push_back(detail::to_mat(gp.u[std::size_t(l)], lc.dims[std::size_t(l)]));
  u0.push_back(Mat::Constant(1, 1, gp.u_a));
  Vec theta = lc.encode(u0);

  Vec best_theta = theta;
  double best = std::numeric_limits<double>::infinity();
  SaddlePoint out;
  auto objective = [&](const Vec& x, Vec& grad) {
    ++out.evaluations;
    const std::vector<Mat> c = lc.factors(x);
    std::vector<Mat> g;
    const double s = detail::action_levels(model, pb, squares(c), &g);
    if (!std::isfinite(s)) {
      grad = Vec::Zero(x.size());
      return std::numeric_limits<double>::infinity();
    }
    grad = lc.chain(c, g);
    if (s < best) best = s, best_theta = x;
    return s;
  };

  auto max_grad = [&](const Vec& x, double* norm) {
    std::vector<Mat> g;
    detail::action_levels(model, pb, squares(lc.factors(x)), &g);
    double m = 0.0, n2 = 0.0;
    for (const Mat& gl : g) m = std::max(m, gl.cwiseAbs().maxCoeff()), n2 += gl.squaredNorm();
    if (norm) *norm = std::sqrt(n2);
    return m;
  };
  // L-BFGS stops on its own tolerance; a failed line search (round-off near
  // the optimum) restarts from the best point, a few times at most.
  for (int attempt = 0; attempt < 8; ++attempt) {
    LBFGSpp::LBFGSParam<double> param;
    param.m = 20;
    param.epsilon_rel = 0.0;
    param.past = 0;
    param.max_iterations = std::max(1, options.max_iterations - out.iterations);
    param.max_linesearch = 60;
    param.epsilon = options.gradient_tolerance * 1e-2;
    param.linesearch = LBFGSpp::LBFGS_LINESEARCH_BACKTRACKING_STRONG_WOLFE;
    LBFGSpp::LBFGSSolver<double, LBFGSpp::LineSearchNocedalWright> solver(param);
    double fx = 0.0;
    Vec x = best_theta;
    try {
      out.iterations += solver.minimize(objective, x, fx);
    } catch (const std::exception&) {
      out.iterations += 1;
    }
    const double scale = std::max(1.0, std::abs(best));
    if (max_grad(best_theta, nullptr) <= options.gradient_tolerance * scale) break;
    if (out.iterations >= options.max_iterations) break;
    ++out.restarts;
  }
  const std::vector<Mat> u = squares(lc.factors(best_theta));
  out.action = detail::action_levels(model, pb, u, nullptr);
  out.max_abs_gradient = max_grad(best_theta, &out.gradient_norm);
  out.converged =
      out.max_abs_gradient <= options.gradient_tolerance * std::max(1.0, std::abs(out.action));
  out.params.u.resize(std::size_t(L));
  for (int l = 0; l < L; ++l) out.params.u[std::size_t(l)] = detail::to_flat(u[std::size_t(l)]);
  out.params.u_a = u.back()(0, 0);
  return out;
}

}  // namespace attnmc::paths
