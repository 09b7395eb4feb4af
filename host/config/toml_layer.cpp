// The shared configuration layer: file + overrides -> one TOML table, and
// the typed readers every schema uses.
#include "host/config/toml_layer.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "attnmc/error.hpp"

namespace attnmc {
namespace {

namespace fs = std::filesystem;

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

}  // namespace

std::string config_path(const ConfigTable& cfg, const std::string& key, const std::string& name) {
  fs::path p(name);
  bool from_override = false;
  for (const std::string& k : cfg.overridden) from_override = from_override || k == key;
  if (p.is_relative() && !from_override && !cfg.base_dir.empty()) p = cfg.base_dir / p;
  return p.string();
}

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

// An integer 0 .. 2^63 - 1, or above that its digits as a string (TOML
// integers are signed 64-bit).
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

std::vector<double> get_doubles(const toml::node& n, const std::string& key) {
  std::vector<double> v;
  for (const toml::node& x : get_array(n, key)) v.push_back(get_double(x, key));
  if (v.empty()) throw InputError(key, "empty list");
  return v;
}

std::vector<int> get_ints(const toml::node& n, const std::string& key) {
  std::vector<int> v;
  for (const toml::node& x : get_array(n, key)) v.push_back(get_int(x, key));
  if (v.empty()) throw InputError(key, "empty list");
  return v;
}

std::string read_text_file(const std::string& path, const std::string& key) {
  std::error_code ec;
  if (fs::is_directory(path, ec))  // an ifstream "opens" a directory on Linux
    throw InputError(key, "cannot read '" + path + "': it is a directory");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(key, "cannot read '" + path + "': " + std::strerror(errno));
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

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

std::string toml_text(const toml::node& value) {
  // Doubles in the shortest form that reads back to the same value (0.1, not
  // 0.10000000000000001), always with a '.' or an exponent; arrays element
  // by element; everything else as toml++ writes it.
  if (auto f = value.as_floating_point()) {
    const double x = f->get();
    if (std::isnan(x)) return "nan";
    if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, x);
    std::string t(buf, r.ptr);
    if (t.find_first_of(".e") == std::string::npos) t += ".0";
    return t;
  }
  if (auto a = value.as_array()) {
    std::string t = "[";
    for (std::size_t i = 0; i < a->size(); ++i) t += (i ? ", " : "") + toml_text(*a->get(i));
    return t + "]";
  }
  // Formats as the value of `v = ...` and strips the key.
  toml::table t;
  t.insert("v", value);
  std::ostringstream s;
  s << toml::toml_formatter(t, toml::format_flags::none);
  std::string text = s.str();
  const std::size_t eq = text.find('=');
  text = text.substr(eq + 1);
  while (!text.empty() && (text.front() == ' ')) text.erase(text.begin());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

ConfigTable load_config_table(const ConfigSource& source,
                              const std::vector<std::vector<std::string>>& exclusive) {
  ConfigTable out;
  if (!source.path.empty()) {
    out.root = parse_toml(read_text_file(source.path, "config"), source.path);
    out.base_dir = fs::path(source.path).parent_path();
  } else if (!source.text.empty()) {
    out.root = parse_toml(source.text, "config");
  }
  for (const std::string& assignment : source.overrides) {
    auto [key, kv] = parse_override(assignment);
    const std::string section = key.substr(0, key.find('.'));
    const std::string name = key.substr(key.find('.') + 1);
    toml::node* existing = out.root.get(section);
    if (existing && !existing->is_table()) throw InputError(section, "expected a table");
    if (!existing) out.root.insert(section, toml::table{});
    toml::table& tbl = *out.root.get(section)->as_table();
    // Choosing one of exclusive keys on the command line replaces the file's choice.
    for (const std::vector<std::string>& group : exclusive) {
      bool in_group = false;
      for (const std::string& g : group) in_group = in_group || g == key;
      if (!in_group) continue;
      for (const std::string& g : group)
        if (g.compare(0, section.size() + 1, section + ".") == 0)
          tbl.erase(g.substr(section.size() + 1));
    }
    tbl.insert_or_assign(name, *kv.get(name));
    out.overridden.push_back(key);
  }
  for (const std::vector<std::string>& group : exclusive) {
    std::string given;
    int count = 0;
    for (const std::string& g : group) {
      const std::size_t dot = g.find('.');
      const toml::node* sec = out.root.get(g.substr(0, dot));
      if (sec && sec->is_table() && sec->as_table()->contains(g.substr(dot + 1))) ++count;
    }
    if (count > 1) {
      std::string names;
      for (const std::string& g : group) names += (names.empty() ? "" : ", ") + g;
      throw InputError(group.front().substr(0, group.front().find('.')),
                       "give one of " + names + ", not several");
    }
  }
  return out;
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
