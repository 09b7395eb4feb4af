// Sweep files -> plans of cells (see sweep_plan.hpp for the format and the
// seed rules).
#include "host/sweep/sweep_plan.hpp"

#include <filesystem>
#include <sstream>

#include "attnmc/error.hpp"

namespace attnmc::sweep {
namespace {

namespace fs = std::filesystem;

std::uint64_t splitmix64(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint64_t fnv1a64(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// [base]'s sections as "section.key=value" overrides.
std::vector<std::string> base_overrides(const toml::table& base) {
  std::vector<std::string> out;
  for (const auto& [section, node] : base) {
    const toml::table* t = node.as_table();
    if (!t) throw InputError("base." + std::string(section.str()), "expected a table of keys");
    for (const auto& [key, value] : *t) {
      const std::string full = std::string(section.str()) + "." + std::string(key.str());
      if (value.is_table())
        throw InputError("base." + full, "expected a value (keys are section.key)");
      out.push_back(full + "=" + toml_text(value));
    }
  }
  return out;
}

}  // namespace

const char* seed_rule_name(SeedRule r) {
  switch (r) {
    case SeedRule::fixed:
      return "fixed";
    case SeedRule::index:
      return "index";
    default:
      return "derived";
  }
}

std::uint64_t derived_seed(std::uint64_t base,
                           const std::vector<std::pair<std::string, std::string>>& params) {
  std::string text;
  for (const auto& [k, v] : params) text += k + "=" + v + "\n";
  return splitmix64(base ^ fnv1a64(text));
}

std::uint64_t index_seed(std::uint64_t base, const std::vector<std::size_t>& position) {
  std::uint64_t z = base;
  const std::size_t n = position.size();
  for (std::size_t k = 0; k < n; ++k) z ^= std::uint64_t(position[k]) << (21 * (n - 1 - k));
  return splitmix64(z);
}

nlohmann::json Plan::identity() const {
  // Values, not spellings: the merged configuration (file and [base]) as
  // data, the axes and every cell's seed. A moved or reformatted file, or a
  // --seed equal to the file's, is the same sweep.
  std::ostringstream config;
  config << toml::json_formatter(load_config_table(base).root);
  nlohmann::json axes_json = nlohmann::json::array();
  for (const Axis& a : axes) axes_json.push_back({{"key", a.key}, {"values", a.values}});
  nlohmann::json cells_json = nlohmann::json::array();
  for (const Cell& c : cells) cells_json.push_back({{"params", c.params}, {"seed", c.seed}});
  return {{"command", command},
          {"mode", mode},
          {"seed", seed_rule_name(seed_rule)},
          {"flags", flags},
          {"config", nlohmann::json::parse(config.str())},
          {"axes", axes_json},
          {"cells", cells_json}};
}

Plan read_plan(const std::string& path) {
  const std::string text = read_text_file(path, "sweep");
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    throw InputError("sweep", path + ":" + std::to_string(e.source().begin.line) + ": " +
                                  std::string(e.description()));
  }
  for (const auto& [k, unused] : root)
    if (k.str() != "sweep" && k.str() != "base")
      throw InputError(std::string(k.str()),
                       "unknown section of a sweep file (expected [sweep], "
                       "[[sweep.axis]] or [base.SECTION])");
  const toml::table* sw = root["sweep"].as_table();
  if (!sw) throw InputError("sweep", "the file has no [sweep] table");
  Plan p;
  for (const auto& [k, v] : *sw) {
    const std::string key = "sweep." + std::string(k.str());
    if (k.str() == "command") {
      p.command = get_string(v, key);
    } else if (k.str() == "config") {
      fs::path c(get_string(v, key));
      if (c.is_relative()) c = fs::path(path).parent_path() / c;
      p.base.path = fs::absolute(c).lexically_normal().string();
      (void)read_text_file(p.base.path, key);  // readable, or the error names sweep.config
    } else if (k.str() == "mode") {
      p.mode = get_string(v, key);
      if (p.mode != "grid" && p.mode != "zip")
        throw InputError(key, "expected \"grid\" or \"zip\", got \"" + p.mode + "\"");
    } else if (k.str() == "seed") {
      const std::string s = get_string(v, key);
      if (s == "fixed")
        p.seed_rule = SeedRule::fixed;
      else if (s == "derived")
        p.seed_rule = SeedRule::derived;
      else if (s == "index")
        p.seed_rule = SeedRule::index;
      else
        throw InputError(key, "expected \"derived\", \"fixed\" or \"index\", got \"" + s + "\"");
    } else if (k.str() == "check_step") {
      if (get_bool(v, key)) p.flags["check-step"] = true;
    } else if (k.str() == "axis") {
      const toml::array* arr = v.as_array();
      if (!arr) throw InputError(key, "expected [[sweep.axis]] tables");
      for (const toml::node& a : *arr) {
        const toml::table* t = a.as_table();
        if (!t) throw InputError(key, "expected [[sweep.axis]] tables with key and values");
        Axis axis;
        for (const auto& [ak, av] : *t) {
          if (ak.str() == "key")
            axis.key = get_string(av, key + ".key");
          else if (ak.str() == "values")
            for (const toml::node& x : get_array(av, key + ".values"))
              axis.values.push_back(toml_text(x));
          else
            throw InputError(key + "." + std::string(ak.str()), "unknown key (valid: key, values)");
        }
        if (axis.key.empty()) throw InputError(key, "an axis needs a key");
        if (axis.values.empty()) throw InputError(key, "axis " + axis.key + " has no values");
        for (const Axis& other : p.axes)
          if (other.key == axis.key) throw InputError(key, "axis " + axis.key + " given twice");
        p.axes.push_back(std::move(axis));
      }
    } else {
      throw InputError(
          key, "unknown key (valid in [sweep]: command, config, mode, seed, check_step, axis)");
    }
  }
  if (p.command.empty()) throw InputError("sweep.command", "missing (e.g. command = \"run\")");
  if (const toml::table* base = root["base"].as_table()) p.base.overrides = base_overrides(*base);
  return p;
}

void expand(Plan& p, const std::string& builtin) {
  if (p.base.path.empty()) p.base.text = builtin;
  if (p.mode == "zip")
    for (const Axis& a : p.axes)
      if (a.values.size() != p.axes.front().values.size())
        throw InputError("sweep.axis", "zip needs lists of one length: " + p.axes.front().key +
                                           " has " + std::to_string(p.axes.front().values.size()) +
                                           ", " + a.key + " has " +
                                           std::to_string(a.values.size()));
  if (p.seed_rule == SeedRule::index && p.axes.size() > 3)
    throw InputError("sweep.seed", "\"index\" takes at most three axes");
  // The base seed: ensemble.seed of the file and [base] (1 when not given).
  const ConfigTable cfg = load_config_table(p.base);
  p.base_seed = 1;
  if (const toml::node* s = cfg.root.at_path("ensemble.seed").node())
    p.base_seed = get_seed(*s, "ensemble.seed");
  std::size_t total = p.axes.empty() ? 1 : p.mode == "zip" ? p.axes.front().values.size() : 1;
  if (p.mode == "grid")
    for (const Axis& a : p.axes) total *= a.values.size();
  p.cells.clear();
  for (std::size_t i = 0; i < total; ++i) {
    Cell c;
    c.index = i;
    std::vector<std::size_t> position(p.axes.size());
    std::size_t rest = i;
    for (std::size_t k = p.axes.size(); k-- > 0;) {
      const std::size_t n = p.axes[k].values.size();
      position[k] = p.mode == "zip" ? i : rest % n;
      rest = p.mode == "zip" ? rest : rest / n;
    }
    for (std::size_t k = 0; k < p.axes.size(); ++k)
      c.params.emplace_back(p.axes[k].key, p.axes[k].values[position[k]]);
    c.source = p.base;
    for (const auto& [key, value] : c.params) c.source.overrides.push_back(key + "=" + value);
    switch (p.seed_rule) {
      case SeedRule::fixed:
        c.seed = p.base_seed;
        break;
      case SeedRule::derived:
        c.seed = derived_seed(p.base_seed, c.params);
        break;
      case SeedRule::index:
        c.seed = index_seed(p.base_seed, position);
        break;
    }
    if (p.seed_rule != SeedRule::fixed)
      c.source.overrides.push_back("ensemble.seed=\"" + std::to_string(c.seed) + "\"");
    p.cells.push_back(std::move(c));
  }
}

}  // namespace attnmc::sweep
