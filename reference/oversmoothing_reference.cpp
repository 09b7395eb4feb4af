// See oversmoothing_reference.hpp. Everything in double, one network at a time.
#include "reference/oversmoothing_reference.hpp"

#include <Eigen/Dense>
#include <cmath>

#include "attnmc/rng.hpp"

namespace attnmc::reference {
namespace {

using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Slots and layer keys as documented in kernels/oversmoothing/oversmoothing_math.hpp.
enum Slot : std::uint32_t {
  lambda_slot = 0,
  u_slot = 1,
  query_slot = 2,
  key_slot = 3,
  a_slot = 4,
  input_slot = 5
};

rng::StreamKey key(const OversmoothingSpec& s, std::uint64_t member, std::uint32_t layer,
                   Slot slot) {
  return rng::make_key(s.seed, rng::Purpose::oversmoothing, std::uint32_t(member), layer, slot);
}

std::uint32_t layer_key(bool fresh, int layer) { return fresh ? std::uint32_t(layer + 1) : 0u; }

Mat to_mat(const std::vector<double>& v, int rows, int cols) {
  return Eigen::Map<const Mat>(v.data(), rows, cols);
}

std::vector<double> eigenvalues_of(const OversmoothingSpec& s, std::uint64_t member,
                                   std::uint32_t lk) {
  const int n = s.width;
  std::vector<double> lam(static_cast<std::size_t>(n));
  const rng::StreamKey k = key(s, member, lk, lambda_slot);
  for (int j = 0; j < n; ++j) {
    switch (s.spectrum) {
      case SpectrumKind::list:
      case SpectrumKind::range:
        lam[j] = s.lambdas[j];
        break;
      case SpectrumKind::uniform: {
        const std::uint32_t word = rng::philox_block(k, std::uint32_t(j) / 4).w[j % 4];
        lam[j] = s.lambda_lo + (s.lambda_hi - s.lambda_lo) * rng::uniform_open_d(word);
        break;
      }
      case SpectrumKind::minus: {
        const double psi = s.psi_scale * rng::gaussian_d(k, std::uint64_t(j));
        lam[j] = std::min(-1e-300, std::max(-1.0, -psi * psi));  // [-1, 0)
        break;
      }
      case SpectrumKind::plus: {
        const double psi = s.psi_scale * rng::gaussian_d(k, std::uint64_t(j));
        lam[j] = psi * psi;
        break;
      }
      case SpectrumKind::file:
        break;
    }
  }
  return lam;
}

// Row-wise LayerNorm / RMS normalisation with gain and bias.
Mat normalise(const OversmoothingSpec& s, const Mat& x, OsFault fault) {
  Mat out(x.rows(), x.cols());
  const int n = int(x.cols());
  for (int k = 0; k < x.rows(); ++k) {
    const double mean = s.norm_kind == NormKind::layer ? x.row(k).mean() : 0.0;
    double var = 0.0;
    for (int p = 0; p < n; ++p) var += (x(k, p) - mean) * (x(k, p) - mean);
    var /= n;
    for (int p = 0; p < n; ++p) {
      const double g = fault == OsFault::gain_ignored ? std::fabs(s.gain[p]) : s.gain[p];
      out(k, p) = g * (x(k, p) - mean) / std::sqrt(var + s.norm_eps) + s.bias;
    }
  }
  return out;
}

Mat softmax_attention(const OversmoothingSpec& s, const Mat& xa, const Mat& wq, const Mat& wk) {
  const Mat logits =
      (xa * wq) * (xa * wk).transpose() / (s.temperature * std::sqrt(double(s.head_dim)));
  Mat a(logits.rows(), logits.cols());
  for (int k = 0; k < logits.rows(); ++k) {
    const double mx = logits.row(k).maxCoeff();
    double total = 0.0;
    for (int q = 0; q < logits.cols(); ++q) total += std::exp(logits(k, q) - mx);
    for (int q = 0; q < logits.cols(); ++q) a(k, q) = std::exp(logits(k, q) - mx) / total;
  }
  return a;
}

Mat projection(const OversmoothingSpec& s, std::uint64_t member, std::uint32_t lk, Slot slot) {
  Mat w(s.width, s.head_dim);
  const rng::StreamKey k = key(s, member, lk, slot);
  for (int i = 0; i < s.width; ++i)
    for (int j = 0; j < s.head_dim; ++j)
      w(i, j) = rng::gaussian_d(k, std::uint64_t(i) * s.head_dim + j) / std::sqrt(double(s.width));
  return w;
}

// The metrics straight from their definitions (models.md section 3).
void metrics_of(const Mat& x, double growth, double* out) {
  const int m = int(x.rows());
  double cos_sum = 0.0;
  for (int k = 0; k < m; ++k)
    for (int q = 0; q < m; ++q)
      if (q != k) cos_sum += x.row(k).dot(x.row(q)) / (x.row(k).norm() * x.row(q).norm());
  const Eigen::RowVectorXd mean = x.colwise().mean();
  const Mat dc = Eigen::VectorXd::Ones(m) * mean;
  const Mat hc = x - dc;
  out[kCosine] = cos_sum / (double(m) * (m - 1));
  out[kNonConstant] = hc.norm() / x.norm();
  out[kHcOverDc] = hc.norm() / dc.norm();
  const Eigen::VectorXd sv = Eigen::JacobiSVD<Mat>(x).singularValues();
  const Eigen::VectorXd p = sv / sv.sum();
  double entropy = 0.0;
  for (int i = 0; i < p.size(); ++i)
    if (p[i] > 0) entropy -= p[i] * std::log(p[i]);
  out[kEffectiveRank] = std::exp(entropy);
  const Mat xh = x / x.norm();
  const Mat lap = double(m) * Mat::Identity(m, m) - Mat::Ones(m, m);
  out[kDirichlet] = (xh.transpose() * lap * xh).trace() / 2.0;
  out[kLogGrowth] = std::log(growth);
}

}  // namespace

std::vector<double> oversmoothing_h(const OversmoothingSpec& s, std::uint64_t member, int layer,
                                    OsFault fault) {
  const int n = s.width;
  Mat h;
  if (s.spectrum == SpectrumKind::file) {
    h = to_mat(s.h_matrix, n, n);
  } else {
    const std::uint32_t lk = layer_key(s.fresh_h, layer);
    std::vector<double> lam = eigenvalues_of(s, member, lk);
    if (fault == OsFault::lambda_sign)
      for (double& v : lam) v = -v;
    const Eigen::VectorXd L = Eigen::Map<const Eigen::VectorXd>(lam.data(), n);
    Mat u(n, n);
    if (s.eigvecs == EigvecKind::file) {
      u = to_mat(s.u_matrix, n, n);
    } else {
      const rng::StreamKey k = key(s, member, lk, u_slot);
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) u(i, j) = rng::gaussian_d(k, std::uint64_t(i) * n + j);
    }
    if (s.eigvecs == EigvecKind::orthogonal && fault != OsFault::qr_raw) {
      // Q of the QR factorisation with R_jj > 0 (unique; Haar for Gaussian input).
      Eigen::HouseholderQR<Mat> qr(u);
      const Mat q = qr.householderQ() * Mat::Identity(n, n);
      const Mat r = qr.matrixQR().triangularView<Eigen::Upper>();
      Mat qs = q;
      for (int j = 0; j < n; ++j)
        if (r(j, j) < 0) qs.col(j) = -q.col(j);
      h = qs * L.asDiagonal() * qs.transpose();
    } else if (s.eigvecs == EigvecKind::orthogonal) {
      h = u * L.asDiagonal() * u.transpose();  // planted: "Q" not orthogonal
    } else {
      h = u * L.asDiagonal() * u.inverse();
    }
  }
  if (fault == OsFault::transpose_h) h.transposeInPlace();
  return std::vector<double>(h.data(), h.data() + h.size());
}

