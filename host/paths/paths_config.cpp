// See paths_config.hpp.
#include "host/paths/paths_config.hpp"

#include <cmath>

#include "attnmc/error.hpp"
#include "host/config.hpp"
#include "host/config/schema.hpp"

namespace attnmc {

namespace {

namespace fs = std::filesystem;

struct PathsBuild {
  PathsSpec s;
  std::vector<std::vector<std::string>> layers;  // head names as given
  bool beta_list = false, beta_given = false;
  std::vector<std::vector<double>> beta;  // per layer and head (beta_list) or [[b]]
  double perturbation = 1.0, bos_strength = 1.5;
  bool width_given = false, widths_given = false, var_given = false, vars_given = false;
};

std::vector<std::vector<double>> nested_doubles(const toml::node& n, const std::string& k) {
  std::vector<std::vector<double>> v;
  for (const toml::node& row : get_array(n, k)) v.push_back(get_doubles(row, k));
  return v;
}

const Schema<PathsBuild>& paths_schema() {
  static const Schema<PathsBuild> schema = [] {
    Schema<PathsBuild> t;
    auto task_int = [&t](const char* name, int MarkovTaskSpec::*f) {
      t.key("task", name, [f](PathsBuild& b, const toml::node& n, const std::string& k) {
        b.s.task.markov.*f = get_int(n, k);
      });
    };
    auto task_num = [&t](const char* name, double MarkovTaskSpec::*f) {
      t.key("task", name, [f](PathsBuild& b, const toml::node& n, const std::string& k) {
        b.s.task.markov.*f = get_double(n, k);
      });
    };
    auto task_file = [&t](const char* name, std::string PathsTaskSpec::*f) {
      t.key("task", name, [f](PathsBuild& b, const toml::node& n, const std::string& k) {
        b.s.task.*f = get_string(n, k);
        if ((b.s.task.*f).empty()) throw InputError(k, "empty path");
      });
    };
    t.key("task", "kind", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      const std::string v = get_string(n, k);
      if (v == "markov")
        b.s.task.kind = PathsTaskKind::markov;
      else if (v == "file")
        b.s.task.kind = PathsTaskKind::file;
      else
        throw InputError(k, "expected markov or file, got '" + v + "'");
    });
    t.key("task", "seed", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.s.task.seed = get_seed(n, k);
    });
    task_int("train", &MarkovTaskSpec::train);
    task_int("test", &MarkovTaskSpec::test);
    task_int("tokens", &MarkovTaskSpec::tokens);
    task_int("features", &MarkovTaskSpec::features);
    t.key("task", "positions", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.s.task.markov.positions = get_bool(n, k);
    });
    task_num("stay_a", &MarkovTaskSpec::stay_a);
    task_num("stay_b", &MarkovTaskSpec::stay_b);
    task_num("first_plus", &MarkovTaskSpec::first_plus);
    task_num("noise_sum", &MarkovTaskSpec::noise_sum);
    task_num("noise_diff", &MarkovTaskSpec::noise_diff);
    task_num("noise_out", &MarkovTaskSpec::noise_out);
    task_file("train_file", &PathsTaskSpec::train_file);
    task_file("train_labels", &PathsTaskSpec::train_labels);
    task_file("test_file", &PathsTaskSpec::test_file);
    task_file("test_labels", &PathsTaskSpec::test_labels);

    t.key("heads", "layers", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.layers.clear();
      for (const toml::node& row : get_array(n, k)) {
        std::vector<std::string> names;
        for (const toml::node& x : get_array(row, k)) names.push_back(get_string(x, k));
        b.layers.push_back(names);
      }
    });
    t.key("heads", "beta", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.beta_given = true;
      b.beta_list = n.is_array();
      b.beta =
          b.beta_list ? nested_doubles(n, k) : std::vector<std::vector<double>>{{get_double(n, k)}};
    });
    t.key("heads", "perturbation", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.perturbation = get_double(n, k);
    });
    t.key("heads", "bos_strength", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.bos_strength = get_double(n, k);
    });

    t.key("model", "width", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.width_given = true;
      b.s.widths = {get_int(n, k)};
    });
    t.key("model", "widths", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.widths_given = true;
      b.s.widths = get_ints(n, k);
    });
    t.key("model", "variance", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.var_given = true;
      b.s.variances = {get_double(n, k)};
    });
    t.key("model", "variances", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.vars_given = true;
      b.s.variances = get_doubles(n, k);
    });
    t.key("model", "temperature", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.s.temperature = get_double(n, k);
    });
    t.key("model", "readout", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      const std::string v = get_string(n, k);
      if (v == "last")
        b.s.readout = ReadoutToken::last;
      else if (v == "first")
        b.s.readout = ReadoutToken::first;
      else if (v == "mean")
        b.s.readout = ReadoutToken::mean;
      else
        throw InputError(k, "expected last, first or mean, got '" + v + "'");
    });

    t.key("ensemble", "members", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.s.members = get_count(n, k);
      if (b.s.members < 1) throw InputError(k, "must be >= 1");
    });
    t.key("ensemble", "seed", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.s.seed = get_seed(n, k);
    });
    t.key("ensemble", "chunk", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.s.chunk = get_count(n, k);
    });
    t.key("ensemble", "memory_cap", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.s.memory_cap = n.is_string() ? parse_byte_size(get_string(n, k), k) : get_count(n, k);
    });
    t.key("ensemble", "path_sequences",
          [](PathsBuild& b, const toml::node& n, const std::string& k) {
            b.s.path_sequences = get_int(n, k);
          });
    t.key("ensemble", "z_tolerance", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.s.z_tolerance = get_double(n, k);
    });
    t.key("run", "mode", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.s.mode = get_string(n, k);
    });
    t.key("run", "device", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.s.device = parse_device(get_string(n, k), k);
    });
    t.key("run", "threads", [](PathsBuild& b, const toml::node& n, const std::string& k) {
      b.s.threads = get_int(n, k);
    });
    return t;
  }();
  return schema;
}

