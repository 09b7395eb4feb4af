// TOML configuration -> RunSpec. The file and the overrides are merged into
// one TOML table first, then every key is applied by a setter that checks its
// type; unknown keys and sections are errors (a typo must not silently run
// the default experiment).
#include "host/config.hpp"

#include <toml++/toml.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>

#include "attnmc/error.hpp"

namespace attnmc {
namespace {

namespace fs = std::filesystem;

std::string toml_type(const toml::node& n) {
  std::ostringstream s;
  s << n.type();
  return s.str();
}

double get_double(const toml::node& n, const std::string& key) {
  double v;
  if (auto i = n.as_integer())
    v = double(i->get());
  else if (auto f = n.as_floating_point())
    v = f->get();
  else
    throw InputError(key, "expected a number, got " + toml_type(n));
  if (!std::isfinite(v)) throw InputError(key, "must be a finite number");
  return v;
}

std::int64_t get_integer(const toml::node& n, const std::string& key) {
  if (auto i = n.as_integer()) return i->get();
  if (auto f = n.as_floating_point()) {
    // 1e4 is a natural way to write a size; accept floats that are integers.
    const double v = f->get();
    if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 9e15) return std::int64_t(v);
  }
  throw InputError(key, "expected an integer, got " + toml_type(n));
}

int get_int(const toml::node& n, const std::string& key) {
  const std::int64_t v = get_integer(n, key);
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    throw InputError(key, "value " + std::to_string(v) + " is out of range");
  return int(v);
}

std::uint64_t get_count(const toml::node& n, const std::string& key) {
  const std::int64_t v = get_integer(n, key);
  if (v < 0) throw InputError(key, "must be >= 0, got " + std::to_string(v));
  return std::uint64_t(v);
}

// A seed: an integer 0 .. 2^63 - 1, or above that its digits as a string
// (TOML integers are signed 64-bit).
std::uint64_t get_seed(const toml::node& n, const std::string& key) {
  const std::string rule = std::string(kSeedRule) + " (above 2^63 - 1 written as a string)";
  std::uint64_t seed = 0;
  if (auto str = n.as_string()) {
    if (!parse_seed(str->get(), &seed)) throw InputError(key, rule + ", got '" + str->get() + "'");
    return seed;
  }
  if (auto i = n.as_integer(); i && i->get() < 0)
    throw InputError(key, rule + ", got " + std::to_string(i->get()));
  return get_count(n, key);
}

bool get_bool(const toml::node& n, const std::string& key) {
  if (auto b = n.as_boolean()) return b->get();
  throw InputError(key, "expected true or false, got " + toml_type(n));
}

std::string get_string(const toml::node& n, const std::string& key) {
  if (auto s = n.as_string()) return s->get();
  throw InputError(key, "expected a string, got " + toml_type(n));
}

const toml::array& get_array(const toml::node& n, const std::string& key) {
  if (auto a = n.as_array()) return *a;
  throw InputError(key, "expected an array, got " + toml_type(n));
}

// Settings that need the whole model to apply (file reads, preset order).
struct Pending {
  std::string preset;
  std::string tokens_file;  // absolute or relative to the config's directory
  fs::path base_dir;        // the config file's directory
};

using Setter = std::function<void(RunSpec&, Pending&, const toml::node&, const std::string&)>;

const std::map<std::string, std::map<std::string, Setter>>& setters() {
  static const std::map<std::string, std::map<std::string, Setter>> table = [] {
    std::map<std::string, std::map<std::string, Setter>> t;
    auto& model = t["model"];
    model["preset"] = [](RunSpec&, Pending& p, const toml::node& n, const std::string& k) {
      p.preset = get_string(n, k);
    };
    model["width"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.model.width = get_int(n, k);
    };
    model["tokens"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.model.tokens = get_int(n, k);
    };
    model["depth"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.model.depth = get_int(n, k);
    };
    model["heads"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.model.heads = get_int(n, k);
    };
    model["head_dim"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.model.head_dim = get_int(n, k);
    };
    model["tau0"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.model.tau0 = get_double(n, k);
    };
    // lambda / gamma given explicitly must lie in [0, 1] (negative is the
    // ModelSpec's internal "not given" marker, not a user value).
    model["lambda"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.model.lambda = get_double(n, k);
      if (s.model.lambda < 0 || s.model.lambda > 1) throw InputError(k, "must lie in [0, 1]");
    };
    model["gamma"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.model.gamma = get_double(n, k);
      if (s.model.gamma < 0 || s.model.gamma > 1) throw InputError(k, "must lie in [0, 1]");
    };
    model["mlp"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.model.mlp = get_bool(n, k);
    };
    model["c_plus"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.model.c_plus = get_double(n, k);
    };
    model["c_minus"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.model.c_minus = get_double(n, k);
    };
    model["attention"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      const std::string v = get_string(n, k);
      if (v == "shaped")
        s.model.attention = AttentionKind::shaped;
      else if (v == "softmax")
        s.model.attention = AttentionKind::softmax;
      else
        throw InputError(k, "expected \"shaped\" or \"softmax\", got \"" + v + "\"");
    };
    model["pre_norm"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.model.pre_norm = get_bool(n, k);
    };

    auto& input = t["input"];
    input["rho0"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.input.kind = InputSpec::Kind::correlation;
      s.input.rho0 = get_double(n, k);
    };
    input["gram"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      const toml::array& rows = get_array(n, k);
      std::vector<double> g;
      for (const toml::node& row : rows) {
        const toml::array& r = get_array(row, k);
        if (r.size() != rows.size())
          throw InputError(k, "expected a square array of arrays (" + std::to_string(rows.size()) +
                                  " rows, a row has " + std::to_string(r.size()) + " entries)");
        for (const toml::node& x : r) g.push_back(get_double(x, k));
      }
      s.input.kind = InputSpec::Kind::gram;
      s.input.gram = std::move(g);
    };
    input["tokens_file"] = [](RunSpec& s, Pending& p, const toml::node& n, const std::string& k) {
      s.input.kind = InputSpec::Kind::tokens;
      p.tokens_file = get_string(n, k);
      if (p.tokens_file.empty()) throw InputError(k, "empty path");
    };

    auto& ens = t["ensemble"];
    ens["members"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.members = get_count(n, k);
    };
    ens["seed"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.seed = get_seed(n, k);
    };
    ens["record_every"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.record_every = get_int(n, k);
    };
    ens["record_layers"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.record_layers.clear();
      for (const toml::node& x : get_array(n, k)) s.record_layers.push_back(get_int(x, k));
      if (s.record_layers.empty()) throw InputError(k, "empty list");
    };
    ens["sampler"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.sampler = parse_sampler(get_string(n, k), k);
    };
    ens["chunk"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.chunk = get_count(n, k);
    };
    ens["memory_cap"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      if (n.is_string())
        s.memory_cap = parse_byte_size(get_string(n, k), k);
      else
        s.memory_cap = get_count(n, k);
    };
    ens["overflow_threshold"] = [](RunSpec& s, Pending&, const toml::node& n,
                                   const std::string& k) {
      s.overflow_threshold = get_double(n, k);
    };
    ens["histogram_bins"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.histogram_bins = get_int(n, k);
    };
    ens["quantile_accuracy"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.quantile_accuracy = get_double(n, k);
    };
    ens["rho_quantile_bins"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.rho_quantile_bins = get_int(n, k);
    };
    ens["exact_quantiles"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.exact_quantiles = get_bool(n, k);
    };
    ens["member_begin"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.member_begin = get_count(n, k);
    };
    ens["member_end"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.member_end = get_count(n, k);
    };
    ens["quantiles"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.quantiles.clear();
      for (const toml::node& x : get_array(n, k)) s.quantiles.push_back(get_double(x, k));
      if (s.quantiles.empty()) throw InputError(k, "empty list");
    };

    auto& run = t["run"];
    run["device"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.device = parse_device(get_string(n, k), k);
    };
    run["threads"] = [](RunSpec& s, Pending&, const toml::node& n, const std::string& k) {
      s.threads = get_int(n, k);
    };
    return t;
  }();
  return table;
}

toml::table parse_toml(const std::string& text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << source << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
        << e.description();
    throw InputError("config", msg.str());
  }
}

