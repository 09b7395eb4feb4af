// The resolved model as a plain struct of numbers that device code can copy
// by value: every scaling of models.md section 1 computed once on the host.
#pragma once

#include <cmath>
#include <cstdint>

#include "attnmc/hd.hpp"
#include "attnmc/model_spec.hpp"

namespace attnmc::kernels {

struct ModelCoefficients {
  int n = 0;         // width
  int m = 0;         // tokens
  int depth = 0;     // layers
  int heads = 0;     // H
  int head_dim = 0;  // n_k
  bool shaped = true;
  bool pre_norm = false;
  bool post_norm = false;  // normalise every token after each residual block
  // LayerNorm (centred, eps) instead of RMS for pre_norm / post_norm.
  bool layer_norm = false;
  double norm_eps = 0.0;  // LayerNorm's eps
  bool mlp = false;
  double logit_scale = 0.0;  // logits = (X W_Q)(X W_K)^T * logit_scale  ( = 1 / (n tau) )
  double lambda = 0.0;       // residual weight of the skip branch
  double attn_scale = 0.0;   // gamma / sqrt(H) / sqrt(n): weight of sum_h A_h X W_V^h
  double s_plus = 1.0;       // shaped ReLU slopes
  double s_minus = 1.0;
  double mlp_in_scale = 0.0;   // 1 / sqrt(n): X W_pre scaling
  double mlp_out_scale = 0.0;  // gamma sqrt(c / n): weight of sigma(.) W_post
};

// From a resolved ModelSpec (resolve_model).
inline ModelCoefficients coefficients_of(const ModelSpec& s) {
  ModelCoefficients c;
  c.n = s.width;
  c.m = s.tokens;
  c.depth = s.depth;
  c.heads = s.heads;
  c.head_dim = s.head_dim;
  c.shaped = s.attention == AttentionKind::shaped;
  c.pre_norm = s.pre_norm;
  c.post_norm = s.post_norm;
  c.layer_norm = s.norm_kind == NormKind::layer;
  c.norm_eps = c.layer_norm ? s.norm_eps : 0.0;
  c.mlp = s.mlp;
  const double n = s.width, nk = s.head_dim;
  const double tau = c.shaped ? s.tau0 * std::sqrt(n * nk) : s.tau0 * std::sqrt(nk);
  c.logit_scale = 1.0 / (n * tau);
  c.lambda = s.lambda;
  c.attn_scale = s.gamma / std::sqrt(double(s.heads)) / std::sqrt(n);
  c.s_plus = 1.0 + s.c_plus / std::sqrt(n);
  c.s_minus = 1.0 + s.c_minus / std::sqrt(n);
  const double cc = 2.0 / (c.s_plus * c.s_plus + c.s_minus * c.s_minus);
  c.mlp_in_scale = 1.0 / std::sqrt(n);
  c.mlp_out_scale = s.gamma * std::sqrt(cc / n);
  return c;
}

}  // namespace attnmc::kernels
