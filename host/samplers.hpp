// The sampler registry of the finite-network family
// (shared/design/architecture.md, property 6). Each sampler declares what it
// runs exactly (family, weight laws, token / width / head limits), its
// memory rule (bytes per network of a chunk, fixed bytes) and its chunk
// function per backend; the driver needs nothing else. `auto` only picks a
// sampler whose law is exact for the spec, preferring those whose cost does
// not grow with the width, and says why.
//
// Adding a sampler: its kernels (kernels/<name>_sampler.cu), its
// declaration (host/sampler_<name>.cpp, a function returning its
// SamplerInfo), and one line in ATTNMC_SAMPLERS (host/samplers.cpp); plus,
// while RunSpec names samplers by enum, a Sampler value and its name.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "attnmc/error.hpp"
#include "attnmc/model_spec.hpp"
#include "attnmc/run_spec.hpp"
#include "host/backend.hpp"
#include "kernels/chunk_job.hpp"

namespace attnmc::host {

using NetworkChunkFn = void (*)(const kernels::ExecContext&, const kernels::ChunkJob&,
                                const kernels::GramChunkOutput& output);

struct SamplerInfo {
  Sampler id = Sampler::automatic;
  const char* name = "";
  const char* family = "network";  // the finite networks of ModelSpec
  std::vector<WeightLaw> laws;     // weight laws it samples exactly
  int max_tokens = 0;              // m
  int max_width = 0;               // n
  int max_heads = 0;               // H
  // Token normalisations it runs exactly when the model normalises
  // (model.norm = pre or post; model.norm_kind).
  std::vector<NormKind> norm_kinds = {NormKind::rms};
  bool width_free = false;    // cost independent of the width: auto prefers it
  const char* law_note = "";  // what "exact" means for this sampler (for the reason)
  // Device bytes of one network of a chunk / of the chunk's constants.
  std::size_t (*bytes_per_network)(const kernels::ModelCoefficients&, int records) = nullptr;
  std::size_t (*fixed_bytes)(const kernels::ModelCoefficients&, int records) = nullptr;
  NetworkChunkFn omp_chunk = nullptr;
  NetworkChunkFn cuda_chunk = nullptr;  // null in a build without CUDA

  NetworkChunkFn chunk(const Backend& backend) const {
    return on_backend(backend, omp_chunk, cuda_chunk);
  }
};

// Every registered sampler, in auto's order of preference.
const std::vector<const SamplerInfo*>& samplers();
// The sampler with this id (Error for Sampler::automatic).
const SamplerInfo& sampler_info(Sampler id);

// Why `sampler` cannot run `model` (resolved) exactly: the InputError it
// refuses it with, naming the parameter (model.weight_law, model.norm_kind,
// model.tokens, model.width, model.heads), or null when it can.
std::unique_ptr<InputError> refusal(const SamplerInfo& sampler, const ModelSpec& model);

struct SamplerChoice {
  const SamplerInfo* sampler = nullptr;
  std::string reason;  // "requested" or auto's reason, for the summary
};

// spec.sampler when it can run the model (else its refusal is thrown), or
// for Sampler::automatic the first sampler in preference order that can;
// InputError("model.weight_law" or the first refusal's key) when none can.
SamplerChoice choose_sampler(const RunSpec& resolved);

}  // namespace attnmc::host
