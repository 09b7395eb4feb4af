// See oversmoothing_inputs.hpp.
#include "host/oversmoothing/oversmoothing_inputs.hpp"

namespace attnmc {

kernels::OsCoefficients os_coefficients(const OversmoothingSpec& s) {
  kernels::OsCoefficients c;
  c.m = s.tokens;
  c.n = s.width;
  c.nk = s.head_dim > 0 ? s.head_dim : s.width;
  c.depth = s.depth;
  switch (s.spectrum) {
    case SpectrumKind::list:
    case SpectrumKind::range:
      c.spectrum = kernels::kOsLambdaGiven;
      break;
    case SpectrumKind::uniform:
      c.spectrum = kernels::kOsLambdaUniform;
      break;
    case SpectrumKind::minus:
      c.spectrum = kernels::kOsLambdaMinus;
      break;
    case SpectrumKind::plus:
      c.spectrum = kernels::kOsLambdaPlus;
      break;
    case SpectrumKind::file:
      c.spectrum = kernels::kOsHGiven;
      break;
  }
  c.eigvecs = s.eigvecs == EigvecKind::orthogonal ? kernels::kOsOrthogonal
              : s.eigvecs == EigvecKind::gaussian ? kernels::kOsGaussian
                                                  : kernels::kOsUGiven;
  c.attention = s.attention == OsAttentionKind::softmax     ? kernels::kOsSoftmax
                : s.attention == OsAttentionKind::random    ? kernels::kOsRandomA
                : s.attention == OsAttentionKind::circulant ? kernels::kOsCirculantA
                                                            : kernels::kOsGivenA;
  c.fresh_h = s.fresh_h;
  c.fresh_qk = s.fresh_qk;
  c.lo = s.lambda_lo;
  c.hi = s.lambda_hi;
  c.psi_scale = s.psi_scale;
  c.temperature = s.temperature;
  c.a_scale = s.a_scale;
  c.norm = s.norm == NormPlacement::none   ? kernels::kOsNormNone
           : s.norm == NormPlacement::post ? kernels::kOsNormPost
                                           : kernels::kOsNormPre;
  c.rms = s.norm_kind == NormKind::rms;
  c.bias = s.bias;
  c.eps = s.norm_eps;
  c.random_input = s.input == OversmoothInputKind::random;
  c.rescale = s.rescaled();
  return c;
}

OsHostInputs::OsHostInputs(const OversmoothingSpec& s) {
  const int n = s.width;
  if (s.spectrum == SpectrumKind::list || s.spectrum == SpectrumKind::range) lambdas_ = s.lambdas;
  if (s.spectrum == SpectrumKind::file) h_ = s.h_matrix;
  if (s.spectrum != SpectrumKind::file && s.eigvecs == EigvecKind::file) {
    u_ = s.u_matrix;
    u_inv_.resize(u_.size());
    std::vector<double> work(u_.size());
    kernels::os_invert(u_.data(), work.data(), u_inv_.data(), n);  // checked by resolve
  }
  if (s.attention == OsAttentionKind::file) a_ = s.a_matrix;
  if (s.input == OversmoothInputKind::given) {
    ModelSpec shape;
    shape.tokens = s.tokens;
    shape.width = s.width;
    x0_ = initial_tokens(s.given_input, shape);
  }
  gain_ = s.gain;
  if (gain_.size() == 1) gain_.assign(std::size_t(n), gain_[0]);
}

kernels::OsInputs OsHostInputs::view() const {
  auto ptr = [](const std::vector<double>& v) { return v.empty() ? nullptr : v.data(); };
  kernels::OsInputs in;
  in.lambdas = ptr(lambdas_);
  in.h = ptr(h_);
  in.u = ptr(u_);
  in.u_inv = ptr(u_inv_);
  in.a = ptr(a_);
  in.x0 = ptr(x0_);
  in.gain = ptr(gain_);
  return in;
}

}  // namespace attnmc
