// Attention matrices, path mixing, path features and the overlaps G and
// K_GP in closed form (double; include/attnmc/paths.hpp). Eigen does the
// small dense products; sequences run in parallel (each writes its own rows).
#include <Eigen/Dense>
#include <cmath>

#include "attnmc/error.hpp"
#include "attnmc/paths.hpp"

namespace attnmc {

namespace {

using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapC = Eigen::Map<const Mat>;

// Omega (C x C, [s, t]) from X (N_in x C) and W (N_in x N_in): softmax over s.
Mat softmax_attention(const MapC& X, const MapC& W) {
  Mat logits = X.transpose() * (W * X);
  for (Eigen::Index t = 0; t < logits.cols(); ++t) {
    const double top = logits.col(t).maxCoeff();
    double sum = 0;
    for (Eigen::Index s = 0; s < logits.rows(); ++s) {
      logits(s, t) = std::exp(logits(s, t) - top);
      sum += logits(s, t);
    }
    logits.col(t) /= sum;
  }
  return logits;
}

Eigen::VectorXd readout_vector(ReadoutToken r, int columns) {
  Eigen::VectorXd v = Eigen::VectorXd::Zero(columns);
  if (r == ReadoutToken::last) v(columns - 1) = 1.0;
  if (r == ReadoutToken::first) v(0) = 1.0;
  if (r == ReadoutToken::mean) v.setConstant(1.0 / columns);
  return v;
}

// pi_p for every path of one sequence, paths x C, built from the last layer
// down: R_L = Omega^{L,h} r, R_l = Omega^{l,h} R_{l+1} over the heads.
Mat mixing(const PathsSpec& spec, const PathsTask& task, int mu) {
  const int C = task.columns, L = spec.layers();
  const MapC X(task.sequence(mu), task.n_in, C);
  std::vector<std::vector<Mat>> omega(static_cast<std::size_t>(L));
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < spec.heads_in(l); ++h)
      omega[std::size_t(l)].push_back(softmax_attention(
          X, MapC(task.w[std::size_t(l)][std::size_t(h)].data(), task.n_in, task.n_in)));
  // rows: suffix paths (h_l, ..., h_L) packed with h_l most significant
  Mat rows(1, C);
  rows.row(0) = readout_vector(spec.readout, C).transpose();
  for (int l = L - 1; l >= 0; --l) {
    const int H = spec.heads_in(l);
    Mat next(rows.rows() * H, C);
    for (int h = 0; h < H; ++h)
      for (Eigen::Index r = 0; r < rows.rows(); ++r)
        next.row(h * rows.rows() + r) =
            (omega[std::size_t(l)][std::size_t(h)] * rows.row(r).transpose()).transpose();
    rows = std::move(next);
  }
  return rows;
}

}  // namespace

std::vector<double> attention_matrix(const PathsTask& task, int layer, int head, int mu) {
  const MapC X(task.sequence(mu), task.n_in, task.columns);
  const Mat o = softmax_attention(
      X, MapC(task.w[std::size_t(layer)][std::size_t(head)].data(), task.n_in, task.n_in));
  return std::vector<double>(o.data(), o.data() + o.size());
}

std::vector<double> path_mixing(const PathsSpec& spec, const PathsTask& task, int mu) {
  const Mat m = mixing(spec, task, mu);
  return std::vector<double>(m.data(), m.data() + m.size());
}

std::vector<double> path_features(const PathsSpec& spec, const PathsTask& task) {
  const int M = task.sequences(), Pp = spec.paths(), n = task.n_in, C = task.columns;
  std::vector<double> xi(std::size_t(M) * Pp * n);
#pragma omp parallel for schedule(dynamic)
  for (int mu = 0; mu < M; ++mu) {
    const Mat pi = mixing(spec, task, mu);  // Pp x C
    const MapC X(task.sequence(mu), n, C);
    Eigen::Map<Mat> out(xi.data() + std::size_t(mu) * Pp * n, Pp, n);
    out = pi * X.transpose();
  }
  return xi;
}

std::vector<double> path_overlaps_from_features(const PathsSpec& spec, int n_in,
                                                const std::vector<double>& xi, int sequences) {
  const int Pp = spec.paths(), n = n_in;
  const std::size_t M = std::size_t(sequences);
  if (xi.size() < M * Pp * std::size_t(n)) throw Error("path_overlaps: too few features");
  double norm = n;
  for (int l = 0; l < spec.layers(); ++l) norm *= spec.heads_in(l);
  const Eigen::Map<const Mat> F(xi.data(), Eigen::Index(M * Pp), n);  // rows (mu, p)
  const Mat gram = (F * F.transpose()) / norm;                        // (mu,p) x (nu,q)
  std::vector<double> G(M * M * Pp * Pp);
  for (std::size_t mu = 0; mu < M; ++mu)
    for (std::size_t nu = 0; nu < M; ++nu)
      for (int p = 0; p < Pp; ++p)
        for (int q = 0; q < Pp; ++q)
          G[((mu * M + nu) * Pp + std::size_t(p)) * Pp + std::size_t(q)] =
              gram(Eigen::Index(mu * Pp + p), Eigen::Index(nu * Pp + q));
  return G;
}

std::vector<double> path_overlaps(const PathsSpec& spec, const PathsTask& task, int sequences) {
  if (sequences < 1 || sequences > task.sequences())
    throw Error("path_overlaps: sequences out of range");
  return path_overlaps_from_features(spec, task.n_in, path_features(spec, task), sequences);
}

std::vector<double> path_overlaps(const PathsSpec& spec, const PathsTask& task) {
  return path_overlaps(spec, task, task.sequences());
}

double prior_scale(const PathsSpec& spec) {
  double s = 1;
  for (double v : spec.variances) s *= v;
  return s;
}

std::vector<double> gp_kernel(const PathsSpec& spec, const std::vector<double>& G, int sequences) {
  const std::size_t M = std::size_t(sequences), Pp = std::size_t(spec.paths());
  if (G.size() != M * M * Pp * Pp) throw Error("gp_kernel: G has the wrong size");
  const double scale = prior_scale(spec);
  std::vector<double> K(M * M, 0.0);
  for (std::size_t i = 0; i < M * M; ++i) {
    double k = 0;
    for (std::size_t p = 0; p < Pp; ++p) k += G[(i * Pp + p) * Pp + p];
    K[i] = scale * k;
  }
  return K;
}

std::vector<double> gp_kernel_from_features(const PathsSpec& spec, int n_in,
                                            const std::vector<double>& xi, int sequences) {
  const int Pp = spec.paths();
  const std::size_t M = std::size_t(sequences);
  if (xi.size() < M * Pp * std::size_t(n_in))
    throw Error("gp_kernel_from_features: too few features");
  double norm = n_in;
  for (int l = 0; l < spec.layers(); ++l) norm *= spec.heads_in(l);
  Mat K = Mat::Zero(Eigen::Index(M), Eigen::Index(M));
  for (int p = 0; p < Pp; ++p) {
    // rows mu of Xi_p: stride Pp * n_in
    const Eigen::Map<const Mat, 0, Eigen::OuterStride<>> X(
        xi.data() + std::size_t(p) * n_in, Eigen::Index(M), n_in,
        Eigen::OuterStride<>(Eigen::Index(Pp) * n_in));
    K.noalias() += X * X.transpose();
  }
  K *= prior_scale(spec) / norm;
  return std::vector<double>(K.data(), K.data() + K.size());
}

}  // namespace attnmc
