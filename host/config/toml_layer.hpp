// The configuration layer every command reads: a TOML file (or a built-in
// TOML text) plus `section.key=value` overrides, merged into one TOML table
// before any key is interpreted, and typed readers whose errors name the
// full dotted key. The per-command schemas (host/config/schema.hpp) turn the
// table into a spec.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace attnmc {

// Where a configuration comes from: an optional TOML file (empty path: the
// command's built-in defaults in `text`) and overrides applied after it.
struct ConfigSource {
  std::string path;                    // TOML file; empty = none
  std::string text;                    // TOML text used when path is empty
  std::vector<std::string> overrides;  // "dotted.key=value", later ones win
};

// The merged table and the directory relative file names are read from
// (the configuration file's; the working directory for overrides).
struct ConfigTable {
  toml::table root;
  std::filesystem::path base_dir;
  std::vector<std::string> overridden;  // keys set by overrides, in order
};

// A file name given in the configuration under `key`: a relative name is
// taken from the configuration file's directory, unless an override set it
// (then from the working directory).
std::string config_path(const ConfigTable& cfg, const std::string& key, const std::string& name);

// File (or text), then the overrides. `exclusive` lists groups of keys in one
// section of which at most one may be given (the input kinds): an override
// naming one of them drops the file's others.
ConfigTable load_config_table(const ConfigSource& source,
                              const std::vector<std::vector<std::string>>& exclusive = {});

// "key=value" -> (dotted key, the value as a TOML node in a one-entry table
// {name: value}). A bare word that is not TOML (softmax, cpu, 2GiB) is a string.
std::pair<std::string, toml::table> parse_override(const std::string& assignment);

// A TOML value as the text of an override's right-hand side (round-trips).
std::string toml_text(const toml::node& value);

// Whole-file reads with the error naming `key` ("cannot read ...: it is a directory").
std::string read_text_file(const std::string& path, const std::string& key);

// Typed readers: InputError(key, ...) on a wrong type or value.
std::string toml_type(const toml::node& n);
double get_double(const toml::node& n, const std::string& key);
std::int64_t get_integer(const toml::node& n, const std::string& key);
int get_int(const toml::node& n, const std::string& key);
std::uint64_t get_count(const toml::node& n, const std::string& key);  // >= 0
std::uint64_t get_seed(const toml::node& n, const std::string& key);   // 0 .. 2^64 - 1
bool get_bool(const toml::node& n, const std::string& key);
std::string get_string(const toml::node& n, const std::string& key);
const toml::array& get_array(const toml::node& n, const std::string& key);
std::vector<double> get_doubles(const toml::node& n, const std::string& key);  // non-empty
std::vector<int> get_ints(const toml::node& n, const std::string& key);        // non-empty

// A seed written in decimal: 0 to 2^64 - 1, digits only (no sign, no
// spaces). False for anything else. The one rule of every command.
bool parse_seed(const std::string& text, std::uint64_t* seed);
inline constexpr const char* kSeedRule = "a seed is an integer from 0 to 2^64 - 1";

}  // namespace attnmc
