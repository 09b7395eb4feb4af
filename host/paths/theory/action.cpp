// The saddle-point action S of design/attention-paths.md section 3 for any
// depth and its analytic gradient. Level l (0-based) is the paper's U_{l+1};
// the readout u_a is carried as a 1 x 1 level L so that the Wishart terms of
// every level share one formula:
//   N_l [tr(Sigma_l^{-1} U_l) - logdet U_l + logdet Sigma_l],
//   Sigma_l = s_{l+1} (I_{H_l} (x) U_{l+1}), tr(Sigma_l^{-1} U_l) = tr(U_{l+1}^{-1} ptr U_l) /
//   s_{l+1}
// (ptr: partial trace over the layer's own head), and the readout's
//   N_a (u_a / s_a - ln u_a).
#include <cmath>
#include <limits>

#include "host/paths/theory/theory_problem.hpp"

namespace attnmc::paths {

using detail::Mat;
using detail::Vec;

OrderParameters gp_point(const PathsTheoryModel& model) {
  const int L = model.depth();
  OrderParameters o;
  double above = model.variances[std::size_t(L) + 1];  // s_a
  o.u_a = above;
  o.u.resize(std::size_t(L));
  for (int l = L - 1; l >= 0; --l) {
    above *= model.variances[std::size_t(l) + 1];
    const int d = model.level_dim(l);
    o.u[std::size_t(l)].assign(std::size_t(d) * d, 0.0);
    for (int i = 0; i < d; ++i) o.u[std::size_t(l)][std::size_t(i) * d + i] = above;
  }
  return o;
}

std::vector<double> gp_u1(const PathsTheoryModel& model) { return gp_point(model).u[0]; }

namespace detail {

// S and, when grad != nullptr, dS/dU, on Eigen matrices (levels 0..L, level L = [u_a]).
double action_levels(const PathsTheoryModel& model, const Problem& pb, const std::vector<Mat>& u,
                     std::vector<Mat>* grad) {
  const int L = model.depth();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<Mat> inv(std::size_t(L) + 1);
  std::vector<double> logdet(std::size_t(L) + 1);
  for (int l = 0; l <= L; ++l) {
    Eigen::LLT<Mat> c(u[std::size_t(l)]);
    if (c.info() != Eigen::Success) return inf;
    double ld = 0.0;
    for (int i = 0; i < u[std::size_t(l)].rows(); ++i) {
      const double d = c.matrixLLT()(i, i);
      if (!(d > 0.0)) return inf;
      ld += 2.0 * std::log(d);
    }
    logdet[std::size_t(l)] = ld;
    inv[std::size_t(l)] =
        c.solve(Mat::Identity(u[std::size_t(l)].rows(), u[std::size_t(l)].rows()));
  }
  const Gp gp(pb, u[0]);
  if (!gp.ok) return inf;
  double s = gp.logdet + pb.y.dot(gp.alpha);

  const double na = double(model.widths[std::size_t(L)]);
  const double sa = model.variances[std::size_t(L) + 1];
  const double ua = u[std::size_t(L)](0, 0);
  s += na * (ua / sa - std::log(ua));
  std::vector<Mat> ptr(static_cast<std::size_t>(L));
  for (int l = 0; l < L; ++l) {
    const double nl = double(model.widths[std::size_t(l)]);
    const double sl = model.variances[std::size_t(l) + 1];
    const int hl = model.heads[std::size_t(l)];
    ptr[std::size_t(l)] = partial_trace(u[std::size_t(l)], hl);
    s += nl * ((inv[std::size_t(l) + 1] * ptr[std::size_t(l)]).trace() / sl -
               logdet[std::size_t(l)] + hl * logdet[std::size_t(l) + 1]);
  }
  if (!grad) return s;

  grad->assign(std::size_t(L) + 1, Mat());
  for (int l = 0; l <= L; ++l)
    (*grad)[std::size_t(l)] = Mat::Zero(u[std::size_t(l)].rows(), u[std::size_t(l)].cols());
  // Data term: dS/dK = (K + T I)^{-1} - alpha alpha^T, then through K = s_0 sum U_1[p,q]
  // G[.,.,p,q].
  {
    Mat m = gp.llt.solve(Mat::Identity(pb.n_train, pb.n_train));
    m.noalias() -= gp.alpha * gp.alpha.transpose();
    const Vec mflat = Eigen::Map<const Vec>(m.data(), m.size());  // symmetric: order irrelevant
    const Vec g = pb.s0 * (pb.g_train.transpose() * mflat);
    for (int p = 0; p < pb.n_paths; ++p)
      for (int q = 0; q < pb.n_paths; ++q) (*grad)[0](p, q) += g(p * pb.n_paths + q);
  }
  (*grad)[std::size_t(L)](0, 0) += na * (1.0 / sa - 1.0 / ua);
  for (int l = 0; l < L; ++l) {
    const double nl = double(model.widths[std::size_t(l)]);
    const double sl = model.variances[std::size_t(l) + 1];
    const int hl = model.heads[std::size_t(l)];
    const Mat& above_inv = inv[std::size_t(l) + 1];
    const int d = int(above_inv.rows());
    Mat& gl = (*grad)[std::size_t(l)];
    gl -= nl * inv[std::size_t(l)];
    for (int k = 0; k < hl; ++k) gl.block(k * d, k * d, d, d) += (nl / sl) * above_inv;
    (*grad)[std::size_t(l) + 1] +=
        nl * (hl * above_inv - above_inv * ptr[std::size_t(l)] * above_inv / sl);
  }
  for (auto& g : *grad) g = 0.5 * (g + g.transpose()).eval();
  return s;
}

}  // namespace detail

double action(const PathsTheoryModel& model, const PathOverlapData& data,
              const OrderParameters& params, OrderParameters* grad) {
  validate(model, data);
  const detail::Problem pb(model, data);
  const int L = model.depth();
  std::vector<Mat> u(std::size_t(L) + 1);
  for (int l = 0; l < L; ++l)
    u[std::size_t(l)] = detail::to_mat(params.u[std::size_t(l)], model.level_dim(l));
  u[std::size_t(L)] = Mat::Constant(1, 1, params.u_a);
  std::vector<Mat> g;
  const double s = detail::action_levels(model, pb, u, grad ? &g : nullptr);
  if (grad && std::isfinite(s)) {
    grad->u.resize(std::size_t(L));
    for (int l = 0; l < L; ++l) grad->u[std::size_t(l)] = detail::to_flat(g[std::size_t(l)]);
    grad->u_a = g[std::size_t(L)](0, 0);
  }
  return s;
}

}  // namespace attnmc::paths