std::vector<double> oversmoothing_fixed_a(const OversmoothingSpec& s, std::uint64_t member) {
  const int m = s.tokens;
  if (s.attention == OsAttentionKind::file) return s.a_matrix;
  Mat logits(m, m);
  const rng::StreamKey k = key(s, member, 0, a_slot);
  for (int i = 0; i < m; ++i)
    for (int j = i; j < m; ++j) {
      const int d = std::abs(i - j);
      const double v = s.attention == OsAttentionKind::random
                           ? s.a_scale * rng::gaussian_d(k, std::uint64_t(i) * m + j)
                           : -s.a_scale * std::min(d, m - d);
      logits(i, j) = logits(j, i) = v;
    }
  std::vector<double> a(std::size_t(m) * m);
  for (int i = 0; i < m; ++i) {
    double total = 0.0;
    for (int j = 0; j < m; ++j) total += std::exp(logits(i, j));
    for (int j = 0; j < m; ++j) a[std::size_t(i) * m + j] = std::exp(logits(i, j)) / total;
  }
  return a;
}

OsReferenceNetwork oversmoothing_network(const OversmoothingSpec& s, std::uint64_t member,
                                         OsFault fault) {
  const int m = s.tokens, n = s.width;
  Mat x(m, n);
  if (s.input == OversmoothInputKind::random) {
    const rng::StreamKey k = key(s, member, 0, input_slot);
    for (int i = 0; i < m; ++i)
      for (int p = 0; p < n; ++p) x(i, p) = rng::gaussian_d(k, std::uint64_t(i) * n + p);
  } else {
    ModelSpec shape;
    shape.tokens = m;
    shape.width = n;
    x = to_mat(initial_tokens(s.given_input, shape), m, n);
  }
  const bool fixed_a = s.attention != OsAttentionKind::softmax;
  Mat a = fixed_a ? to_mat(oversmoothing_fixed_a(s, member), m, m) : Mat();
  Mat h = to_mat(oversmoothing_h(s, member, 0, fault), n, n);
  Mat wq, wk;
  OsReferenceNetwork out;
  out.metrics.assign(s.record_layers.size() * kMetricCount, 0.0);
  double log_norm = std::log(x.norm());
  std::size_t r = 0;
  auto record = [&](int layer, double growth) {
    if (r < s.record_layers.size() && s.record_layers[r] == layer)
      metrics_of(x, growth, out.metrics.data() + kMetricCount * r++);
  };
  if (s.rescaled()) x /= x.norm();
  record(0, 1.0);
  for (int l = 0; l < s.depth; ++l) {
    if (s.fresh_h) h = to_mat(oversmoothing_h(s, member, l, fault), n, n);
    if (!fixed_a && (s.fresh_qk || l == 0)) {
      wq = projection(s, member, layer_key(s.fresh_qk, l), query_slot);
      wk = projection(s, member, layer_key(s.fresh_qk, l), key_slot);
    }
    const double before = x.norm();
    const Mat xa = s.norm == NormPlacement::pre ? normalise(s, x, fault) : x;
    if (!fixed_a) a = softmax_attention(s, xa, wq, wk);
    Mat y = x + a * xa * h;
    if (s.norm == NormPlacement::post) y = normalise(s, y, fault);
    const double growth = y.norm() / before;
    log_norm += std::log(growth);
    x = s.rescaled() ? Mat(y / y.norm()) : y;
    record(l + 1, growth);
  }
  out.tokens.assign(x.data(), x.data() + x.size());
  out.log_norm = log_norm;
  return out;
}

}  // namespace attnmc::reference
