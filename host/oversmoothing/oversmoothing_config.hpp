// The configuration schema of `attnmc oversmooth` ([model] [input]
// [ensemble] [run]), on the shared TOML layer and shared keys
// (host/config/schema.hpp). Matrix files (model.h_file, u_file, a_file,
// gain_file, input.tokens_file) are text or .npy; relative names are
// relative to the configuration file. The returned spec is not resolved.
#pragma once

#include <nlohmann/json.hpp>

#include "attnmc/oversmoothing.hpp"
#include "host/config/toml_layer.hpp"

namespace attnmc {

OversmoothingSpec load_oversmoothing_spec(const ConfigSource& source);

// The resolved spec as JSON with the configuration's sections and keys
// (matrices given by files appear as the files' names and checksums are not
// recorded; their shapes are).
nlohmann::json oversmoothing_spec_json(const OversmoothingSpec& resolved);

// The inverse of oversmoothing_spec_json, for `attnmc merge`: a spec that
// prints, tabulates and merges like the one that ran (not resolved again:
// input.tokens_file comes back as its name only, without its values).
// Throws InputError("config", ...) on JSON of another shape.
OversmoothingSpec oversmoothing_spec_from_json(const nlohmann::json& config);

const char* spectrum_name(SpectrumKind k);
const char* eigvecs_name(EigvecKind k);
const char* attention_name(OsAttentionKind k);
const char* norm_name(NormPlacement k);

}  // namespace attnmc
