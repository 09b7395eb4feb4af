// The eigenvalue prediction of models.md section 3, per network, on the
// host in double precision (Eigen's real Schur based EigenSolver; H and A
// are rebuilt from their keys by the same functions the kernels use, so no
// per-network matrix leaves the device). For fixed A and H,
//   vec(X_{l+1}) = (I + H^T (x) A) vec(X_l),
// whose eigenvalues are 1 + a_i h_j with eigenvectors w_j (x) v_i (v_i of A,
// w_j of H^T): X_l = sum c_ij (1 + a_i h_j)^l v_i w_j^T. The pair with the
// largest |1 + a_i h_j| wins: rows of X_l become proportional to v_i.
#include <Eigen/Dense>
#include <cmath>
#include <complex>
#include <limits>

#include "attnmc/oversmoothing.hpp"
#include "host/oversmoothing/oversmoothing_inputs.hpp"

namespace attnmc {

std::vector<double> oversmoothing_h(const OversmoothingSpec& s, std::uint64_t member, int layer) {
  const kernels::OsCoefficients c = os_coefficients(s);
  const OsHostInputs inputs(s);
  std::vector<double> scratch(kernels::os_h_scratch_doubles(s.width));
  std::vector<double> h(std::size_t(s.width) * s.width);
  const std::uint32_t key = kernels::os_layer_key(s.fresh_h, layer);
  if (!kernels::os_build_h(c, inputs.view(), s.seed, std::uint32_t(member), key, scratch.data(),
                           h.data()))
    h.assign(h.size(), std::numeric_limits<double>::quiet_NaN());
  return h;
}

std::vector<double> oversmoothing_a(const OversmoothingSpec& s, std::uint64_t member) {
  const kernels::OsCoefficients c = os_coefficients(s);
  const OsHostInputs inputs(s);
  std::vector<double> a(std::size_t(s.tokens) * s.tokens);
  kernels::os_fixed_a(c, inputs.view(), s.seed, std::uint32_t(member), a.data());
  return a;
}

Prediction predict_from(const std::vector<double>& a_rows, const std::vector<double>& h_rows, int m,
                        int n) {
  using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Mat A = Eigen::Map<const Mat>(a_rows.data(), m, m);
  const Mat H = Eigen::Map<const Mat>(h_rows.data(), n, n);
  Prediction p;
  if (!A.allFinite() || !H.allFinite()) {
    p.dominant = std::numeric_limits<double>::quiet_NaN();
    p.limit_cosine = p.dominant;
    return p;
  }
  Eigen::EigenSolver<Eigen::MatrixXd> ea(A, true);
  Eigen::VectorXcd hv;
  if ((H - H.transpose()).cwiseAbs().maxCoeff() <= 1e-12 * (1.0 + H.cwiseAbs().maxCoeff())) {
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eh(H, Eigen::EigenvaluesOnly);
    hv = eh.eigenvalues().cast<std::complex<double>>();
  } else {
    Eigen::EigenSolver<Eigen::MatrixXd> eh(H, false);
    hv = eh.eigenvalues();
  }
  const Eigen::VectorXcd av = ea.eigenvalues();
  // Per A mode, the largest |1 + a_i h_j| over H.
  std::vector<double> best(std::size_t(m), 0.0);
  std::vector<int> best_j(std::size_t(m), 0);
  double top = -1.0;
  int top_i = 0;
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      const double g = std::abs(1.0 + av[i] * hv[j]);
      if (g > best[i]) best[i] = g, best_j[i] = j;
    }
    if (best[i] > top) top = best[i], top_i = i;
  }
  p.dominant = top;
  p.a_re = av[top_i].real();
  p.a_im = av[top_i].imag();
  p.h_re = hv[best_j[top_i]].real();
  p.h_im = hv[best_j[top_i]].imag();
  // The DC mode: eigenvalue 1 with a constant eigenvector.
  auto is_dc = [&](int i) {
    if (std::abs(av[i] - 1.0) > 1e-8) return false;
    const Eigen::VectorXcd v = ea.eigenvectors().col(i);
    const std::complex<double> mean = v.mean();
    return std::abs(mean) > 0 && (v.array() - mean).abs().maxCoeff() <= 1e-6 * std::abs(mean);
  };
  std::vector<int> winners;
  for (int i = 0; i < m; ++i)
    if (best[i] >= top * (1.0 - 1e-9)) winners.push_back(i);
  p.dc = winners.size() == 1 && is_dc(winners[0]);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  p.limit_cosine = nan;
  if (p.dc) {
    p.regime = Regime::smoothing;
    p.limit_cosine = 1.0;
  } else if (winners.size() == 1 && std::abs(av[winners[0]].imag()) <= 1e-12) {
    p.regime = Regime::sharpening;
    // Rows proportional to v_k: cosines sign(v_k v_k'), a token with v_k = 0 has none.
    const Eigen::VectorXd v = ea.eigenvectors().col(winners[0]).real();
    const double scale = v.cwiseAbs().maxCoeff();
    double sum = 0.0;
    bool zero = false;
    for (int k = 0; k < m; ++k) {
      zero = zero || std::fabs(v[k]) <= 1e-9 * scale;
      sum += v[k] > 0 ? 1.0 : -1.0;
    }
    p.limit_cosine = zero ? nan : (sum * sum - m) / (double(m) * (m - 1));
  } else if (winners.size() == 2 && std::abs(av[winners[0]].imag()) > 1e-12 &&
             std::abs(av[winners[0]] - std::conj(av[winners[1]])) <= 1e-9) {
    p.regime = Regime::oscillating;
  } else {
    p.regime = Regime::other;
    p.degenerate = true;
  }
  return p;
}

Prediction predict_oversmoothing(const OversmoothingSpec& s, std::uint64_t member) {
  std::vector<double> a = oversmoothing_a(s, member);
  std::vector<double> h = oversmoothing_h(s, member, 0);
  if (s.norm == NormPlacement::pre) {
    // LN_g(X) H = LN_1(X) diag(g) H (+ bias terms): the branch sees diag(g) H.
    const int n = s.width;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) h[std::size_t(i) * n + j] *= s.gain[i];
  }
  return predict_from(a, h, s.tokens, s.width);
}

}  // namespace attnmc
