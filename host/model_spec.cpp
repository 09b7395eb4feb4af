// Model presets, validation of a ModelSpec, and construction of the input tokens.
#include "attnmc/model_spec.hpp"

#include <cmath>
#include <cstdio>
#include <string>

#include "attnmc/error.hpp"

namespace attnmc {

ModelSpec model_preset(const std::string& name) {
  ModelSpec s;
  if (name == "shaped") return s;
  if (name == "shaped-mlp") {
    s.mlp = true;
    return s;
  }
  if (name == "softmax") {
    s.attention = AttentionKind::softmax;
    return s;
  }
  if (name == "softmax-prenorm") {
    s.attention = AttentionKind::softmax;
    s.pre_norm = true;
    return s;
  }
  throw InputError("model.preset",
                   "unknown preset '" + name + "' (shaped, shaped-mlp, softmax, softmax-prenorm)");
}

std::vector<std::string> model_preset_names() {
  return {"shaped", "shaped-mlp", "softmax", "softmax-prenorm"};
}

std::string model_kind_name(const ModelSpec& s) {
  std::string name = s.attention == AttentionKind::shaped ? "shaped" : "softmax";
  if (s.pre_norm) name += "-prenorm";
  if (s.post_norm) name += "-postnorm";
  if ((s.pre_norm || s.post_norm) && s.norm_kind == NormKind::layer) name += "-ln";
  if (s.mlp) name += "+mlp";
  return name;
}

const char* weight_law_name(WeightLaw law) {
  switch (law) {
    case WeightLaw::gaussian_iid:
      return "gaussian-iid";
    case WeightLaw::prescribed_spectrum:
      return "prescribed-spectrum";
    case WeightLaw::fixed:
      return "fixed";
  }
  return "?";
}

namespace {

void require_finite(const char* key, double v) {
  if (!std::isfinite(v)) throw InputError(key, "must be a finite number");
}

// Explicit tokens: m x n finite values.
void check_token_values(const InputSpec& input, const ModelSpec& model) {
  const int m = model.tokens, n = model.width;
  if (input.values.size() != std::size_t(m) * n)
    throw InputError("input.tokens_file", "expected " + std::to_string(m) + " x " +
                                              std::to_string(n) + " values, got " +
                                              std::to_string(input.values.size()));
  for (double v : input.values)
    if (!std::isfinite(v)) throw InputError("input.tokens_file", "contains a non-finite value");
}

// V0 = X X^T / n of explicit tokens (shape already checked), in double.
std::vector<double> token_gram(const InputSpec& input, const ModelSpec& model) {
  const int m = model.tokens, n = model.width;
  std::vector<double> g(std::size_t(m) * m, 0.0);
  for (int a = 0; a < m; ++a)
    for (int b = a; b < m; ++b) {
      double acc = 0;
      for (int i = 0; i < n; ++i)
        acc += input.values[std::size_t(a) * n + i] * input.values[std::size_t(b) * n + i];
      g[std::size_t(a) * m + b] = g[std::size_t(b) * m + a] = acc / n;
    }
  return g;
}

// The usable range of V0 (model_spec.hpp: kMinInputGram, kMaxInputGram).
// Outside it every member of an ensemble would be non-finite (a zero-norm
// token has no correlation; float32 overflows) and the run would report
// nothing, so it is refused up front.
void check_gram_range(const char* key, const std::vector<double>& g, int m) {
  for (int a = 0; a < m; ++a) {
    const double d = g[std::size_t(a) * m + a];
    const std::string name = input_entry_name(a, a);
    if (d == 0)
      throw InputError(key, "token " + std::to_string(a) + " has zero norm (" + name +
                                " = 0): correlations are undefined");
    if (d < 0)
      throw InputError(key, name + " = " + format_number(d) + " < 0: must be positive definite");
    if (d < kMinInputGram)
      throw InputError(key, name + " = " + format_number(d) +
                                " underflows float32 arithmetic (smallest usable about " +
                                format_number(kMinInputGram) + ")");
  }
  for (int a = 0; a < m; ++a)
    for (int b = 0; b < m; ++b) {
      const double v = g[std::size_t(a) * m + b];
      if (!(std::abs(v) <= kMaxInputGram))
        throw InputError(key, input_entry_name(a, b) + " = " + format_number(v) +
                                  " overflows float32 arithmetic (largest usable about " +
                                  format_number(kMaxInputGram) + ")");
    }
}

// V0 of a Gram matrix or correlation input, checked: shape, finite,
// symmetric, within the usable range (positive definiteness: cholesky).
std::vector<double> checked_gram(const InputSpec& input, int m) {
  std::vector<double> g(std::size_t(m) * m);
  const char* key = input_key(input);
  if (input.kind == InputSpec::Kind::gram) {
    if (input.gram.size() != g.size())
      throw InputError(key, "expected a " + std::to_string(m) + " x " + std::to_string(m) +
                                " matrix, got " + std::to_string(input.gram.size()) + " numbers");
    g = input.gram;
  } else {
    require_finite(key, input.rho0);
    if (input.rho0 <= -1.0 / (m - 1 > 0 ? m - 1 : 1) || input.rho0 >= 1.0)
      throw InputError(key, "must lie in (-1/(m-1), 1) for a positive definite Gram matrix");
    for (int a = 0; a < m; ++a)
      for (int b = 0; b < m; ++b) g[a * m + b] = a == b ? 1.0 : input.rho0;
  }
  for (int a = 0; a < m; ++a)
    for (int b = 0; b < m; ++b) {
      const double v = g[a * m + b], w = g[b * m + a];
      require_finite(key, v);
      if (std::abs(v - w) > 1e-12 * (1 + std::abs(v)))
        throw InputError(key, "must be symmetric (" + input_entry_name(a, b) + " = " +
                                  format_number(v) + " but " + input_entry_name(b, a) + " = " +
                                  format_number(w) + ")");
    }
  check_gram_range(key, g, m);
  return g;
}

// Cholesky V0 = L L^T (m x m, row-major, lower); InputError when V0 is not
// positive definite.
std::vector<double> cholesky(const char* key, const std::vector<double>& g, int m) {
  std::vector<double> L(std::size_t(m) * m, 0.0);
  for (int j = 0; j < m; ++j) {
    double d = g[j * m + j];
    for (int k = 0; k < j; ++k) d -= L[j * m + k] * L[j * m + k];
    if (!(d > 0))
      throw InputError(key, "must be positive definite (its leading " + std::to_string(j + 1) +
                                " x " + std::to_string(j + 1) +
                                " block is singular or indefinite)");
    L[j * m + j] = std::sqrt(d);
    for (int i = j + 1; i < m; ++i) {
      double s = g[i * m + j];
      for (int k = 0; k < j; ++k) s -= L[i * m + k] * L[j * m + k];
      L[i * m + j] = s / L[j * m + j];
    }
  }
  return L;
}

}  // namespace

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string input_entry_name(int a, int b) {
  if (a < 10 && b < 10) return "V0_" + std::to_string(a) + std::to_string(b);
  return "V0_(" + std::to_string(a) + "," + std::to_string(b) + ")";
}

const char* input_key(const InputSpec& input) {
  switch (input.kind) {
    case InputSpec::Kind::tokens:
      return "input.tokens_file";
    case InputSpec::Kind::gram:
      return "input.gram";
    default:
      return "input.rho0";
  }
}

ModelSpec resolve_model(const ModelSpec& in) {
  ModelSpec s = in;
  if (s.width <= 0) throw InputError("model.width", "must be positive");
  if (s.tokens <= 0) throw InputError("model.tokens", "must be positive");
  if (s.tokens > s.width)
    throw InputError("model.tokens",
                     "m = " + std::to_string(s.tokens) +
                         " tokens need width n >= m (n = " + std::to_string(s.width) + ")");
  if (s.depth < 0) throw InputError("model.depth", "must be >= 0");
  if (s.heads <= 0) throw InputError("model.heads", "must be positive");
  if (s.head_dim < 0) throw InputError("model.head_dim", "must be positive (0 means = width)");
  if (s.head_dim == 0) s.head_dim = s.width;
  require_finite("model.tau0", s.tau0);
  if (s.tau0 <= 0) throw InputError("model.tau0", "must be > 0");
  require_finite("model.lambda", s.lambda);
  require_finite("model.gamma", s.gamma);
  require_finite("model.c_plus", s.c_plus);
  require_finite("model.c_minus", s.c_minus);
  const bool has_lambda = s.lambda >= 0, has_gamma = s.gamma >= 0;
  if (s.pre_norm && s.post_norm)
    throw InputError("model.norm", "pre- and post-normalisation exclude each other");
  if (!std::isfinite(s.norm_eps) || s.norm_eps <= 0)
    throw InputError("model.norm_eps", "must be finite and > 0");
  if (s.norm_kind == NormKind::rms && s.norm_eps != kDefaultNormEps)
    throw InputError("model.norm_eps",
                     "applies to norm_kind = \"layer\" only (rms is x / sqrt(mean x^2), no eps)");
  // Unshaped models with both weights given: free (no lambda^2 + gamma^2 = 1).
  const bool free_weights = s.attention == AttentionKind::softmax && has_lambda && has_gamma;
  if (s.lambda > 1 && !free_weights)
    throw InputError("model.lambda",
                     "must lie in [0, 1] (or give both lambda and gamma of a "
                     "softmax model: they are then free)");
  if (s.gamma > 1 && !free_weights)
    throw InputError("model.gamma",
                     "must lie in [0, 1] (or give both lambda and gamma of a "
                     "softmax model: they are then free)");
  if (free_weights) {
    // kept as given
  } else if (!has_lambda && !has_gamma) {
    s.lambda = s.gamma = std::sqrt(0.5);
  } else if (!has_lambda) {
    s.lambda = std::sqrt(1.0 - s.gamma * s.gamma);
  } else if (!has_gamma) {
    s.gamma = std::sqrt(1.0 - s.lambda * s.lambda);
  } else if (std::abs(s.lambda * s.lambda + s.gamma * s.gamma - 1.0) > 1e-9) {
    throw InputError("model.gamma", "lambda^2 + gamma^2 must equal 1 (give one of them)");
  }
  const double sqrt_n = std::sqrt(double(s.width));
  if (s.mlp && (1.0 + s.c_plus / sqrt_n <= 0 && 1.0 + s.c_minus / sqrt_n <= 0))
    throw InputError("model.c_plus", "both shaped-ReLU slopes are non-positive at this width");
  return s;
}

std::vector<double> initial_tokens(const InputSpec& input, const ModelSpec& model) {
  const int m = model.tokens, n = model.width;
  if (input.kind == InputSpec::Kind::tokens) {
    check_token_values(input, model);
    check_gram_range(input_key(input), token_gram(input, model), m);
    return input.values;
  }
  // Cholesky V0 = L L^T; then X0 = sqrt(n) [L, 0] has X0 X0^T / n = V0 exactly.
  // Gaussian weights are rotation invariant, so the choice of basis does not
  // change the law of anything downstream.
  const std::vector<double> L = cholesky(input_key(input), checked_gram(input, m), m);
  std::vector<double> x(std::size_t(m) * n, 0.0);
  const double sqrt_n = std::sqrt(double(n));
  for (int a = 0; a < m; ++a)
    for (int k = 0; k <= a; ++k) x[std::size_t(a) * n + k] = sqrt_n * L[a * m + k];
  return x;
}

void validate_input(const InputSpec& input, const ModelSpec& model) {
  (void)input_gram(input, model);
}

std::vector<double> input_gram(const InputSpec& input, const ModelSpec& model) {
  const int m = model.tokens;
  if (input.kind == InputSpec::Kind::tokens) {
    check_token_values(input, model);
    std::vector<double> g = token_gram(input, model);
    check_gram_range(input_key(input), g, m);
    return g;
  }
  // A Gram matrix or correlation does not depend on the width.
  std::vector<double> g = checked_gram(input, m);
  (void)cholesky(input_key(input), g, m);
  return g;
}

}  // namespace attnmc
