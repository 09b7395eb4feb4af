// Double-precision reference of the shaped Transformer and its unshaped
// comparisons, one network at a time. Every formula is spelled out from
// models.md section 1 rather than shared with the engine.
#include "reference/reference_model.hpp"

#include <algorithm>
#include <cmath>

#include "attnmc/rng.hpp"

namespace attnmc::reference {
namespace {

// Row-major dense matrix.
struct Matrix {
  int rows = 0, cols = 0;
  std::vector<double> v;
  Matrix(int r, int c) : rows(r), cols(c), v(std::size_t(r) * c, 0.0) {}
  double& operator()(int i, int j) { return v[std::size_t(i) * cols + j]; }
  double operator()(int i, int j) const { return v[std::size_t(i) * cols + j]; }
};

Matrix multiply(const Matrix& a, const Matrix& b) {
  Matrix c(a.rows, b.cols);
  for (int i = 0; i < a.rows; ++i)
    for (int k = 0; k < a.cols; ++k) {
      const double aik = a(i, k);
      for (int j = 0; j < b.cols; ++j) c(i, j) += aik * b(k, j);
    }
  return c;
}

// rows x cols i.i.d. N(0, 1) weights of one matrix slot: element (i, j) is
// draw i * cols + j of the stream (seed, weights, member, layer, slot).
Matrix gaussian_weights(const RunSpec& spec, std::uint64_t member, int layer, std::uint32_t slot,
                        int rows, int cols) {
  const rng::StreamKey key = rng::make_key(spec.seed, rng::Purpose::weights, std::uint32_t(member),
                                           std::uint32_t(layer), slot);
  Matrix w(rows, cols);
  for (std::size_t e = 0; e < w.v.size(); ++e) w.v[e] = rng::gaussian_d(key, e);
  return w;
}

Matrix gram(const Matrix& x) {
  Matrix g(x.rows, x.rows);
  for (int a = 0; a < x.rows; ++a)
    for (int b = 0; b < x.rows; ++b) {
      double s = 0;
      for (int i = 0; i < x.cols; ++i) s += x(a, i) * x(b, i);
      g(a, b) = s / x.cols;
    }
  return g;
}

// One attention block: lambda X + gamma/sqrt(H) sum_h A_h Xin W_V^h / sqrt(n).
Matrix attention_block(const RunSpec& spec, std::uint64_t member, int layer, const Matrix& x) {
  const ModelSpec& s = spec.model;
  const int m = s.tokens, n = s.width, nk = s.head_dim;
  const bool shaped = s.attention == AttentionKind::shaped;
  Matrix xin = x;
  if (s.pre_norm)
    for (int a = 0; a < m; ++a) normalise(s, &xin(a, 0), n);
  const double tau = shaped ? s.tau0 * std::sqrt(double(n) * nk) : s.tau0 * std::sqrt(double(nk));
  Matrix branch(m, n);
  for (int h = 0; h < s.heads; ++h) {
    const Matrix q = multiply(
        xin, gaussian_weights(spec, member, layer, rng::slot_of(h, rng::Matrix::query), n, nk));
    const Matrix k = multiply(
        xin, gaussian_weights(spec, member, layer, rng::slot_of(h, rng::Matrix::key), n, nk));
    const Matrix xv = multiply(
        xin, gaussian_weights(spec, member, layer, rng::slot_of(h, rng::Matrix::value), n, n));
    Matrix attn(m, m);
    std::vector<double> y(m);
    for (int a = 0; a < m; ++a) {
      for (int b = 0; b < m; ++b) {
        double dot = 0;
        for (int i = 0; i < nk; ++i) dot += q(a, i) * k(b, i);
        y[b] = dot / (n * tau);  // Y = Q K^T / n, then / tau
      }
      attention_row(y.data(), m, shaped, a, &attn(a, 0));
    }
    const Matrix head = multiply(attn, xv);
    for (std::size_t e = 0; e < branch.v.size(); ++e) branch.v[e] += head.v[e];
  }
  Matrix out(m, n);
  const double scale = s.gamma / std::sqrt(double(s.heads)) / std::sqrt(double(n));
  for (std::size_t e = 0; e < out.v.size(); ++e) out.v[e] = s.lambda * x.v[e] + scale * branch.v[e];
  return out;
}

// Shaped ReLU MLP block: lambda X + gamma sqrt(c/n) sigma_s(X W_pre / sqrt(n)) W_post.
Matrix mlp_block(const RunSpec& spec, std::uint64_t member, int layer, const Matrix& x) {
  const ModelSpec& s = spec.model;
  const int n = s.width;
  const double s_plus = 1.0 + s.c_plus / std::sqrt(double(n));
  const double s_minus = 1.0 + s.c_minus / std::sqrt(double(n));
  const double c = 2.0 / (s_plus * s_plus + s_minus * s_minus);
  Matrix hidden = multiply(
      x, gaussian_weights(spec, member, layer, rng::slot_of(0, rng::Matrix::mlp_pre), n, n));
  for (double& v : hidden.v) {
    v /= std::sqrt(double(n));
    v = v > 0 ? s_plus * v : s_minus * v;
  }
  const Matrix post = multiply(
      hidden, gaussian_weights(spec, member, layer, rng::slot_of(0, rng::Matrix::mlp_post), n, n));
  Matrix out = x;
  const double scale = s.gamma * std::sqrt(c / n);
  for (std::size_t e = 0; e < out.v.size(); ++e) out.v[e] = s.lambda * x.v[e] + scale * post.v[e];
  return out;
}

}  // namespace

void attention_row(const double* y, int m, bool shaped, int row, double* out) {
  // Centred form: d_b = expm1(y_b - max) keeps the small deviation from
  // uniform at full relative precision; softmax_b - 1/m = (d_b - mean d) / (m + sum d).
  const double mx = *std::max_element(y, y + m);
  std::vector<double> d(m);
  double sum = 0;
  for (int b = 0; b < m; ++b) sum += d[b] = std::expm1(y[b] - mx);
  for (int b = 0; b < m; ++b) {
    if (shaped)
      out[b] = (d[b] - sum / m) / (m + sum) + (b == row ? 1.0 : 0.0);
    else
      out[b] = (1.0 + d[b]) / (m + sum);
  }
}

void rms_normalise(double* x, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += x[i] * x[i];
  if (s == 0) return;
  const double inv = 1.0 / std::sqrt(s / n);
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

void layer_normalise(double* x, int n, double eps) {
  double mean = 0;
  for (int i = 0; i < n; ++i) mean += x[i];
  mean /= n;
  double var = 0;
  for (int i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  const double inv = 1.0 / std::sqrt(var / n + eps);
  for (int i = 0; i < n; ++i) x[i] = (x[i] - mean) * inv;
}

void normalise(const ModelSpec& s, double* x, int n) {
  if (s.norm_kind == NormKind::layer)
    layer_normalise(x, n, s.norm_eps);
  else
    rms_normalise(x, n);
}

std::vector<double> direct_grams(const RunSpec& spec, std::uint64_t member) {
  const ModelSpec& s = spec.model;
  Matrix x(s.tokens, s.width);
  x.v = initial_tokens(spec.input, s);
  std::vector<double> out;
  std::size_t next = 0;
  auto record = [&](int layer) {
    if (next < spec.record_layers.size() && spec.record_layers[next] == layer) {
      const Matrix g = gram(x);
      out.insert(out.end(), g.v.begin(), g.v.end());
      ++next;
    }
  };
  record(0);
  for (int layer = 1; layer <= s.depth; ++layer) {
    x = attention_block(spec, member, layer, x);
    if (s.post_norm)
      for (int a = 0; a < s.tokens; ++a) normalise(s, &x(a, 0), s.width);
    if (s.mlp) x = mlp_block(spec, member, layer, x);
    if (s.mlp && s.post_norm)
      for (int a = 0; a < s.tokens; ++a) normalise(s, &x(a, 0), s.width);
    record(layer);
  }
  return out;
}

}  // namespace attnmc::reference
