// The exact chain spelled out with whole matrices: one function per block,
// each a direct transcription of the identities in
// shared/design/reduced-sampler.md (see kernels/exact_chain.hpp for the
// derivation of the multi-head value path and the MLP).
#include "reference/reference_exact.hpp"

#include <cmath>

#include "attnmc/rng.hpp"
#include "kernels/chi_square.hpp"
#include "kernels/exact_chain.hpp"
#include "kernels/model_coefficients.hpp"
#include "reference/reference_model.hpp"

namespace attnmc::reference {
namespace {

using kernels::ChainSlot;

struct Mat {
  int rows = 0, cols = 0;
  std::vector<double> v;
  Mat(int r, int c) : rows(r), cols(c), v(std::size_t(r) * c, 0.0) {}
  double& operator()(int i, int j) { return v[std::size_t(i) * cols + j]; }
  double operator()(int i, int j) const { return v[std::size_t(i) * cols + j]; }
};

Mat mul(const Mat& a, const Mat& b) {
  Mat c(a.rows, b.cols);
  for (int i = 0; i < a.rows; ++i)
    for (int k = 0; k < a.cols; ++k)
      for (int j = 0; j < b.cols; ++j) c(i, j) += a(i, k) * b(k, j);
  return c;
}

Mat transpose(const Mat& a) {
  Mat t(a.cols, a.rows);
  for (int i = 0; i < a.rows; ++i)
    for (int j = 0; j < a.cols; ++j) t(j, i) = a(i, j);
  return t;
}

// [a, b] side by side.
Mat hcat(const Mat& a, const Mat& b) {
  Mat c(a.rows, a.cols + b.cols);
  for (int i = 0; i < a.rows; ++i) {
    for (int j = 0; j < a.cols; ++j) c(i, j) = a(i, j);
    for (int j = 0; j < b.cols; ++j) c(i, a.cols + j) = b(i, j);
  }
  return c;
}

Mat factor(const Mat& a) {
  Mat l(a.rows, a.rows);
  l.v = gram_schmidt_factor(a.v, a.rows, a.cols);
  return l;
}

rng::StreamKey key(const RunSpec& spec, std::uint64_t member, int layer, std::uint32_t slot) {
  return rng::make_key(spec.seed, rng::Purpose::exact_chain, std::uint32_t(member),
                       std::uint32_t(layer), slot);
}

Mat gaussians(const rng::StreamKey& k, int rows, int cols) {
  Mat g(rows, cols);
  for (std::size_t e = 0; e < g.v.size(); ++e) g.v[e] = rng::gaussian_d(k, e);
  return g;
}

// rows x p Bartlett factor: N(0,1) below the diagonal, sqrt(chi^2(dof0 - i)) on it.
Mat bartlett(const rng::StreamKey& gauss, const rng::StreamKey& chi, int rows, int p, double dof0) {
  Mat r(rows, p);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < p && j <= i; ++j)
      r(i, j) = j < i ? rng::gaussian_d(gauss, std::uint64_t(i) * p + j)
                      : std::sqrt(kernels::chi_square_draw(chi, std::uint32_t(i), dof0 - i));
  return r;
}

// [base, s L R] refactored, R the Bartlett factor of the (n - m)-dim complement.
Mat refactor_with_complement(const RunSpec& spec, std::uint64_t member, int layer, const Mat& base,
                             const Mat& l, double s, ChainSlot gauss, ChainSlot chi) {
  const int m = base.rows, rest = spec.model.width - m;
  const int pc = std::min(m, rest);
  if (pc == 0) return factor(base);
  Mat t = mul(l, bartlett(key(spec, member, layer, kernels::layer_slot(gauss)),
                          key(spec, member, layer, kernels::layer_slot(chi)), m, pc, rest));
  for (double& x : t.v) x *= s;
  return factor(hcat(base, t));
}

Mat attention_block(const RunSpec& spec, const kernels::ModelCoefficients& p, std::uint64_t member,
                    int layer, const Mat& c) {
  const int m = p.m, pk = std::min(p.m, p.head_dim);
  Mat xin = c;
  if (p.pre_norm)
    for (int a = 0; a < m; ++a) {
      double s = 0;
      for (int j = 0; j < m; ++j) s += c(a, j) * c(a, j);
      const double inv = s > 0 ? 1.0 / std::sqrt(s / p.n) : 0.0;
      for (int j = 0; j < m; ++j) xin(a, j) *= inv;
    }
  Mat base = c;
  for (double& x : base.v) x *= p.lambda;
  Mat f_all(m, 0);
  for (int h = 0; h < p.heads; ++h) {
    auto k = [&](ChainSlot s) { return key(spec, member, layer, kernels::head_slot(h, s)); };
    // Identity 3: Z_Q Z_K^T ~ G R_K^T.
    const Mat g = gaussians(k(ChainSlot::logit_gauss), m, pk);
    const Mat rk = bartlett(k(ChainSlot::key_gauss), k(ChainSlot::key_chi), m, pk, p.head_dim);
    const Mat y = mul(mul(xin, mul(g, transpose(rk))), transpose(xin));
    Mat attn(m, m);
    std::vector<double> row(m);
    for (int a = 0; a < m; ++a) {
      for (int b = 0; b < m; ++b) row[b] = y(a, b) * p.logit_scale;
      attention_row(row.data(), m, p.shaped, a, &attn(a, 0));
    }
    const Mat f = mul(attn, xin);
    const Mat fm = mul(f, gaussians(k(ChainSlot::value_proj), m, m));
    for (std::size_t e = 0; e < base.v.size(); ++e) base.v[e] += p.attn_scale * fm.v[e];
    f_all = hcat(f_all, f);
  }
  return refactor_with_complement(spec, member, layer, base, factor(f_all), p.attn_scale,
                                  ChainSlot::value_gauss, ChainSlot::value_chi);
}

Mat mlp_block(const RunSpec& spec, const kernels::ModelCoefficients& p, std::uint64_t member,
              int layer, const Mat& c) {
  const int m = p.m, n = p.n;
  // Hidden pre-activations: column k is C z_k, z_k the k-th m-block of the stream.
  const Mat z = transpose(
      gaussians(key(spec, member, layer, kernels::layer_slot(ChainSlot::mlp_hidden)), n, m));
  Mat hidden = mul(c, z);
  for (double& x : hidden.v) {
    x *= p.mlp_in_scale;
    x = x > 0 ? p.s_plus * x : p.s_minus * x;
  }
  const Mat lh = factor(hidden);
  Mat base =
      mul(lh, gaussians(key(spec, member, layer, kernels::layer_slot(ChainSlot::mlp_proj)), m, m));
  for (std::size_t e = 0; e < base.v.size(); ++e)
    base.v[e] = p.lambda * c.v[e] + p.mlp_out_scale * base.v[e];
  return refactor_with_complement(spec, member, layer, base, lh, p.mlp_out_scale,
                                  ChainSlot::mlp_gauss, ChainSlot::mlp_chi);
}

}  // namespace

