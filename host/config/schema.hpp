// A command's configuration schema: sections of keys, each with a setter
// that reads a TOML value into the command's spec. Every command's schema
// reads the same table (host/config/toml_layer.hpp) with the same rules:
// unknown sections and keys are errors that list the valid names, and every
// error names the full dotted key. Keys common to several commands (the
// model coefficients, the ensemble and execution keys, the statistics
// options) are added by the shared helpers below, so they are spelled and
// checked alike everywhere.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "attnmc/error.hpp"
#include "attnmc/model_spec.hpp"
#include "attnmc/run_spec.hpp"
#include "host/config.hpp"
#include "host/config/toml_layer.hpp"

namespace attnmc {

template <class Build>
class Schema {
 public:
  using Setter = std::function<void(Build&, const toml::node&, const std::string& key)>;

  void key(const std::string& section, const std::string& name, Setter set) {
    sections_[section][name] = std::move(set);
  }
  bool has(const std::string& section, const std::string& name) const {
    auto it = sections_.find(section);
    return it != sections_.end() && it->second.count(name) > 0;
  }

  // Applies every key of `root` (skipping the dotted keys in `skip`, which
  // the caller applied itself, e.g. a preset that must come first).
  void apply(const toml::table& root, Build& b, const std::vector<std::string>& skip = {}) const {
    for (const auto& [section_key, section] : root) {
      const std::string name(section_key.str());
      auto it = sections_.find(name);
      if (it == sections_.end())
        throw InputError(name, "unknown section (expected " + list() + ")");
      const toml::table* tbl = section.as_table();
      if (!tbl) throw InputError(name, "expected a table [" + name + "]");
      for (const auto& [key, value] : *tbl) {
        const std::string full = name + "." + std::string(key.str());
        auto setter = it->second.find(std::string(key.str()));
        if (setter == it->second.end()) {
          std::string valid;
          for (const auto& [k, unused] : it->second) valid += (valid.empty() ? "" : ", ") + k;
          throw InputError(full, "unknown key (valid in [" + name + "]: " + valid + ")");
        }
        bool skipped = false;
        for (const std::string& s : skip) skipped = skipped || s == full;
        if (!skipped) setter->second(b, value, full);
      }
    }
  }

  // "[model], [input], [ensemble] or [run]"
  std::string list() const {
    std::vector<std::string> names;
    for (const auto& [n, unused] : sections_) names.push_back("[" + n + "]");
    std::string s;
    for (std::size_t i = 0; i < names.size(); ++i)
      s += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
    return s;
  }

