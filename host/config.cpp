// The `run` command's configuration: the shared TOML layer
// (host/config/toml_layer.hpp) read through the run schema into a RunSpec.
// Unknown keys and sections are errors (a typo must not silently run the
// default experiment).
#include "host/config.hpp"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "attnmc/error.hpp"
#include "host/checksum.hpp"
#include "host/config/schema.hpp"

namespace attnmc {
namespace {

namespace fs = std::filesystem;

// A RunSpec being read, with the settings that need the whole model first.
struct RunBuild {
  RunSpec s;
  std::string tokens_file;    // absolute or relative to base_dir
  std::string tokens_sha256;  // expected checksum (a stored configuration read back)
  RunSpec& spec() { return s; }
  ModelSpec& model() { return s.model; }
  InputSpec& input() { return s.input; }
};

const Schema<RunBuild>& run_schema() {
  static const Schema<RunBuild> schema = [] {
    Schema<RunBuild> t;
    // Applied first by load_run_spec (it replaces the whole model).
    t.key("model", "preset",
          [](RunBuild&, const toml::node& n, const std::string& k) { (void)get_string(n, k); });
    add_model_keys(t, /*geometry=*/true, /*head_dim=*/true);
    t.key("model", "attention", [](RunBuild& b, const toml::node& n, const std::string& k) {
      const std::string v = get_string(n, k);
      if (v == "shaped")
        b.s.model.attention = AttentionKind::shaped;
      else if (v == "softmax")
        b.s.model.attention = AttentionKind::softmax;
      else
        throw InputError(k, "expected \"shaped\" or \"softmax\", got \"" + v + "\"");
    });
    t.key("model", "post_norm", [](RunBuild& b, const toml::node& n, const std::string& k) {
      b.s.model.post_norm = get_bool(n, k);
    });
    // The placement shared by every residual family (model_spec.hpp NormPlacement).
    t.key("model", "norm", [](RunBuild& b, const toml::node& n, const std::string& k) {
      const std::string v = get_string(n, k);
      if (v != "none" && v != "pre" && v != "post")
        throw InputError(k, "expected none, pre or post, got '" + v + "'");
      b.s.model.pre_norm = v == "pre";
      b.s.model.post_norm = v == "post";
    });
    // The kind shared with the oversmoothing family (model_spec.hpp NormKind).
    t.key("model", "norm_kind", [](RunBuild& b, const toml::node& n, const std::string& k) {
      const std::string v = get_string(n, k);
      if (v != "rms" && v != "layer") throw InputError(k, "expected rms or layer, got '" + v + "'");
      b.s.model.norm_kind = v == "layer" ? NormKind::layer : NormKind::rms;
    });
    t.key("model", "norm_eps", [](RunBuild& b, const toml::node& n, const std::string& k) {
      b.s.model.norm_eps = get_double(n, k);
    });
    t.key("model", "pre_norm", [](RunBuild& b, const toml::node& n, const std::string& k) {
      b.s.model.pre_norm = get_bool(n, k);
    });
    add_gram_input_keys(t);
    t.key("input", "tokens_file", [](RunBuild& b, const toml::node& n, const std::string& k) {
      b.s.input.kind = InputSpec::Kind::tokens;
      b.tokens_file = get_string(n, k);
      if (b.tokens_file.empty()) throw InputError(k, "empty path");
    });
    // Written into summaries beside tokens_file; read back, it must match the file.
    t.key("input", "tokens_sha256", [](RunBuild& b, const toml::node& n, const std::string& k) {
      b.tokens_sha256 = get_string(n, k);
    });
    t.key("ensemble", "members", [](RunBuild& b, const toml::node& n, const std::string& k) {
      b.s.members = get_count(n, k);
    });
    add_execution_keys(t);
    add_quantile_keys(t);
    t.key("ensemble", "record_every", [](RunBuild& b, const toml::node& n, const std::string& k) {
      b.s.record_every = get_int(n, k);
    });
    t.key("ensemble", "record_layers", [](RunBuild& b, const toml::node& n, const std::string& k) {
      b.s.record_layers = get_ints(n, k);
    });
    t.key("ensemble", "sampler", [](RunBuild& b, const toml::node& n, const std::string& k) {
      b.s.sampler = parse_sampler(get_string(n, k), k);
    });
    t.key("ensemble", "overflow_threshold",
          [](RunBuild& b, const toml::node& n, const std::string& k) {
            b.s.overflow_threshold = get_double(n, k);
          });
    return t;
  }();
  return schema;
}

// A 2-D .npy of exactly tokens x width (read_npy_array below).
std::vector<double> read_npy(const std::string& path, int tokens, int width,
                             const std::string& key) {
  NpyArray a = read_npy_array(path, key);
  if (a.shape.size() != 2 || a.shape[0] != tokens || a.shape[1] != width)
    throw InputError(key, "'" + path + "': expected shape (" + std::to_string(tokens) + ", " +
                              std::to_string(width) + ")");
  return std::move(a.data);
}

}  // namespace

Device parse_device(const std::string& name, const std::string& key) {
  if (name == "cpu") return Device::cpu;
  if (name == "cuda") return Device::cuda;
  if (name == "auto") return Device::automatic;
  throw InputError(key, "expected cpu, cuda or auto, got '" + name + "'");
}

Sampler parse_sampler(const std::string& name, const std::string& key) {
  if (name == "direct") return Sampler::direct;
  if (name == "exact") return Sampler::exact;
  if (name == "auto") return Sampler::automatic;
  throw InputError(key, "expected direct, exact or auto, got '" + name + "'");
}

std::size_t parse_byte_size(const std::string& text, const std::string& key) {
  std::size_t pos = 0;
  double value;
  try {
    value = std::stod(text, &pos);
  } catch (const std::exception&) {
    throw InputError(key, "expected a size such as 512MiB or 2GiB, got '" + text + "'");
  }
  std::string unit = text.substr(pos);
  while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
  static const std::map<std::string, double> units = {{"", 1.0},
                                                      {"B", 1.0},
                                                      {"KiB", 1024.0},
                                                      {"MiB", 1048576.0},
                                                      {"GiB", 1073741824.0},
                                                      {"TiB", 1099511627776.0},
                                                      {"kB", 1e3},
                                                      {"KB", 1e3},
                                                      {"MB", 1e6},
                                                      {"GB", 1e9},
                                                      {"TB", 1e12}};
  auto it = units.find(unit);
  if (it == units.end())
    throw InputError(key,
                     "unknown unit '" + unit + "' (use B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)");
  const double bytes = value * it->second;
  if (!std::isfinite(bytes) || bytes < 1 || bytes > 9.0e18)
    throw InputError(key, "size '" + text + "' is out of range");
  return std::size_t(bytes);
}

std::vector<double> read_tokens_file(const std::string& path, int tokens, int width) {
  return read_matrix_file(path, tokens, width, "input.tokens_file", "model.tokens", "model.width");
}

std::vector<double> read_matrix_file(const std::string& path, int tokens, int width,
                                     const std::string& key, const std::string& rows_key,
                                     const std::string& cols_key) {
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".npy") == 0)
    return read_npy(path, tokens, width, key);
  std::istringstream in(read_text_file(path, key));
  std::vector<double> v;
  std::string line;
  int rows = 0, lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    for (char& c : line)
      if (c == ',' || c == '\t' || c == ';' || c == '\r') c = ' ';
    std::istringstream ls(line);
    std::string word;
    int cols = 0;
    while (ls >> word) {
      std::size_t used = 0;
      double x;
      try {
        x = std::stod(word, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != word.size())
        throw InputError(key,
                         path + ":" + std::to_string(lineno) + ": '" + word + "' is not a number");
      if (!std::isfinite(x))
        throw InputError(key, path + ":" + std::to_string(lineno) + ": non-finite value");
      v.push_back(x);
      ++cols;
    }
    if (cols == 0) continue;
    if (cols != width)
      throw InputError(key, path + ":" + std::to_string(lineno) + ": expected " +
                                std::to_string(width) + " numbers (" + cols_key + "), got " +
                                std::to_string(cols));
    ++rows;
  }
  if (rows != tokens)
    throw InputError(key, path + ": expected " + std::to_string(tokens) + " rows (" + rows_key +
                              "), got " + std::to_string(rows));
  return v;
}