std::vector<double> gram_schmidt_factor(const std::vector<double>& a, int rows, int cols) {
  std::vector<double> l(std::size_t(rows) * rows, 0.0);
  std::vector<std::vector<double>> q;  // orthonormal rows found so far, with their row index
  std::vector<int> q_index;
  for (int i = 0; i < rows; ++i) {
    std::vector<double> v(a.begin() + std::size_t(i) * cols, a.begin() + std::size_t(i + 1) * cols);
    for (std::size_t t = 0; t < q.size(); ++t) {
      double dot = 0;
      for (int j = 0; j < cols; ++j) dot += v[j] * q[t][j];
      l[std::size_t(i) * rows + q_index[t]] = dot;
      for (int j = 0; j < cols; ++j) v[j] -= dot * q[t][j];
    }
    double norm = 0;
    for (double x : v) norm += x * x;
    norm = std::sqrt(norm);
    l[std::size_t(i) * rows + i] = norm;
    if (norm > 0) {
      for (double& x : v) x /= norm;
      q.push_back(v);
      q_index.push_back(i);
    }
  }
  return l;
}

std::vector<double> exact_grams(const RunSpec& spec, std::uint64_t member) {
  const kernels::ModelCoefficients p = kernels::coefficients_of(spec.model);
  const int m = p.m;
  Mat c = factor([&] {
    Mat x0(m, p.n);
    x0.v = initial_tokens(spec.input, spec.model);
    return x0;
  }());
  std::vector<double> out;
  std::size_t next = 0;
  auto record = [&](int layer) {
    if (next < spec.record_layers.size() && spec.record_layers[next] == layer) {
      const Mat g = mul(c, transpose(c));
      for (double x : g.v) out.push_back(x / p.n);
      ++next;
    }
  };
  // Post-norm: every token (row of the factor) to RMS 1 over the width.
  auto post_norm = [&](Mat& f) {
    if (!p.post_norm) return;
    for (int a = 0; a < p.m; ++a) {
      double s = 0;
      for (int j = 0; j < p.m; ++j) s += f(a, j) * f(a, j);
      const double inv = s > 0 ? 1.0 / std::sqrt(s / p.n) : 0.0;
      for (int j = 0; j < p.m; ++j) f(a, j) *= inv;
    }
  };
  record(0);
  for (int layer = 1; layer <= p.depth; ++layer) {
    c = attention_block(spec, p, member, layer, c);
    post_norm(c);
    if (p.mlp) {
      c = mlp_block(spec, p, member, layer, c);
      post_norm(c);
    }
    record(layer);
  }
  return out;
}

}  // namespace attnmc::reference
