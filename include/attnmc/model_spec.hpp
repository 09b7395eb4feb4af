// A model is a spec, not a code path: the shaped Transformer of
// models.md section 1 and its unshaped comparisons differ only in the fields
// below, and every sampler (direct, exact, reference) reads the same spec.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attnmc {

// Attention map applied to the m x m logits of each head.
enum class AttentionKind {
  shaped,   // A = I + softmax(Y / tau) - 11^T/m,  tau = tau0 sqrt(n n_k)
  softmax,  // A = softmax(Y / tau),                tau = tau0 sqrt(n_k)
};

// The law of the weight matrices. Samplers declare which laws they sample
// exactly (host/samplers.hpp); only gaussian_iid is runnable today.
enum class WeightLaw {
  gaussian_iid,         // i.i.d. N(0, 1) entries, fresh every layer (models.md section 1)
  prescribed_spectrum,  // given singular values, Haar singular vectors (oversmoothing study)
  fixed,                // given matrices, the same for every network
};

// Where a residual family normalises its tokens (token-wise, over the
// features): shared by every residual family (ModelSpec here, the
// oversmoothing family's OversmoothingSpec). pre: the branch input,
// X + f(N(X)); post: after the residual sum, X <- N(lambda X + gamma f(X)).
// Configuration key model.norm = "none" | "pre" | "post" in every family.
enum class NormPlacement { none, post, pre };
// LayerNorm g (x - mean) / sqrt(var + eps) + b, or RMS g x / sqrt(mean x^2 + eps) + b.
enum class NormKind { layer, rms };
// The LayerNorm eps unless model.norm_eps is given (the oversmoothing family's too).
constexpr double kDefaultNormEps = 1e-5;

struct ModelSpec {
  AttentionKind attention = AttentionKind::shaped;
  bool pre_norm = false;  // token-wise normalisation (norm_kind) of the attention block input
  int width = 128;        // n
  int tokens = 4;         // m
  int depth = 128;        // d (layers); T = d / n
  int heads = 1;          // H
  int head_dim = 0;       // n_k; 0 means "= width"
  double tau0 = 1.0;
  // Residual weights; lambda^2 + gamma^2 = 1. Give one (the other is
  // derived) or both (checked). NaN means "not given". Unshaped (softmax)
  // models may give both freely (any values >= 0, e.g. lambda = gamma = 1
  // for X + A X W_V): the tie is the shaped model's scaling, not theirs.
  double lambda = -1.0;  // < 0: derive from gamma
  double gamma = -1.0;   // < 0: derive from lambda (both < 0: 1/sqrt(2) each)
  bool mlp = false;      // shaped ReLU MLP block after attention
  double c_plus = 0.0;   // shaped ReLU slopes s_pm = 1 + c_pm / sqrt(n)
  double c_minus = -1.0;
  WeightLaw weight_law = WeightLaw::gaussian_iid;
  // Token-wise normalisation after every residual block (model.norm =
  // "post"): X <- N(lambda X + gamma A X W_V). Excludes pre_norm.
  bool post_norm = false;
  // The normalisation N of pre_norm / post_norm (model.norm_kind), gain 1,
  // bias 0: rms x / sqrt(mean x^2) (no eps: the exact sampler's law), or
  // layer (x - mean x) / sqrt(var x + norm_eps), as the oversmoothing
  // family's LayerNorm. Only the direct sampler runs layer.
  NormKind norm_kind = NormKind::rms;
  double norm_eps = kDefaultNormEps;  // model.norm_eps, LayerNorm only
};

// Named presets used by the CLI and the rank-collapse picture.
// "shaped", "softmax", "softmax-prenorm" (attention only), "shaped-mlp".
ModelSpec model_preset(const std::string& name);
std::vector<std::string> model_preset_names();
std::string model_kind_name(const ModelSpec& spec);
const char* weight_law_name(WeightLaw law);  // "gaussian-iid", "prescribed-spectrum", "fixed"

// Throws InputError naming the parameter; fills derived fields (head_dim,
// lambda/gamma) in the returned copy.
ModelSpec resolve_model(const ModelSpec& spec);

// Input tokens: a Gram matrix V0 (tokens are built with exactly that Gram
// matrix, X0 = sqrt(n) [chol(V0), 0]) or explicit m x n vectors.
struct InputSpec {
  enum class Kind { correlation, gram, tokens } kind = Kind::correlation;
  double rho0 = 0.5;           // Kind::correlation: V0 = (1 - rho0) I + rho0 11^T
  std::vector<double> gram;    // Kind::gram: m x m row-major, symmetric positive definite
  std::vector<double> values;  // Kind::tokens: m x n row-major
  std::string source;          // where `values` came from: an absolute path (for the summary)
  std::string source_sha256;   // SHA-256 of that file when it was read
};

// The range of input Gram entries the float32 engines carry through a deep
// network. Every V0 must have V0_aa >= kMinInputGram for every token a
// (FLT_MIN: below it, float32 V_aa underflows towards 0 and rho_ab =
// V_ab / sqrt(V_aa V_bb) is undefined; V0_aa = 0 is a token of zero norm)
// and |V0_ab| <= kMaxInputGram (V grows with depth and the engines form
// products of V entries; float32 overflows at about 3.4e38, and 1e30 is
// also the default ensemble.overflow_threshold). Input outside the range
// would make every member non-finite or overflowing, so it is refused.
constexpr double kMinInputGram = 1.1754943508222875e-38;  // FLT_MIN
constexpr double kMaxInputGram = 1e30;

// The m x n initial tokens (double, row-major) for a resolved model.
// Throws InputError naming the input key (input.rho0, input.gram,
// input.tokens_file) for a Gram matrix that is not symmetric positive
// definite, token data of the wrong shape or with a non-finite value, and
// an input Gram matrix V0 outside the usable range above (a token of zero
// norm, an entry that overflows float32 arithmetic).
std::vector<double> initial_tokens(const InputSpec& input, const ModelSpec& model);

// The checks of initial_tokens without building the m x n tokens (cost
// O(m^3) for a Gram matrix or a correlation, whatever the width; O(m^2 n)
// for explicit tokens), so a resolver can validate a run before the memory
// cap is checked.
void validate_input(const InputSpec& input, const ModelSpec& model);

// The input Gram matrix V0 = X0 X0^T / n (m x m, row-major, double) of a
// valid input: the Gram matrix itself, the correlation matrix, or computed
// from the explicit tokens. Throws InputError as initial_tokens does.
std::vector<double> input_gram(const InputSpec& input, const ModelSpec& model);

// The configuration key of an input: input.rho0, input.gram or
// input.tokens_file.
const char* input_key(const InputSpec& input);
// For messages about V0: "V0_01" ("V0_(10,11)" once an index has two
// digits), and a number as %g.
std::string input_entry_name(int a, int b);
std::string format_number(double v);

}  // namespace attnmc