RunSpec load_run_spec(const ConfigSource& source) {
  ConfigTable cfg = load_config_table(source, {{"input.rho0", "input.gram", "input.tokens_file"}});
  // The override's own directory is the working directory.
  for (const std::string& k : cfg.overridden)
    if (k == "input.tokens_file") cfg.base_dir.clear();
  RunBuild b;
  // Preset first: it replaces the whole model, the other model keys refine it.
  if (auto model = cfg.root.get("model"); model && model->is_table())
    if (auto preset = model->as_table()->get("preset"))
      b.s.model = model_preset(get_string(*preset, "model.preset"));
  run_schema().apply(cfg.root, b, {"model.preset"});
  if (b.s.input.kind == InputSpec::Kind::tokens) {
    fs::path p(b.tokens_file);
    if (p.is_relative() && !cfg.base_dir.empty()) p = cfg.base_dir / p;
    if (b.s.model.tokens <= 0 || b.s.model.width <= 0)
      (void)resolve_model(b.s.model);  // the model error comes first
    b.s.input.values = read_tokens_file(p.string(), b.s.model.tokens, b.s.model.width);
    b.s.input.source = fs::absolute(p).lexically_normal().string();
    b.s.input.source_sha256 = sha256_file(p.string());
    if (!b.tokens_sha256.empty() && b.tokens_sha256 != b.s.input.source_sha256)
      throw InputError("input.tokens_sha256", "'" + b.s.input.source +
                                                  "' has changed since the run that recorded it "
                                                  "(SHA-256 " +
                                                  b.s.input.source_sha256 + ", recorded " +
                                                  b.tokens_sha256 + ")");
  }  // (a checksum without its tokens_file, e.g. after --set input.rho0=..., is moot)
  return b.s;
}

