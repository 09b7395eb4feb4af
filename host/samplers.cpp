#include "host/samplers.hpp"

#include <memory>

namespace attnmc::host {

// The registry: one line per sampler (a function in host/sampler_<name>.cpp
// returning its declaration), in auto's order of preference.
#define ATTNMC_SAMPLERS(X) \
  X(exact_sampler)         \
  X(direct_sampler)

#define ATTNMC_DECLARE_SAMPLER(fn) const SamplerInfo& fn();
ATTNMC_SAMPLERS(ATTNMC_DECLARE_SAMPLER)
#undef ATTNMC_DECLARE_SAMPLER

const std::vector<const SamplerInfo*>& samplers() {
#define ATTNMC_LIST_SAMPLER(fn) &fn(),
  static const std::vector<const SamplerInfo*> all = {ATTNMC_SAMPLERS(ATTNMC_LIST_SAMPLER)};
#undef ATTNMC_LIST_SAMPLER
  return all;
}

const SamplerInfo& sampler_info(Sampler id) {
  for (const SamplerInfo* s : samplers())
    if (s->id == id) return *s;
  throw Error(std::string("no sampler registered as '") + sampler_name(id) + "'");
}

namespace {

std::string law_list(const SamplerInfo& s) {
  std::string out;
  for (WeightLaw law : s.laws) out += (out.empty() ? "" : ", ") + std::string(weight_law_name(law));
  return out;
}

}  // namespace

std::unique_ptr<InputError> refusal(const SamplerInfo& s, const ModelSpec& model) {
  const std::string who = std::string("the ") + s.name + " sampler";
  bool law_ok = false;
  for (WeightLaw law : s.laws) law_ok = law_ok || law == model.weight_law;
  if (!law_ok)
    return std::make_unique<InputError>("model.weight_law", who + " samples only " + law_list(s) +
                                                                " weights exactly, not " +
                                                                weight_law_name(model.weight_law));
  bool norm_ok = !model.pre_norm && !model.post_norm;
  for (NormKind kind : s.norm_kinds) norm_ok = norm_ok || kind == model.norm_kind;
  if (!norm_ok)
    return std::make_unique<InputError>(
        "model.norm_kind", who + " cannot run norm_kind = \"" +
                               (model.norm_kind == NormKind::layer ? "layer" : "rms") +
                               "\" (LayerNorm's centring is not rotation invariant: no "
                               "Gram-chain law); use the direct sampler");
  if (model.tokens > s.max_tokens)
    return std::make_unique<InputError>("model.tokens",
                                        who + " supports at most " + std::to_string(s.max_tokens) +
                                            " tokens (got " + std::to_string(model.tokens) + ")");
  if (model.width > s.max_width)
    return std::make_unique<InputError>("model.width", who + " supports width at most " +
                                                           std::to_string(s.max_width) + " (got " +
                                                           std::to_string(model.width) + ")");
  if (model.heads > s.max_heads)
    return std::make_unique<InputError>(
        "model.heads", who + " supports at most " + std::to_string(s.max_heads) + " heads (got " +
                           std::to_string(model.heads) + ")");
  return nullptr;
}

SamplerChoice choose_sampler(const RunSpec& spec) {
  if (spec.sampler != Sampler::automatic) {
    const SamplerInfo& s = sampler_info(spec.sampler);
    if (auto no = refusal(s, spec.model)) throw *no;
    return {&s, "requested"};
  }
  std::string passed;  // why preferred samplers were skipped
  std::unique_ptr<InputError> first_refusal;
  for (const SamplerInfo* s : samplers()) {
    if (auto no = refusal(*s, spec.model)) {
      passed += std::string("; ") + s->name + " skipped: " + no->what();
      if (!first_refusal) first_refusal = std::move(no);
      continue;
    }
    std::string why = std::string("auto: ") + s->name + " is exact for this model (" + s->law_note +
                      "; " + weight_law_name(spec.model.weight_law) +
                      " weights, m = " + std::to_string(spec.model.tokens) +
                      " <= " + std::to_string(s->max_tokens) + ")";
    if (s->width_free) why += " and its cost does not grow with the width";
    return {s, why + passed};
  }
  // Name the weight law when no sampler samples it at all, else the first refusal.
  bool any_law = false;
  for (const SamplerInfo* s : samplers())
    for (WeightLaw law : s->laws) any_law = any_law || law == spec.model.weight_law;
  if (!any_law)
    throw InputError("model.weight_law", std::string("no sampler runs ") +
                                             weight_law_name(spec.model.weight_law) +
                                             " weights yet" + passed);
  throw *first_refusal;
}

}  // namespace attnmc::host