HeadKind parse_head(const std::string& v, std::string& file) {
  if (v == "same_token") return HeadKind::same_token;
  if (v == "uniform") return HeadKind::uniform;
  if (v == "random") return HeadKind::random;
  if (v.rfind("file:", 0) == 0 && v.size() > 5) {
    file = v.substr(5);
    return HeadKind::file;
  }
  throw InputError("heads.layers",
                   "expected same_token, uniform, random or file:PATH, got '" + v + "'");
}

}  // namespace

PathsConfig load_paths_config(const ConfigSource& source,
                              const std::vector<std::string>& mode_sections) {
  PathsConfig out;
  ConfigTable cfg = load_config_table(source);
  out.root = cfg.root;
  out.base_dir = cfg.base_dir;
  toml::table core = cfg.root;
  for (const std::string& s : mode_sections) core.erase(s);
  PathsBuild b;
  b.layers = {{"same_token", "random"}, {"uniform", "random"}};
  b.s.widths = {100};
  b.s.variances = {1.0};
  paths_schema().apply(core, b);
  if (b.width_given && b.widths_given)
    throw InputError("model.widths", "give model.width or model.widths, not both");
  if (b.var_given && b.vars_given)
    throw InputError("model.variances", "give model.variance or model.variances, not both");
  PathsSpec& s = b.s;
  // A single value is checked under its own key before it is repeated.
  if (b.var_given && !(s.variances[0] > 0 && std::isfinite(s.variances[0])))
    throw InputError("model.variance", "must be positive and finite");
  if (b.width_given && (s.widths[0] < 1 || s.widths[0] > (1 << 20)))
    throw InputError("model.width", "must be in [1, 2^20]");
  s.heads.clear();
  for (std::size_t l = 0; l < b.layers.size(); ++l) {
    std::vector<HeadSpec> layer;
    for (std::size_t h = 0; h < b.layers[l].size(); ++h) {
      HeadSpec hs;
      std::string file;
      hs.kind = parse_head(b.layers[l][h], file);
      if (hs.kind == HeadKind::file) hs.file = config_path(cfg, "heads.layers", file);
      if (b.beta_given) {
        if (!b.beta_list) {
          hs.beta = b.beta[0][0];
        } else {
          if (b.beta.size() != b.layers.size() || b.beta[l].size() != b.layers[l].size())
            throw InputError("heads.beta",
                             "a list of betas must have the shape of heads.layers (one per head)");
          hs.beta = b.beta[l][h];
        }
      }
      hs.perturbation = b.perturbation;
      hs.bos_strength = b.bos_strength;
      layer.push_back(hs);
    }
    s.heads.push_back(layer);
  }
  for (std::string* f :
       {&s.task.train_file, &s.task.train_labels, &s.task.test_file, &s.task.test_labels})
    if (!f->empty()) {
      const char* key = f == &s.task.train_file     ? "task.train_file"
                        : f == &s.task.train_labels ? "task.train_labels"
                        : f == &s.task.test_file    ? "task.test_file"
                                                    : "task.test_labels";
      *f = config_path(cfg, key, *f);
    }
  if (!s.task.train_file.empty() && !cfg.root.at_path("task.kind"))
    s.task.kind = PathsTaskKind::file;
  out.spec = resolve_paths(s);
  return out;
}

nlohmann::json paths_spec_json(const PathsSpec& s) {
  nlohmann::json task = {{"kind", s.task.kind == PathsTaskKind::markov ? "markov" : "file"},
                         {"seed", s.task.seed}};
  if (s.task.kind == PathsTaskKind::markov) {
    const MarkovTaskSpec& m = s.task.markov;
    task.update({{"train", m.train},
                 {"test", m.test},
                 {"tokens", m.tokens},
                 {"features", m.features},
                 {"positions", m.positions},
                 {"stay_a", m.stay_a},
                 {"stay_b", m.stay_b},
                 {"first_plus", m.first_plus},
                 {"noise_sum", m.noise_sum},
                 {"noise_diff", m.noise_diff},
                 {"noise_out", m.noise_out}});
  } else {
    task["train_file"] = s.task.train_file;
    task["train_labels"] = s.task.train_labels;
    if (!s.task.test_file.empty()) {
      task["test_file"] = s.task.test_file;
      task["test_labels"] = s.task.test_labels;
    }
  }
  nlohmann::json layers = nlohmann::json::array(), beta = nlohmann::json::array();
  for (const auto& layer : s.heads) {
    nlohmann::json names = nlohmann::json::array(), betas = nlohmann::json::array();
    for (const HeadSpec& h : layer) {
      names.push_back(h.kind == HeadKind::file ? "file:" + h.file : head_kind_name(h.kind));
      betas.push_back(h.beta);
    }
    layers.push_back(names);
    beta.push_back(betas);
  }
  const HeadSpec& h0 = s.heads[0][0];
  return {{"task", task},
          {"heads",
           {{"layers", layers},
            {"beta", beta},
            {"perturbation", h0.perturbation},
            {"bos_strength", h0.bos_strength}}},
          {"model",
           {{"widths", s.widths},
            {"variances", s.variances},
            {"temperature", s.temperature},
            {"readout", readout_name(s.readout)}}},
          {"ensemble",
           {{"members", s.members},
            {"seed", s.seed},
            {"path_sequences", s.path_sequences},
            {"z_tolerance", s.z_tolerance}}},
          {"run", {{"mode", s.mode}}}};
}

}  // namespace attnmc
