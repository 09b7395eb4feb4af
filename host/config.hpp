// The `run` command's configuration: a TOML file plus `key=value` overrides
// (the same dotted keys, e.g. model.width=256; the shared layer of every
// command, host/config/toml_layer.hpp) become one RunSpec. Every mistake
// (unknown key, wrong type, NaN, unreadable file) is an InputError naming the
// full dotted key, so the CLI can point at it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attnmc/run_spec.hpp"
#include "host/config/toml_layer.hpp"

namespace attnmc {

// Builds the RunSpec (not yet resolved). Overrides replace the file's value
// at that key; an override naming one input kind (rho0, gram, tokens_file)
// drops the file's other input kinds. Values of overrides are TOML values;
// a bare word that is not valid TOML is taken as a string (model.preset=softmax).
RunSpec load_run_spec(const ConfigSource& source);

// load_run_spec followed by resolve_run.
RunSpec load_resolved_run_spec(const ConfigSource& source);

// "512MiB", "2GiB", "1.5GB", "4096", "4096B" -> bytes. InputError(key) otherwise.
std::size_t parse_byte_size(const std::string& text, const std::string& key);

// Reads m x n input tokens: a text file of m rows of n numbers (blank or
// comma separated, '#' comments) or a 2-D float64/float32 .npy file.
// InputError("input.tokens_file") on any problem.
std::vector<double> read_tokens_file(const std::string& path, int tokens, int width);

// A .npy file of any rank (little-endian float64/float32, C order, finite
// values): its shape and its values as doubles. InputError(key) otherwise.
struct NpyArray {
  std::vector<long long> shape;
  std::vector<double> data;
};
NpyArray read_npy_array(const std::string& path, const std::string& key);

// The same for any rows x cols matrix file (also: a non-finite value is
// refused); errors name `key`, and the sizes by rows_key / cols_key.
std::vector<double> read_matrix_file(const std::string& path, int rows, int cols,
                                     const std::string& key, const std::string& rows_key,
                                     const std::string& cols_key);

// The resolved RunSpec as JSON with the configuration file's sections and
// keys (model, input, ensemble, run), for summaries.
nlohmann::json run_spec_json(const RunSpec& resolved);

// The inverse of run_spec_json (unresolved): what `attnmc merge` rebuilds a
// run's specification from.
RunSpec run_spec_from_json(const nlohmann::json& config);

Device parse_device(const std::string& name, const std::string& key);
Sampler parse_sampler(const std::string& name, const std::string& key);

}  // namespace attnmc