 private:
  std::map<std::string, std::map<std::string, Setter>> sections_;
};

// [model] coefficients of the shaped Transformer; `geometry` adds width and
// depth (the SDE takes them as its reference network, compare sets them per
// width), `head_dim` the key width n_k (finite networks only).
// Build::model() gives the ModelSpec.
template <class Build>
void add_model_keys(Schema<Build>& s, bool geometry, bool head_dim) {
  auto num = [&s](const char* name, double ModelSpec::*field) {
    s.key("model", name, [field](Build& b, const toml::node& n, const std::string& k) {
      b.model().*field = get_double(n, k);
    });
  };
  auto integer = [&s](const char* name, int ModelSpec::*field) {
    s.key("model", name, [field](Build& b, const toml::node& n, const std::string& k) {
      b.model().*field = get_int(n, k);
    });
  };
  integer("tokens", &ModelSpec::tokens);
  integer("heads", &ModelSpec::heads);
  if (geometry) {
    integer("width", &ModelSpec::width);
    integer("depth", &ModelSpec::depth);
  }
  if (head_dim) integer("head_dim", &ModelSpec::head_dim);
  num("tau0", &ModelSpec::tau0);
  num("c_plus", &ModelSpec::c_plus);
  num("c_minus", &ModelSpec::c_minus);
  // lambda / gamma given explicitly must lie in [0, 1] (negative is the
  // ModelSpec's internal "not given" marker, not a user value).
  for (auto [name, field] :
       {std::pair{"lambda", &ModelSpec::lambda}, std::pair{"gamma", &ModelSpec::gamma}}) {
    s.key("model", name, [field = field](Build& b, const toml::node& n, const std::string& k) {
      // > 1 is refused by resolve_model unless both are given for a softmax model.
      const double v = get_double(n, k);
      if (v < 0) throw InputError(k, "must be >= 0");
      b.model().*field = v;
    });
  }
  s.key("model", "mlp", [](Build& b, const toml::node& n, const std::string& k) {
    b.model().mlp = get_bool(n, k);
  });
}

// [ensemble] seed, chunk, memory_cap and the member range, and [run]
// device and threads: every family's execution keys. Build::spec() gives a
// spec with those fields.
template <class Build>
void add_execution_keys(Schema<Build>& s) {
  s.key("ensemble", "seed", [](Build& b, const toml::node& n, const std::string& k) {
    b.spec().seed = get_seed(n, k);
  });
  s.key("ensemble", "chunk", [](Build& b, const toml::node& n, const std::string& k) {
    b.spec().chunk = get_count(n, k);
  });
  s.key("ensemble", "memory_cap", [](Build& b, const toml::node& n, const std::string& k) {
    b.spec().memory_cap = n.is_string() ? parse_byte_size(get_string(n, k), k) : get_count(n, k);
  });
  s.key("ensemble", "member_begin", [](Build& b, const toml::node& n, const std::string& k) {
    b.spec().member_begin = get_count(n, k);
  });
  s.key("ensemble", "member_end", [](Build& b, const toml::node& n, const std::string& k) {
    b.spec().member_end = get_count(n, k);
  });
  s.key("run", "device", [](Build& b, const toml::node& n, const std::string& k) {
    b.spec().device = parse_device(get_string(n, k), k);
  });
  s.key("run", "threads", [](Build& b, const toml::node& n, const std::string& k) {
    b.spec().threads = get_int(n, k);
  });
}

// [ensemble] statistics options of the Gram families (run, sde).
template <class Build>
void add_quantile_keys(Schema<Build>& s) {
  s.key("ensemble", "histogram_bins", [](Build& b, const toml::node& n, const std::string& k) {
    b.spec().histogram_bins = get_int(n, k);
  });
  s.key("ensemble", "quantile_accuracy", [](Build& b, const toml::node& n, const std::string& k) {
    b.spec().quantile_accuracy = get_double(n, k);
  });
  s.key("ensemble", "rho_quantile_bins", [](Build& b, const toml::node& n, const std::string& k) {
    b.spec().rho_quantile_bins = get_int(n, k);
  });
  s.key("ensemble", "exact_quantiles", [](Build& b, const toml::node& n, const std::string& k) {
    b.spec().exact_quantiles = get_bool(n, k);
  });
  s.key("ensemble", "quantiles", [](Build& b, const toml::node& n, const std::string& k) {
    b.spec().quantiles = get_doubles(n, k);
  });
}

// [input] rho0 and gram (V0 of the network's input); tokens files are read by
// the families that take them.
template <class Build>
void add_gram_input_keys(Schema<Build>& s) {
  s.key("input", "rho0", [](Build& b, const toml::node& n, const std::string& k) {
    b.input().kind = InputSpec::Kind::correlation;
    b.input().rho0 = get_double(n, k);
  });
  s.key("input", "gram", [](Build& b, const toml::node& n, const std::string& k) {
    const toml::array& rows = get_array(n, k);
    std::vector<double> g;
    for (const toml::node& row : rows) {
      const toml::array& r = get_array(row, k);
      if (r.size() != rows.size())
        throw InputError(k, "expected a square array of arrays (" + std::to_string(rows.size()) +
                                " rows, a row has " + std::to_string(r.size()) + " entries)");
      for (const toml::node& x : r) g.push_back(get_double(x, k));
    }
    b.input().kind = InputSpec::Kind::gram;
    b.input().gram = std::move(g);
  });
}

}  // namespace attnmc
