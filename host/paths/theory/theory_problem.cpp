// Overlap blocks, kernel, GP solve and predictive (see theory_problem.hpp).
#include "host/paths/theory/theory_problem.hpp"

#include <cmath>
#include <string>

#include "attnmc/error.hpp"

namespace attnmc::paths {

int PathsTheoryModel::level_dim(int level) const {
  int d = 1;
  for (int l = level; l < depth(); ++l) d *= heads[std::size_t(l)];
  return d;
}

void validate(const PathsTheoryModel& m, const PathOverlapData& data) {
  if (m.heads.empty()) throw InputError("heads", "at least one attention layer is needed");
  for (std::size_t l = 0; l < m.heads.size(); ++l)
    if (m.heads[l] < 1)
      throw InputError("heads", "layer " + std::to_string(l + 1) + " has no head");
  if (m.widths.size() != m.heads.size() + 1)
    throw InputError("widths", "need N_1..N_L and N_a (" + std::to_string(m.heads.size() + 1) +
                                   " values), got " + std::to_string(m.widths.size()));
  for (long w : m.widths)
    if (w < 1) throw InputError("widths", "every width must be >= 1");
  if (m.variances.size() != m.heads.size() + 2)
    throw InputError("variances", "need s_0, s_1..s_L and s_a (" +
                                      std::to_string(m.heads.size() + 2) + " values)");
  for (double s : m.variances)
    if (!(s > 0.0) || !std::isfinite(s))
      throw InputError("variances", "every prior variance must be positive and finite");
  if (!(m.temperature > 0.0) || !std::isfinite(m.temperature))
    throw InputError("temperature", "must be positive and finite");
  const std::size_t n = std::size_t(data.n_train + data.n_test);
  if (data.n_train < 1) throw InputError("overlaps", "no training sequence");
  if (data.n_paths != m.n_paths())
    throw InputError("overlaps", "n_paths = " + std::to_string(data.n_paths) +
                                     " but the heads make " + std::to_string(m.n_paths()));
  if (data.g.size() != n * n * std::size_t(data.n_paths) * std::size_t(data.n_paths))
    throw InputError("overlaps", "tensor size does not match (n_train + n_test)^2 n_paths^2");
  if (data.y_train.size() != std::size_t(data.n_train))
    throw InputError("labels", "need one training label per training sequence");
  if (!data.y_test.empty() && data.y_test.size() != std::size_t(data.n_test))
    throw InputError("labels", "need one test label per test sequence");
}

namespace detail {

Problem::Problem(const PathsTheoryModel& model, const PathOverlapData& data)
    : n_train(data.n_train),
      n_test(data.n_test),
      n_paths(data.n_paths),
      s0(model.variances[0]),
      temperature(model.temperature) {
  const int n2 = n_paths * n_paths;
  g_train.resize(std::size_t(n_train) * n_train, n2);
  g_cross.resize(std::size_t(n_test) * n_train, n2);
  g_diag.resize(n_test, n2);
  for (int mu = 0; mu < n_train; ++mu)
    for (int nu = 0; nu < n_train; ++nu)
      for (int p = 0; p < n_paths; ++p)
        for (int q = 0; q < n_paths; ++q)
          g_train(mu * n_train + nu, p * n_paths + q) = data.at(mu, nu, p, q);
  for (int t = 0; t < n_test; ++t) {
    for (int nu = 0; nu < n_train; ++nu)
      for (int p = 0; p < n_paths; ++p)
        for (int q = 0; q < n_paths; ++q)
          g_cross(t * n_train + nu, p * n_paths + q) = data.at(n_train + t, nu, p, q);
    for (int p = 0; p < n_paths; ++p)
      for (int q = 0; q < n_paths; ++q)
        g_diag(t, p * n_paths + q) = data.at(n_train + t, n_train + t, p, q);
  }
  y = Eigen::Map<const Vec>(data.y_train.data(), n_train);
  if (!data.y_test.empty()) y_test = Eigen::Map<const Vec>(data.y_test.data(), n_test);
}

namespace {
Vec flat_col(const Mat& u1) {  // entry p * n + q
  const int n = int(u1.rows());
  Vec v(n * n);
  for (int p = 0; p < n; ++p)
    for (int q = 0; q < n; ++q) v(p * n + q) = u1(p, q);
  return v;
}
}  // namespace

Mat Problem::train_kernel(const Mat& u1) const {
  const Vec k = s0 * (g_train * flat_col(u1));
  // Row mu * n_train + nu: reading column-major gives K^T = K (symmetric).
  return Eigen::Map<const Mat>(k.data(), n_train, n_train);
}

Gp::Gp(const Problem& pb, const Mat& u1) {
  Mat k = pb.train_kernel(u1);
  k.diagonal().array() += pb.temperature;
  llt.compute(k);
  if (llt.info() != Eigen::Success) return;
  const auto& l = llt.matrixLLT();
  logdet = 0.0;
  for (int i = 0; i < l.rows(); ++i) {
    if (!(l(i, i) > 0.0)) return;
    logdet += 2.0 * std::log(l(i, i));
  }
  alpha = llt.solve(pb.y);
  ok = std::isfinite(logdet) && alpha.allFinite();
}

void gp_predict(const Problem& pb, const Mat& u1, const Gp& gp, Vec& mean, Vec& variance) {
  const Vec u = flat_col(u1);
  const Vec kc = pb.s0 * (pb.g_cross * u);                                // row t * n_train + nu
  const Mat k = Eigen::Map<const Mat>(kc.data(), pb.n_train, pb.n_test);  // column t = k(x*_t)
  mean = k.transpose() * gp.alpha;
  const Mat half = gp.llt.matrixL().solve(k);  // L^{-1} k
  variance = pb.s0 * (pb.g_diag * u) - half.colwise().squaredNorm().transpose();
}

Mat partial_trace(const Mat& u, int h) {
  const int d = int(u.rows()) / h;
  Mat r = Mat::Zero(d, d);
  for (int k = 0; k < h; ++k) r += u.block(k * d, k * d, d, d);
  return r;
}

Mat to_mat(const std::vector<double>& flat, int d) {
  Mat m(d, d);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j) m(i, j) = flat[std::size_t(i) * d + j];
  return m;
}

std::vector<double> to_flat(const Mat& m) {
  std::vector<double> f(std::size_t(m.rows() * m.cols()));
  for (int i = 0; i < m.rows(); ++i)
    for (int j = 0; j < m.cols(); ++j) f[std::size_t(i) * m.cols() + j] = m(i, j);
  return f;
}

}  // namespace detail
}  // namespace attnmc::paths