RunSpec load_resolved_run_spec(const ConfigSource& source) {
  return resolve_run(load_run_spec(source));
}

nlohmann::json run_spec_json(const RunSpec& s) {
  using nlohmann::json;
  const ModelSpec& m = s.model;
  json j;
  j["model"] = {{"kind", model_kind_name(m)},
                {"attention", m.attention == AttentionKind::shaped ? "shaped" : "softmax"},
                {"pre_norm", m.pre_norm},
                {"width", m.width},
                {"tokens", m.tokens},
                {"depth", m.depth},
                {"heads", m.heads},
                {"head_dim", m.head_dim},
                {"tau0", m.tau0},
                {"lambda", m.lambda},
                {"gamma", m.gamma},
                {"mlp", m.mlp},
                {"c_plus", m.c_plus},
                {"c_minus", m.c_minus},
                {"T", m.width > 0 ? double(m.depth) / m.width : 0.0}};
  if (m.post_norm)
    j["model"]["post_norm"] = true;      // only when set: older summaries read back alike
  if (m.norm_kind == NormKind::layer) {  // likewise
    j["model"]["norm_kind"] = "layer";
    j["model"]["norm_eps"] = m.norm_eps;
  }
  json in;
  switch (s.input.kind) {
    case InputSpec::Kind::correlation:
      in["rho0"] = s.input.rho0;
      break;
    case InputSpec::Kind::gram: {
      json rows = json::array();
      for (int a = 0; a < m.tokens; ++a) {
        json row = json::array();
        for (int b = 0; b < m.tokens; ++b)
          row.push_back(s.input.gram.at(std::size_t(a) * m.tokens + b));
        rows.push_back(row);
      }
      in["gram"] = rows;
      break;
    }
    case InputSpec::Kind::tokens:
      in["tokens_file"] = s.input.source;
      in["tokens_sha256"] = s.input.source_sha256;
      break;
  }
  j["input"] = in;
  j["ensemble"] = {{"members", s.members},
                   {"seed", s.seed},
                   {"record_every", s.record_every},
                   {"record_layers", s.record_layers},
                   {"sampler", sampler_name(s.sampler)},
                   {"chunk", s.chunk},
                   {"memory_cap", s.memory_cap},
                   {"overflow_threshold", s.overflow_threshold},
                   {"histogram_bins", s.histogram_bins},
                   {"quantiles", s.quantiles},
                   {"quantile_accuracy", s.quantile_accuracy},
                   {"rho_quantile_bins", s.rho_quantile_bins},
                   {"exact_quantiles", s.exact_quantiles},
                   {"member_begin", s.member_begin},
                   {"member_end", s.member_end}};
  j["run"] = {{"device", device_name(s.device)}, {"threads", s.threads}};
  return j;
}