// "key=value" -> (key, value node). The value is parsed as TOML; a bare word
// that is not TOML (softmax, cpu, 2GiB) becomes a string.
std::pair<std::string, toml::table> parse_override(const std::string& assignment) {
  const std::size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError("set", "expected key=value, got '" + assignment + "'");
  std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  while (!key.empty() && key.back() == ' ') key.pop_back();
  for (char c : key)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
      throw InputError("set", "bad key '" + key + "' in '" + assignment + "'");
  const std::size_t dot = key.find('.');
  if (dot == std::string::npos || key.find('.', dot + 1) != std::string::npos)
    throw InputError(key, "expected section.key (e.g. model.width), got '" + key + "'");
  if (value.empty()) throw InputError(key, "empty value");
  toml::table doc;
  try {
    doc = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    doc = toml::table{{"v", value}};
  }
  if (doc.size() != 1) throw InputError(key, "bad value '" + value + "'");
  toml::table t;
  t.insert(key.substr(dot + 1), *doc.get("v"));
  return {key, t};
}

void apply_table(const toml::table& root, RunSpec& spec, Pending& pending) {
  const auto& known = setters();
  // Preset first: it replaces the whole model, the other model keys refine it.
  if (auto model = root.get("model"); model && model->is_table())
    if (auto preset = model->as_table()->get("preset")) {
      pending.preset = get_string(*preset, "model.preset");
      const ModelSpec base = model_preset(pending.preset);
      spec.model = base;
    }
  for (const auto& [section_key, section] : root) {
    const std::string section_name(section_key.str());
    auto it = known.find(section_name);
    if (it == known.end())
      throw InputError(section_name,
                       "unknown section (expected [model], [input], [ensemble] or [run])");
    const toml::table* tbl = section.as_table();
    if (!tbl) throw InputError(section_name, "expected a table [" + section_name + "]");
    for (const auto& [key, value] : *tbl) {
      const std::string full = section_name + "." + std::string(key.str());
      auto setter = it->second.find(std::string(key.str()));
      if (setter == it->second.end()) {
        std::string valid;
        for (const auto& [name, unused] : it->second) valid += (valid.empty() ? "" : ", ") + name;
        throw InputError(full, "unknown key (valid in [" + section_name + "]: " + valid + ")");
      }
      if (full == "model.preset") continue;  // applied above
      setter->second(spec, pending, value, full);
    }
  }
}

