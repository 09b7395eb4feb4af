// Schemas of the SDE, sphere and compare commands (see family_config.hpp).
#include "host/config/family_config.hpp"

#include <filesystem>

#include "attnmc/error.hpp"
#include "host/config/schema.hpp"

namespace attnmc {
namespace {

namespace fs = std::filesystem;

struct SdeBuild {
  SdeSpec s;
  SdeSpec& spec() { return s; }
  ModelSpec& model() { return s.model; }
  InputSpec& input() { return s.input; }
};

const Schema<SdeBuild>& sde_schema() {
  static const Schema<SdeBuild> schema = [] {
    Schema<SdeBuild> t;
    add_model_keys(t, /*geometry=*/true, /*head_dim=*/false);
    add_gram_input_keys(t);
    t.key("sde", "dynamics", [](SdeBuild& b, const toml::node& n, const std::string& k) {
      b.s.dynamics = parse_sde_dynamics(get_string(n, k));
    });
    t.key("sde", "scheme", [](SdeBuild& b, const toml::node& n, const std::string& k) {
      b.s.scheme = parse_sde_scheme(get_string(n, k));
    });
    t.key("sde", "horizon", [](SdeBuild& b, const toml::node& n, const std::string& k) {
      b.s.horizon = get_double(n, k);
    });
    t.key("sde", "steps", [](SdeBuild& b, const toml::node& n, const std::string& k) {
      b.s.steps = std::int64_t(get_count(n, k));
    });
    t.key("sde", "dt", [](SdeBuild& b, const toml::node& n, const std::string& k) {
      b.s.dt = get_double(n, k);
    });
    t.key("sde", "record_every", [](SdeBuild& b, const toml::node& n, const std::string& k) {
      b.s.record_every = std::int64_t(get_count(n, k));
    });
    t.key("sde", "record_times", [](SdeBuild& b, const toml::node& n, const std::string& k) {
      b.s.record_times = get_doubles(n, k);
    });
    t.key("sde", "blowup_threshold", [](SdeBuild& b, const toml::node& n, const std::string& k) {
      b.s.blowup_threshold = get_double(n, k);
    });
    t.key("ensemble", "members", [](SdeBuild& b, const toml::node& n, const std::string& k) {
      b.s.trajectories = get_count(n, k);
    });
    add_execution_keys(t);
    add_quantile_keys(t);
    return t;
  }();
  return schema;
}

struct SphereBuild {
  SphereRun r;
  std::string init, tokens_file, qk_file;
  SphereSpec& spec() { return r.spec; }
};

const Schema<SphereBuild>& sphere_schema() {
  static const Schema<SphereBuild> schema = [] {
    Schema<SphereBuild> t;
    auto num = [&t](const char* section, const char* name, double SphereSpec::*field) {
      t.key(section, name, [field](SphereBuild& b, const toml::node& n, const std::string& k) {
        b.r.spec.*field = get_double(n, k);
      });
    };
    auto integer = [&t](const char* section, const char* name, auto SphereSpec::*field) {
      t.key(section, name, [field](SphereBuild& b, const toml::node& n, const std::string& k) {
        b.r.spec.*field = get_int(n, k);
      });
    };
    integer("model", "tokens", &SphereSpec::tokens);
    integer("model", "dim", &SphereSpec::dim);
    num("model", "beta", &SphereSpec::beta);
    num("model", "sigma", &SphereSpec::sigma);
    t.key("model", "qk_file", [](SphereBuild& b, const toml::node& n, const std::string& k) {
      b.qk_file = get_string(n, k);
      if (b.qk_file.empty()) throw InputError(k, "empty path");
    });
    t.key("sphere", "scheme", [](SphereBuild& b, const toml::node& n, const std::string& k) {
      try {
        b.r.spec.scheme = parse_scheme(get_string(n, k));
      } catch (const InputError& e) {
        throw InputError(k, std::string(e.what()).substr(e.parameter().size() + 2));
      }
    });
    t.key("sphere", "noise", [](SphereBuild& b, const toml::node& n, const std::string& k) {
      const std::string v = get_string(n, k);
      if (v == "matrix")
        b.r.spec.noise = SphereNoise::matrix;
      else if (v == "reduced")
        b.r.spec.noise = SphereNoise::reduced;
      else
        throw InputError(k, "expected matrix or reduced, got '" + v + "'");
    });
    num("sphere", "horizon", &SphereSpec::horizon);
    num("sphere", "dt", &SphereSpec::dt);
    num("sphere", "eps", &SphereSpec::eps);
    t.key("sphere", "steps", [](SphereBuild& b, const toml::node& n, const std::string& k) {
      b.r.spec.steps = std::int64_t(get_count(n, k));
    });
    t.key("sphere", "record_every", [](SphereBuild& b, const toml::node& n, const std::string& k) {
      b.r.spec.record_every = std::int64_t(get_count(n, k));
    });
    t.key("sphere", "flow", [](SphereBuild& b, const toml::node& n, const std::string& k) {
      b.r.flow = get_bool(n, k);
    });
    t.key("input", "init", [](SphereBuild& b, const toml::node& n, const std::string& k) {
      b.init = get_string(n, k);
      if (b.init != "rho0" && b.init != "uniform" && b.init != "tokens")
        throw InputError(k, "expected rho0, uniform or tokens, got '" + b.init + "'");
    });
    num("input", "rho0", &SphereSpec::rho0);
    t.key("input", "tokens_file", [](SphereBuild& b, const toml::node& n, const std::string& k) {
      b.tokens_file = get_string(n, k);
      if (b.tokens_file.empty()) throw InputError(k, "empty path");
    });
    t.key("ensemble", "members", [](SphereBuild& b, const toml::node& n, const std::string& k) {
      b.r.spec.trajectories = get_count(n, k);
    });
    add_execution_keys(t);
    integer("ensemble", "histogram_bins", &SphereSpec::histogram_bins);
    return t;
  }();
  return schema;
}

struct CompareBuild {
  CompareSpec s;
  CompareSpec& spec() { return s; }
  ModelSpec& model() { return s.model; }
  InputSpec& input() { return s.input; }
};

const Schema<CompareBuild>& compare_schema() {
  static const Schema<CompareBuild> schema = [] {
    Schema<CompareBuild> t;
    add_model_keys(t, /*geometry=*/false, /*head_dim=*/true);
    add_gram_input_keys(t);
    t.key("compare", "widths", [](CompareBuild& b, const toml::node& n, const std::string& k) {
      b.s.widths = get_ints(n, k);
    });
    t.key("compare", "horizon", [](CompareBuild& b, const toml::node& n, const std::string& k) {
      b.s.horizon = get_double(n, k);
    });
    t.key("compare", "records", [](CompareBuild& b, const toml::node& n, const std::string& k) {
      b.s.records = get_int(n, k);
    });
    t.key("compare", "trajectories",
          [](CompareBuild& b, const toml::node& n, const std::string& k) {
            b.s.trajectories = get_count(n, k);
          });
    t.key("compare", "sde_steps", [](CompareBuild& b, const toml::node& n, const std::string& k) {
      b.s.sde_steps = std::int64_t(get_count(n, k));
    });
    t.key("compare", "pair", [](CompareBuild& b, const toml::node& n, const std::string& k) {
      const std::vector<int> p = get_ints(n, k);
      if (p.size() != 2) throw InputError(k, "expected two token indices [a, b]");
      b.s.a = p[0];
      b.s.b = p[1];
    });
    t.key("ensemble", "members", [](CompareBuild& b, const toml::node& n, const std::string& k) {
      b.s.members = get_count(n, k);
    });
    t.key("ensemble", "seed", [](CompareBuild& b, const toml::node& n, const std::string& k) {
      b.s.seed = get_seed(n, k);
    });
    t.key("ensemble", "sampler", [](CompareBuild& b, const toml::node& n, const std::string& k) {
      b.s.sampler = parse_sampler(get_string(n, k), k);
    });
    t.key("ensemble", "quantiles", [](CompareBuild& b, const toml::node& n, const std::string& k) {
      b.s.quantiles = get_doubles(n, k);
    });
    t.key("run", "device", [](CompareBuild& b, const toml::node& n, const std::string& k) {
      b.s.device = parse_device(get_string(n, k), k);
    });
    t.key("run", "threads", [](CompareBuild& b, const toml::node& n, const std::string& k) {
      b.s.threads = get_int(n, k);
    });
    return t;
  }();
  return schema;
}

const std::vector<std::vector<std::string>> kGramInputs = {{"input.rho0", "input.gram"}};

}  // namespace

SdeSpec load_sde_spec(const ConfigSource& source) {
  const ConfigTable cfg = load_config_table(source, kGramInputs);
  SdeBuild b;
  sde_schema().apply(cfg.root, b);
  return b.s;
}

SphereRun load_sphere_run(const ConfigSource& source) {
  const ConfigTable cfg = load_config_table(source, {{"input.rho0", "input.tokens_file"}});
  SphereBuild b;
  sphere_schema().apply(cfg.root, b);
  SphereSpec& s = b.r.spec;
  if (b.init.empty()) b.init = !b.tokens_file.empty() ? "tokens" : "rho0";
  if (b.init == "tokens") {
    if (b.tokens_file.empty())
      throw InputError("input.tokens_file", "input.init = \"tokens\" needs input.tokens_file");
    s.init = SphereInit::tokens;
    if (s.tokens <= 0) throw InputError("model.tokens", "must be >= 1");
    if (s.dim <= 0) throw InputError("model.dim", "must be >= 1");
    s.tokens0 = read_sphere_tokens(config_path(cfg, "input.tokens_file", b.tokens_file), s.tokens,
                                   s.dim, "input.tokens_file");
  } else {
    if (!b.tokens_file.empty())
      throw InputError("input.tokens_file", "is read only with input.init = \"tokens\"");
    s.init = b.init == "uniform" ? SphereInit::uniform : SphereInit::rho0;
  }
  if (!b.qk_file.empty()) {
    if (s.dim <= 0) throw InputError("model.dim", "must be >= 1");
    s.qk = read_sphere_tokens(config_path(cfg, "model.qk_file", b.qk_file), s.dim, s.dim,
                              "model.qk_file");
  }
  return b.r;
}

CompareSpec load_compare_spec(const ConfigSource& source) {
  const ConfigTable cfg = load_config_table(source, kGramInputs);
  CompareBuild b;
  compare_schema().apply(cfg.root, b);
  return b.s;
}

}  // namespace attnmc