namespace {

// A JSON value as TOML text (numbers keep every digit: nlohmann prints the
// shortest representation that reads back to the same double).
std::string toml_value(const nlohmann::json& v, const std::string& key) {
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  // Above 2^63 - 1 (a seed) TOML needs the digits as a string.
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(INT64_MAX))
    return "\"" + v.dump() + "\"";
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  if (v.is_number_float()) {
    std::string t = v.dump();
    if (t.find_first_of(".eEn") == std::string::npos) t += ".0";
    return t;
  }
  if (v.is_string()) return nlohmann::json(v.get<std::string>()).dump();
  if (v.is_array()) {
    std::string t = "[";
    for (std::size_t i = 0; i < v.size(); ++i) t += (i ? ", " : "") + toml_value(v[i], key);
    return t + "]";
  }
  throw InputError(key, "cannot be read back from the stored configuration");
}

}  // namespace

RunSpec run_spec_from_json(const nlohmann::json& config) {
  std::string text;
  for (const char* section : {"model", "input", "ensemble", "run"}) {
    if (!config.contains(section)) continue;
    text += std::string("[") + section + "]\n";
    for (const auto& [key, value] : config[section].items()) {
      if (std::string(section) == "model" && (key == "kind" || key == "T")) continue;  // derived
      // lambda, gamma < 0: ModelSpec's "not given" (derived from the other),
      // read back as such: the inverse of writing the spec as it is (the
      // sphere's stats.h5 holds an unresolved network model).
      if (std::string(section) == "model" && (key == "lambda" || key == "gamma") &&
          value.is_number() && value.get<double>() < 0)
        continue;
      text += key + " = " + toml_value(value, std::string(section) + "." + key) + "\n";
    }
  }
  ConfigSource source;
  source.text = text;
  return load_run_spec(source);
}

// .npy (format 1.0/2.0/3.0): little-endian float64 or float32, any rank, C order.
NpyArray read_npy_array(const std::string& path, const std::string& key) {
  const std::string data = read_text_file(path, key);
  if (data.size() < 10 || data.compare(0, 6, "\x93NUMPY") != 0)
    throw InputError(key, "'" + path + "' is not a .npy file");
  const int major = static_cast<unsigned char>(data[6]);
  std::size_t header_len, offset;
  if (major == 1) {
    header_len = std::size_t(static_cast<unsigned char>(data[8])) |
                 std::size_t(static_cast<unsigned char>(data[9])) << 8;
    offset = 10;
  } else {
    if (data.size() < 12) throw InputError(key, "'" + path + "': truncated .npy header");
    header_len = 0;
    for (int i = 0; i < 4; ++i)
      header_len |= std::size_t(static_cast<unsigned char>(data[8 + i])) << (8 * i);
    offset = 12;
  }
  if (offset + header_len > data.size())
    throw InputError(key, "'" + path + "': truncated .npy header");
  const std::string header = data.substr(offset, header_len);
  const bool f8 = header.find("'<f8'") != std::string::npos;
  const bool f4 = header.find("'<f4'") != std::string::npos;
  if (!f8 && !f4)
    throw InputError(key, "'" + path + "': only little-endian float64/float32 .npy is supported");
  if (header.find("'fortran_order': False") == std::string::npos)
    throw InputError(key, "'" + path + "': Fortran-ordered arrays are not supported");
  const std::size_t lp = header.find("'shape': (");
  const std::size_t rp = header.find(')', lp);
  if (lp == std::string::npos || rp == std::string::npos)
    throw InputError(key, "'" + path + "': no shape in the .npy header");
  NpyArray a;
  std::stringstream ss(header.substr(lp + 10, rp - lp - 10));
  std::string item;
  std::size_t count = 1;
  while (std::getline(ss, item, ','))
    if (item.find_first_not_of(' ') != std::string::npos) {
      a.shape.push_back(std::stoll(item));
      if (a.shape.back() < 0) throw InputError(key, "'" + path + "': negative extent");
      count *= std::size_t(a.shape.back());
    }
  const std::size_t size = f8 ? 8 : 4;
  const char* p = data.data() + offset + header_len;
  if (data.size() - offset - header_len < count * size)
    throw InputError(key, "'" + path + "': truncated data");
  a.data.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (f8) {
      std::memcpy(&a.data[i], p + i * 8, 8);
    } else {
      float x;
      std::memcpy(&x, p + i * 4, 4);
      a.data[i] = x;
    }
    if (!std::isfinite(a.data[i]))
      throw InputError(key, "'" + path + "': non-finite value at flat index " + std::to_string(i));
  }
  return a;
}

}  // namespace attnmc
