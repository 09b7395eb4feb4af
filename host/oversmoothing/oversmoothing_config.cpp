// See oversmoothing_config.hpp.
#include "host/oversmoothing/oversmoothing_config.hpp"

#include <filesystem>

#include "attnmc/error.hpp"
#include "host/config.hpp"
#include "host/config/schema.hpp"

namespace attnmc {

const char* spectrum_name(SpectrumKind k) {
  static const char* const names[] = {"list", "range", "uniform", "minus", "plus", "file"};
  return names[int(k)];
}
const char* eigvecs_name(EigvecKind k) {
  static const char* const names[] = {"orthogonal", "gaussian", "file"};
  return names[int(k)];
}
const char* attention_name(OsAttentionKind k) {
  static const char* const names[] = {"softmax", "random", "circulant", "file"};
  return names[int(k)];
}
const char* norm_name(NormPlacement k) {
  static const char* const names[] = {"none", "post", "pre"};
  return names[int(k)];
}

namespace {

namespace fs = std::filesystem;

struct OsBuild {
  OversmoothingSpec s;
  bool given = false;
  std::string h_file, u_file, a_file, gain_file;
  OversmoothingSpec& spec() { return s; }
  InputSpec& input() {
    given = true;
    return s.given_input;
  }
};

template <typename E, std::size_t N>
E parse_enum(const std::string& v, const char* const (&names)[N], const std::string& key) {
  std::string list;
  for (std::size_t i = 0; i < N; ++i) {
    if (v == names[i]) return E(i);
    list += (i ? ", " : "") + std::string(names[i]);
  }
  throw InputError(key, "expected one of " + list + ", got '" + v + "'");
}

const Schema<OsBuild>& os_schema() {
  static const Schema<OsBuild> schema = [] {
    Schema<OsBuild> t;
    auto integer = [&t](const char* sec, const char* name, int OversmoothingSpec::*f) {
      t.key(sec, name,
            [f](OsBuild& b, const toml::node& n, const std::string& k) { b.s.*f = get_int(n, k); });
    };
    auto num = [&t](const char* sec, const char* name, double OversmoothingSpec::*f) {
      t.key(sec, name, [f](OsBuild& b, const toml::node& n, const std::string& k) {
        b.s.*f = get_double(n, k);
      });
    };
    auto flag = [&t](const char* sec, const char* name, bool OversmoothingSpec::*f) {
      t.key(sec, name, [f](OsBuild& b, const toml::node& n, const std::string& k) {
        b.s.*f = get_bool(n, k);
      });
    };
    auto file = [&t](const char* name, std::string OsBuild::*f) {
      t.key("model", name, [f](OsBuild& b, const toml::node& n, const std::string& k) {
        b.*f = get_string(n, k);
        if ((b.*f).empty()) throw InputError(k, "empty path");
      });
    };
    integer("model", "tokens", &OversmoothingSpec::tokens);
    integer("model", "width", &OversmoothingSpec::width);
    integer("model", "depth", &OversmoothingSpec::depth);
    integer("model", "head_dim", &OversmoothingSpec::head_dim);
    t.key("model", "spectrum", [](OsBuild& b, const toml::node& n, const std::string& k) {
      static const char* const names[] = {"list", "range", "uniform", "minus", "plus", "file"};
      b.s.spectrum = parse_enum<SpectrumKind>(get_string(n, k), names, k);
    });
    t.key("model", "lambdas", [](OsBuild& b, const toml::node& n, const std::string& k) {
      b.s.lambdas = n.is_array() ? get_doubles(n, k) : std::vector<double>{get_double(n, k)};
    });
    num("model", "lambda_lo", &OversmoothingSpec::lambda_lo);
    num("model", "lambda_hi", &OversmoothingSpec::lambda_hi);
    num("model", "psi_scale", &OversmoothingSpec::psi_scale);
    t.key("model", "eigvecs", [](OsBuild& b, const toml::node& n, const std::string& k) {
      static const char* const names[] = {"orthogonal", "gaussian", "file"};
      b.s.eigvecs = parse_enum<EigvecKind>(get_string(n, k), names, k);
    });
    file("h_file", &OsBuild::h_file);
    file("u_file", &OsBuild::u_file);
    flag("model", "fresh_h", &OversmoothingSpec::fresh_h);
    t.key("model", "attention", [](OsBuild& b, const toml::node& n, const std::string& k) {
      static const char* const names[] = {"softmax", "random", "circulant", "file"};
      b.s.attention = parse_enum<OsAttentionKind>(get_string(n, k), names, k);
    });
    flag("model", "fresh_qk", &OversmoothingSpec::fresh_qk);
    num("model", "temperature", &OversmoothingSpec::temperature);
    num("model", "a_scale", &OversmoothingSpec::a_scale);
    file("a_file", &OsBuild::a_file);
    t.key("model", "norm", [](OsBuild& b, const toml::node& n, const std::string& k) {
      static const char* const names[] = {"none", "post", "pre"};
      b.s.norm = parse_enum<NormPlacement>(get_string(n, k), names, k);
    });
    t.key("model", "norm_kind", [](OsBuild& b, const toml::node& n, const std::string& k) {
      static const char* const names[] = {"layer", "rms"};
      b.s.norm_kind = parse_enum<NormKind>(get_string(n, k), names, k);
    });
    t.key("model", "gain", [](OsBuild& b, const toml::node& n, const std::string& k) {
      b.s.gain = n.is_array() ? get_doubles(n, k) : std::vector<double>{get_double(n, k)};
    });
    file("gain_file", &OsBuild::gain_file);
    num("model", "bias", &OversmoothingSpec::bias);
    num("model", "norm_eps", &OversmoothingSpec::norm_eps);
    add_gram_input_keys(t);
    t.key("input", "tokens_file", [](OsBuild& b, const toml::node& n, const std::string& k) {
      b.input().kind = InputSpec::Kind::tokens;
      b.s.given_input.source = get_string(n, k);
      if (b.s.given_input.source.empty()) throw InputError(k, "empty path");
    });
    t.key("ensemble", "members", [](OsBuild& b, const toml::node& n, const std::string& k) {
      b.s.members = get_count(n, k);
    });
    integer("ensemble", "record_every", &OversmoothingSpec::record_every);
    t.key("ensemble", "record_layers", [](OsBuild& b, const toml::node& n, const std::string& k) {
      b.s.record_layers = get_ints(n, k);
    });
    t.key("ensemble", "gram_statistics", [](OsBuild& b, const toml::node& n, const std::string& k) {
      if (n.is_string() && get_string(n, k) == "auto")
        b.s.gram_statistics = -1;
      else
        b.s.gram_statistics = get_bool(n, k) ? 1 : 0;
    });
    num("ensemble", "quantile_accuracy", &OversmoothingSpec::quantile_accuracy);
    integer("ensemble", "histogram_bins", &OversmoothingSpec::histogram_bins);
    t.key("ensemble", "quantiles", [](OsBuild& b, const toml::node& n, const std::string& k) {
      b.s.quantiles = get_doubles(n, k);
    });
    num("ensemble", "smooth_tol", &OversmoothingSpec::smooth_tol);
    num("ensemble", "rank_tol", &OversmoothingSpec::rank_tol);
    add_execution_keys(t);
    return t;
  }();
  return schema;
}

}  // namespace

OversmoothingSpec load_oversmoothing_spec(const ConfigSource& source) {
  const ConfigTable cfg =
      load_config_table(source, {{"input.rho0", "input.gram", "input.tokens_file"}});
  OsBuild b;
  os_schema().apply(cfg.root, b);
  OversmoothingSpec& s = b.s;
  s.input = b.given ? OversmoothInputKind::given : OversmoothInputKind::random;
  const bool files = !b.h_file.empty() || !b.u_file.empty() || !b.a_file.empty() ||
                     !b.gain_file.empty() || s.given_input.kind == InputSpec::Kind::tokens;
  if (files) {  // the shapes the files must have
    if (s.tokens < 1) throw InputError("model.tokens", "must be >= 1");
    if (s.width < 1) throw InputError("model.width", "must be >= 1");
  }
  auto read = [&](const std::string& name, const char* key, int rows, int cols,
                  const char* rows_key, const char* cols_key) {
    return read_matrix_file(config_path(cfg, key, name), rows, cols, key, rows_key, cols_key);
  };
  if (!b.h_file.empty()) {
    if (s.spectrum != SpectrumKind::file && cfg.root.at_path("model.spectrum"))
      throw InputError("model.h_file", "is read only with model.spectrum = \"file\"");
    s.spectrum = SpectrumKind::file;
    s.h_matrix = read(b.h_file, "model.h_file", s.width, s.width, "model.width", "model.width");
  } else if (s.spectrum == SpectrumKind::file) {
    throw InputError("model.spectrum", "\"file\" needs model.h_file");
  }
  if (!b.u_file.empty()) {
    s.eigvecs = EigvecKind::file;
    s.u_matrix = read(b.u_file, "model.u_file", s.width, s.width, "model.width", "model.width");
  } else if (s.eigvecs == EigvecKind::file) {
    throw InputError("model.eigvecs", "\"file\" needs model.u_file");
  }
  if (!b.a_file.empty()) {
    s.attention = OsAttentionKind::file;
    s.a_matrix = read(b.a_file, "model.a_file", s.tokens, s.tokens, "model.tokens", "model.tokens");
  } else if (s.attention == OsAttentionKind::file) {
    throw InputError("model.attention", "\"file\" needs model.a_file");
  }
  if (!b.gain_file.empty())
    s.gain = read(b.gain_file, "model.gain_file", 1, s.width, "one row", "model.width");
  if (s.given_input.kind == InputSpec::Kind::tokens && b.given) {
    const std::string path = config_path(cfg, "input.tokens_file", s.given_input.source);
    s.given_input.values = read_matrix_file(path, s.tokens, s.width, "input.tokens_file",
                                            "model.tokens", "model.width");
    s.given_input.source = fs::absolute(path).string();
  }
  return s;
}

nlohmann::json oversmoothing_spec_json(const OversmoothingSpec& s) {
  nlohmann::json model = {{"tokens", s.tokens},
                          {"width", s.width},
                          {"depth", s.depth},
                          {"head_dim", s.head_dim},
                          {"spectrum", spectrum_name(s.spectrum)},
                          {"eigvecs", eigvecs_name(s.eigvecs)},
                          {"fresh_h", s.fresh_h},
                          {"attention", attention_name(s.attention)},
                          {"fresh_qk", s.fresh_qk},
                          {"temperature", s.temperature},
                          {"a_scale", s.a_scale},
                          {"norm", norm_name(s.norm)},
                          {"norm_kind", s.norm_kind == NormKind::layer ? "layer" : "rms"},
                          {"gain", s.gain},
                          {"bias", s.bias},
                          {"norm_eps", s.norm_eps}};
  if (s.spectrum == SpectrumKind::list || s.spectrum == SpectrumKind::range)
    model["lambdas"] = s.lambdas;
  if (s.spectrum == SpectrumKind::range || s.spectrum == SpectrumKind::uniform) {
    model["lambda_lo"] = s.lambda_lo;
    model["lambda_hi"] = s.lambda_hi;
  }
  if (s.spectrum == SpectrumKind::minus || s.spectrum == SpectrumKind::plus)
    model["psi_scale"] = s.psi_scale;
  if (s.spectrum == SpectrumKind::file) model["h"] = s.h_matrix;
  if (s.eigvecs == EigvecKind::file) model["u"] = s.u_matrix;
  if (s.attention == OsAttentionKind::file) model["a"] = s.a_matrix;
  nlohmann::json input = {{"kind", s.input == OversmoothInputKind::random ? "random" : "given"}};
  if (s.input == OversmoothInputKind::given) {
    const InputSpec& g = s.given_input;
    if (g.kind == InputSpec::Kind::correlation) input["rho0"] = g.rho0;
    if (g.kind == InputSpec::Kind::gram) input["gram"] = g.gram;
    if (g.kind == InputSpec::Kind::tokens) input["tokens_file"] = g.source;
  }
  return {{"model", model},
          {"input", input},
          {"ensemble",
           {{"members", s.members},
            {"seed", s.seed},
            {"record_layers", s.record_layers},
            {"gram_statistics", s.gram_statistics == 1},
            {"quantile_accuracy", s.quantile_accuracy},
            {"histogram_bins", s.histogram_bins},
            {"quantiles", s.quantiles},
            {"smooth_tol", s.smooth_tol},
            {"rank_tol", s.rank_tol},
            {"member_begin", s.member_begin},
            {"member_end", s.end_member()}}}};
}

namespace {

template <typename E, std::size_t N>
E enum_from_json(const nlohmann::json& j, const char* const (&names)[N], const std::string& key) {
  return parse_enum<E>(j.get<std::string>(), names, key);
}

}  // namespace

OversmoothingSpec oversmoothing_spec_from_json(const nlohmann::json& j) {
  static const char* const spectra[] = {"list", "range", "uniform", "minus", "plus", "file"};
  static const char* const eigvecs[] = {"orthogonal", "gaussian", "file"};
  static const char* const attentions[] = {"softmax", "random", "circulant", "file"};
  static const char* const norms[] = {"none", "post", "pre"};
  static const char* const norm_kinds[] = {"layer", "rms"};
  try {
    OversmoothingSpec s;
    const nlohmann::json& m = j.at("model");
    s.tokens = m.at("tokens").get<int>();
    s.width = m.at("width").get<int>();
    s.depth = m.at("depth").get<int>();
    s.head_dim = m.at("head_dim").get<int>();
    s.spectrum = enum_from_json<SpectrumKind>(m.at("spectrum"), spectra, "model.spectrum");
    s.eigvecs = enum_from_json<EigvecKind>(m.at("eigvecs"), eigvecs, "model.eigvecs");
    s.fresh_h = m.at("fresh_h").get<bool>();
    s.attention = enum_from_json<OsAttentionKind>(m.at("attention"), attentions, "model.attention");
    s.fresh_qk = m.at("fresh_qk").get<bool>();
    s.temperature = m.at("temperature").get<double>();
    s.a_scale = m.at("a_scale").get<double>();
    s.norm = enum_from_json<NormPlacement>(m.at("norm"), norms, "model.norm");
    s.norm_kind = enum_from_json<NormKind>(m.at("norm_kind"), norm_kinds, "model.norm_kind");
    s.gain = m.at("gain").get<std::vector<double>>();
    s.bias = m.at("bias").get<double>();
    s.norm_eps = m.at("norm_eps").get<double>();
    s.lambdas = m.value("lambdas", std::vector<double>{});
    s.lambda_lo = m.value("lambda_lo", s.lambda_lo);
    s.lambda_hi = m.value("lambda_hi", s.lambda_hi);
    s.psi_scale = m.value("psi_scale", s.psi_scale);
    s.h_matrix = m.value("h", std::vector<double>{});
    s.u_matrix = m.value("u", std::vector<double>{});
    s.a_matrix = m.value("a", std::vector<double>{});
    const nlohmann::json& in = j.at("input");
    s.input = in.at("kind").get<std::string>() == "given" ? OversmoothInputKind::given
                                                          : OversmoothInputKind::random;
    if (s.input == OversmoothInputKind::given) {
      InputSpec& g = s.given_input;
      if (in.contains("rho0")) {
        g.kind = InputSpec::Kind::correlation;
        g.rho0 = in["rho0"].get<double>();
      } else if (in.contains("gram")) {
        g.kind = InputSpec::Kind::gram;
        g.gram = in["gram"].get<std::vector<double>>();
      } else {  // the file's name only: its values are not part of the record
        g.kind = InputSpec::Kind::tokens;
        g.source = in.at("tokens_file").get<std::string>();
      }
    }
    const nlohmann::json& e = j.at("ensemble");
    s.members = e.at("members").get<std::uint64_t>();
    s.seed = e.at("seed").get<std::uint64_t>();
    s.record_layers = e.at("record_layers").get<std::vector<int>>();
    s.gram_statistics = e.at("gram_statistics").get<bool>() ? 1 : 0;
    s.quantile_accuracy = e.at("quantile_accuracy").get<double>();
    s.histogram_bins = e.at("histogram_bins").get<int>();
    s.quantiles = e.at("quantiles").get<std::vector<double>>();
    s.smooth_tol = e.at("smooth_tol").get<double>();
    s.rank_tol = e.at("rank_tol").get<double>();
    s.member_begin = e.value("member_begin", std::uint64_t(0));
    s.member_end = e.value("member_end", std::uint64_t(0));
    return s;
  } catch (const nlohmann::json::exception& x) {
    throw InputError("config", std::string("not an oversmoothing configuration: ") + x.what());
  }
}

}  // namespace attnmc
