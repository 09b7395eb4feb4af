// The sampler registry: each sampler declares the weight laws it samples
// exactly, and `auto` never hands a model to a sampler whose law differs
// from the spec's (the exact Gram chain assumes i.i.d. Gaussian weights; a
// model with a prescribed weight spectrum must not silently get it).
#include <gtest/gtest.h>

#include "attnmc/engine.hpp"
#include "attnmc/error.hpp"
#include "host/samplers.hpp"

using namespace attnmc;

namespace {

RunSpec small(WeightLaw law, Sampler sampler) {
  RunSpec s;
  s.model.width = 16;
  s.model.tokens = 3;
  s.model.depth = 4;
  s.model.weight_law = law;
  s.members = 5;
  s.sampler = sampler;
  s.device = Device::cpu;
  return resolve_run(s);
}

std::string refused_key(const RunSpec& s) {
  try {
    host::choose_sampler(s);
  } catch (const InputError& e) {
    return e.parameter();
  }
  return "";
}

}  // namespace

TEST(Samplers, AutoPicksTheExactChainOnlyForIidGaussianWeights) {
  const host::SamplerChoice c =
      host::choose_sampler(small(WeightLaw::gaussian_iid, Sampler::automatic));
  EXPECT_EQ(c.sampler->id, Sampler::exact);
  EXPECT_NE(c.reason.find("gaussian-iid"), std::string::npos) << c.reason;
  for (WeightLaw law : {WeightLaw::prescribed_spectrum, WeightLaw::fixed}) {
    // No registered sampler runs these laws yet: auto refuses by name rather
    // than falling back to a sampler of the wrong law.
    EXPECT_EQ(refused_key(small(law, Sampler::automatic)), "model.weight_law");
    EXPECT_EQ(refused_key(small(law, Sampler::exact)), "model.weight_law");
    EXPECT_EQ(refused_key(small(law, Sampler::direct)), "model.weight_law");
    try {
      run_ensemble(small(law, Sampler::automatic));
      FAIL() << "ran a " << weight_law_name(law) << " model";
    } catch (const InputError& e) {
      EXPECT_EQ(e.parameter(), "model.weight_law");
    }
  }
}

TEST(Samplers, RefusalFollowsTheDeclaredLaws) {
  // A sampler declaring only a prescribed spectrum accepts such a model, and
  // the exact chain refuses it: what auto's choice is built on.
  host::SamplerInfo spectral = host::sampler_info(Sampler::direct);
  spectral.laws = {WeightLaw::prescribed_spectrum};
  ModelSpec m = small(WeightLaw::gaussian_iid, Sampler::direct).model;
  m.weight_law = WeightLaw::prescribed_spectrum;
  EXPECT_EQ(host::refusal(spectral, m), nullptr);
  const auto no = host::refusal(host::sampler_info(Sampler::exact), m);
  ASSERT_NE(no, nullptr);
  EXPECT_EQ(no->parameter(), "model.weight_law");
  m.weight_law = WeightLaw::gaussian_iid;
  EXPECT_NE(host::refusal(spectral, m), nullptr);
  EXPECT_EQ(host::refusal(host::sampler_info(Sampler::exact), m), nullptr);
}

TEST(Samplers, LimitsAreDeclaredAndEnforced) {
  RunSpec s = small(WeightLaw::gaussian_iid, Sampler::automatic);
  s.model.tokens = 17;  // beyond the exact chain's 16
  s.model.width = 32;
  s = resolve_run(s);
  const host::SamplerChoice c = host::choose_sampler(s);
  EXPECT_EQ(c.sampler->id, Sampler::direct);
  EXPECT_NE(c.reason.find("exact skipped"), std::string::npos) << c.reason;
  s.sampler = Sampler::exact;
  EXPECT_EQ(refused_key(s), "model.tokens");
}