std::string read_text_file(const std::string& path, const std::string& key) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))  // an ifstream "opens" a directory on Linux
    throw InputError(key, "cannot read '" + path + "': it is a directory");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(key, "cannot read '" + path + "': " + std::strerror(errno));
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// .npy (format 1.0/2.0/3.0): little-endian float64 or float32, 2-D, C order.
std::vector<double> read_npy(const std::string& path, int tokens, int width) {
  const std::string key = "input.tokens_file";
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
  std::vector<long long> shape;
  std::stringstream ss(header.substr(lp + 10, rp - lp - 10));
  std::string item;
  while (std::getline(ss, item, ','))
    if (item.find_first_not_of(' ') != std::string::npos) shape.push_back(std::stoll(item));
  if (shape.size() != 2 || shape[0] != tokens || shape[1] != width)
    throw InputError(key, "'" + path + "': expected shape (" + std::to_string(tokens) + ", " +
                              std::to_string(width) + ")");
  const std::size_t count = std::size_t(tokens) * width, size = f8 ? 8 : 4;
  const char* p = data.data() + offset + header_len;
  if (data.size() - offset - header_len < count * size)
    throw InputError(key, "'" + path + "': truncated data");
  std::vector<double> v(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (f8) {
      std::memcpy(&v[i], p + i * 8, 8);
    } else {
      float x;
      std::memcpy(&x, p + i * 4, 4);
      v[i] = x;
    }
  }
  return v;
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
  const std::string key = "input.tokens_file";
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".npy") == 0)
    return read_npy(path, tokens, width);
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
                                std::to_string(width) + " numbers (model.width), got " +
                                std::to_string(cols));
    ++rows;
  }
  if (rows != tokens)
    throw InputError(key, path + ": expected " + std::to_string(tokens) +
                              " rows (model.tokens), got " + std::to_string(rows));
  return v;
}

RunSpec load_run_spec(const ConfigSource& source) {
  toml::table root;
  Pending pending;
  if (!source.path.empty()) {
    root = parse_toml(read_text_file(source.path, "config"), source.path);
    pending.base_dir = fs::path(source.path).parent_path();
  } else if (!source.text.empty()) {
    root = parse_toml(source.text, "config");
  }
  for (const std::string& assignment : source.overrides) {
    auto [key, kv] = parse_override(assignment);
    const std::string section = key.substr(0, key.find('.'));
    const std::string name = key.substr(key.find('.') + 1);
    toml::node* existing = root.get(section);
    if (existing && !existing->is_table()) throw InputError(section, "expected a table");
    if (!existing) root.insert(section, toml::table{});
    toml::table& tbl = *root.get(section)->as_table();
    // Choosing one input kind on the command line replaces the file's choice.
    if (section == "input" && (name == "rho0" || name == "gram" || name == "tokens_file"))
      for (const char* other : {"rho0", "gram", "tokens_file"}) tbl.erase(other);
    tbl.insert_or_assign(name, *kv.get(name));
    // The override's own directory is the working directory.
    if (key == "input.tokens_file") pending.base_dir.clear();
  }
  if (auto input = root.get("input"); input && input->is_table()) {
    int kinds = 0;
    for (const char* k : {"rho0", "gram", "tokens_file"}) kinds += input->as_table()->contains(k);
    if (kinds > 1) throw InputError("input", "give one of rho0, gram or tokens_file, not several");
  }
  RunSpec spec;
  apply_table(root, spec, pending);
  if (spec.input.kind == InputSpec::Kind::tokens) {
    fs::path p(pending.tokens_file);
    if (p.is_relative() && !pending.base_dir.empty()) p = pending.base_dir / p;
    if (spec.model.tokens <= 0 || spec.model.width <= 0)
      (void)resolve_model(spec.model);  // the model error comes first
    spec.input.values = read_tokens_file(p.string(), spec.model.tokens, spec.model.width);
    spec.input.source = p.string();
  }
  return spec;
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
      text += key + " = " + toml_value(value, std::string(section) + "." + key) + "\n";
    }
  }
  ConfigSource source;
  source.text = text;
  return load_run_spec(source);
}

bool parse_seed(const std::string& text, std::uint64_t* seed) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
  if (errno == ERANGE) return false;
  *seed = std::uint64_t(v);
  return true;
}

}  // namespace attnmc
