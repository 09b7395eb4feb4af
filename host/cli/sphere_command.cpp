// Command line of the sphere model. Options map one to one onto SphereSpec
// fields; `phase` adds the grid (lists "a,b,c" or ranges "start:stop:step").
#include "host/cli/sphere_command.hpp"

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "attnmc/error.hpp"
#include "attnmc/sphere.hpp"
#include "host/cli/seed_option.hpp"
#include "host/sphere_sweep.hpp"

namespace attnmc::cli {
namespace {

// Options shared by both commands, parsed into a SphereSpec.
struct SphereOptions {
  SphereSpec spec;
  std::string scheme = "sde-geometric", noise = "matrix", init = "rho0", init_file, qk_file;
  std::string device = "auto";
};

void add_common(CLI::App* c, SphereOptions& o) {
  SphereSpec& s = o.spec;
  c->add_option("--scheme", o.scheme, "network | sde-projected | sde-geometric | flow")
      ->capture_default_str();
  c->add_option("--noise", o.noise, "matrix (d x d V per step) | reduced (exact in law, cheaper)")
      ->capture_default_str();
  c->add_option("--beta", s.beta, "inverse temperature")->capture_default_str();
  c->add_option("--sigma", s.sigma, "value-matrix entry standard deviation")->capture_default_str();
  c->add_option("--horizon,-T", s.horizon, "time horizon T (network: 1 = models.md scaling)")
      ->capture_default_str();
  c->add_option("--steps,-L", s.steps, "steps / layers (0: ceil(T / dt))")->capture_default_str();
  c->add_option("--dt", s.dt, "step size when --steps is 0")->capture_default_str();
  c->add_option("--trajectories,-B", s.trajectories, "ensemble size")->capture_default_str();
  c->add_option("--seed", s.seed, "random seed, 0 to 2^64 - 1")
      ->check(cli::seed_validator())
      ->capture_default_str();
  c->add_option("--init", o.init, "rho0 (N = 2) | uniform | file")->capture_default_str();
  c->add_option("--rho0", s.rho0, "initial <x_1, x_2> for --init rho0")->capture_default_str();
  c->add_option("--init-file", o.init_file, "N x d tokens (text) for --init file");
  c->add_option("--qk-file", o.qk_file, "d x d matrix Q^T K (text); default identity");
  c->add_option("--eps", s.eps, "outcome threshold: clusters join at <x_i, x_j> > 1 - eps")
      ->capture_default_str();
  c->add_option("--record-every", s.record_every, "record inner products every k steps")
      ->capture_default_str();
  c->add_option("--threads", s.threads, "CPU threads (0 = all)")->capture_default_str();
  c->add_option("--device", o.device, "cpu | cuda | auto")->capture_default_str();
  c->add_option("--chunk", s.chunk, "trajectories per chunk (0 = fit the memory cap)");
}

SphereSpec finish(SphereOptions& o) {
  SphereSpec s = o.spec;
  s.scheme = parse_scheme(o.scheme);
  if (o.noise == "matrix")
    s.noise = SphereNoise::matrix;
  else if (o.noise == "reduced")
    s.noise = SphereNoise::reduced;
  else
    throw InputError("noise", "expected matrix or reduced, got '" + o.noise + "'");
  if (o.device == "cpu")
    s.device = Device::cpu;
  else if (o.device == "cuda")
    s.device = Device::cuda;
  else if (o.device == "auto")
    s.device = Device::automatic;
  else
    throw InputError("device", "expected cpu, cuda or auto");
  if (o.init == "rho0")
    s.init = SphereInit::rho0;
  else if (o.init == "uniform")
    s.init = SphereInit::uniform;
  else if (o.init == "file") {
    if (o.init_file.empty()) throw InputError("init-file", "--init file needs --init-file PATH");
    s.init = SphereInit::tokens;
    s.tokens0 = read_sphere_tokens(o.init_file, s.tokens, s.dim);
  } else
    throw InputError("init", "expected rho0, uniform or file");
  if (!o.qk_file.empty()) s.qk = read_sphere_tokens(o.qk_file, s.dim, s.dim);
  return s;
}

// "2,3,5" or "start:stop[:step]" (inclusive stop, to rounding).
std::vector<double> parse_grid(const std::string& text, const char* parameter) {
  std::vector<double> v;
  try {
    if (text.find(':') != std::string::npos) {
      std::vector<double> part;
      std::stringstream ss(text);
      std::string item;
      while (std::getline(ss, item, ':')) part.push_back(std::stod(item));
      if (part.size() < 2 || part.size() > 3) throw std::invalid_argument(text);
      const double step = part.size() == 3 ? part[2] : 1.0;
      if (!(step > 0)) throw InputError(parameter, "range step must be positive");
      const int n = int(std::floor((part[1] - part[0]) / step + 1e-9));
      for (int i = 0; i <= n; ++i) v.push_back(part[0] + i * step);
    } else {
      std::stringstream ss(text);
      std::string item;
      while (std::getline(ss, item, ',')) v.push_back(std::stod(item));
    }
  } catch (const InputError&) {
    throw;
  } catch (const std::exception&) {
    throw InputError(parameter,
                     "expected a list a,b,c or a range start:stop:step, got '" + text + "'");
  }
  if (v.empty()) throw InputError(parameter, "empty grid");
  return v;
}

std::vector<int> to_ints(const std::vector<double>& v, const char* parameter) {
  std::vector<int> out;
  for (double x : v) {
    if (x != std::floor(x)) throw InputError(parameter, "must be integers");
    out.push_back(int(x));
  }
  return out;
}

nlohmann::json proportion_json(const Proportion& p) {
  return {{"count", p.successes},
          {"of", p.trials},
          {"p", p.p()},
          {"stderr", p.stderr_()},
          {"wilson95", {p.wilson_lo(), p.wilson_hi()}}};
}

void print_summary(const SphereResult& r) {
  const SphereSpec& s = r.spec;
  std::printf("sphere: N=%d d=%d scheme=%s noise=%s beta=%g sigma=%g T=%g steps=%lld dt=%g\n",
              s.tokens, s.dim, scheme_name(s.scheme),
              s.noise == SphereNoise::matrix ? "matrix" : "reduced", s.beta, s.sigma, s.horizon,
              static_cast<long long>(s.steps), s.dt);
  std::printf("trajectories=%llu device=%s threads=%d  %.2f s\n",
              static_cast<unsigned long long>(s.trajectories), r.device.c_str(), r.threads,
              r.seconds);
  auto line = [](const char* name, const Proportion& p) {
    std::printf("  P(%-9s) = %.4f +- %.4f  (95%% Wilson [%.4f, %.4f], %lld / %lld)\n", name, p.p(),
                p.stderr_(), p.wilson_lo(), p.wilson_hi(), static_cast<long long>(p.successes),
                static_cast<long long>(p.trials));
  };
  line("collapse", r.p_collapse());
  line("antipodal", r.p_antipodal());
  line("other", r.p_other());
  std::printf("  non-finite trajectories: %lld; max ||x|^2 - 1| at the end: %.2e\n",
              static_cast<long long>(r.nonfinite), r.max_norm_error);
  std::printf("  clusters (<x_i,x_j> > 1 - %g):", s.eps);
  for (std::size_t k = 1; k < r.clusters.size(); ++k)
    if (r.clusters[k] > 0) std::printf(" %zu:%lld", k, static_cast<long long>(r.clusters[k]));
  const int last = int(r.stats.layers().size()) - 1;
  std::printf("\n  terminal <x_1, x_2>: q10 %.6f  q50 %.6f  q90 %.6f\n",
              r.stats.quantile(last, 0, 1, 0.1, false), r.stats.quantile(last, 0, 1, 0.5, false),
              r.stats.quantile(last, 0, 1, 0.9, false));
}

nlohmann::json result_json(const SphereResult& r) {
  const SphereSpec& s = r.spec;
  nlohmann::json j;
  j["spec"] = {{"tokens", s.tokens},
               {"dim", s.dim},
               {"scheme", scheme_name(s.scheme)},
               {"noise", s.noise == SphereNoise::matrix ? "matrix" : "reduced"},
               {"beta", s.beta},
               {"sigma", s.sigma},
               {"horizon", s.horizon},
               {"steps", s.steps},
               {"dt", s.dt},
               {"trajectories", s.trajectories},
               {"seed", s.seed},
               {"eps", s.eps}};
  j["device"] = r.device;
  j["threads"] = r.threads;
  j["seconds"] = r.seconds;
  j["collapse"] = proportion_json(r.p_collapse());
  j["antipodal"] = proportion_json(r.p_antipodal());
  j["other"] = proportion_json(r.p_other());
  j["nonfinite"] = r.nonfinite;
  j["clusters"] = r.clusters;
  j["max_norm_error"] = r.max_norm_error;
  nlohmann::json recs = nlohmann::json::array();
  for (std::size_t k = 0; k < r.stats.layers().size(); ++k) {
    nlohmann::json pairs = nlohmann::json::array();
    for (int a = 0; a < s.tokens; ++a)
      for (int b = a + 1; b < s.tokens; ++b) {
        const Moments& m = r.stats.per_layer()[k].gram[std::size_t(a) * s.tokens + b];
        pairs.push_back({{"i", a},
                         {"j", b},
                         {"mean", m.mean()},
                         {"sd", m.stddev()},
                         {"q10", r.stats.quantile(int(k), a, b, 0.1, false)},
                         {"q50", r.stats.quantile(int(k), a, b, 0.5, false)},
                         {"q90", r.stats.quantile(int(k), a, b, 0.9, false)}});
      }
    const int step = r.stats.layers()[k];
    recs.push_back({{"step", step}, {"time", step * s.dt}, {"pairs", pairs}});
  }
  j["records"] = recs;
  const auto& last = r.stats.per_layer().back();
  j["terminal_histogram_x12"] = {
      {"range", {-1.0, 1.0}},
      {"counts", std::vector<std::int64_t>(last.rho_histogram.begin(),
                                           last.rho_histogram.begin() + r.stats.histogram_bins())}};
  return j;
}

}  // namespace

void add_sphere_commands(CLI::App& app) {
  // One ensemble.
  auto so = std::make_shared<SphereOptions>();
  auto json_path = std::make_shared<std::string>();
  CLI::App* sphere = app.add_subcommand(
      "sphere", "Stochastic Transformer on the sphere: one ensemble (models.md section 2)");
  sphere->add_option("--tokens,-N", so->spec.tokens, "tokens N")->capture_default_str();
  sphere->add_option("--dim,-d", so->spec.dim, "dimension d")->capture_default_str();
  add_common(sphere, *so);
  sphere->add_option("--json", *json_path,
                     "write the result (outcomes, quantiles, histogram) here");
  sphere->callback([so, json_path]() {
    const SphereResult r = run_sphere(finish(*so));
    print_summary(r);
    if (!json_path->empty()) {
      std::ofstream f(*json_path);
      if (!f) throw InputError("json", "cannot write '" + *json_path + "'");
      f << result_json(r).dump(2) << '\n';
    }
  });

  // The phase diagram.
  auto po = std::make_shared<SphereOptions>();
  po->spec.horizon = 30.0;
  po->spec.dt = 0.02;
  po->spec.trajectories = 1000;
  po->noise = "reduced";  // exact in law and 2d instead of d^2 normals per step for N = 2
  auto grid =
      std::make_shared<std::vector<std::string>>(std::vector<std::string>{"2", "2:10", "0:3:0.25"});
  auto out_path = std::make_shared<std::string>("phase.csv");
  auto no_flow = std::make_shared<bool>(false);
  CLI::App* phase = app.add_subcommand(
      "phase", "Phase diagram: P(collapse), P(antipodal) over a (beta, d) grid, with the flow");
  phase->add_option("--tokens,-N", (*grid)[0], "token counts (list or range)")
      ->capture_default_str();
  phase->add_option("--dims,-d", (*grid)[1], "dimensions (list a,b or range start:stop:step)")
      ->capture_default_str();
  phase->add_option("--betas", (*grid)[2], "inverse temperatures (list or range)")
      ->capture_default_str();
  add_common(phase, *po);
  phase->add_option("--out,-o", *out_path, "CSV table")->capture_default_str();
  phase->add_flag("--no-flow", *no_flow, "skip the deterministic flow column");
  phase->callback([po, grid, out_path, no_flow]() {
    SphereSweepSpec sw;
    sw.tokens = to_ints(parse_grid((*grid)[0], "tokens"), "tokens");
    sw.dims = to_ints(parse_grid((*grid)[1], "dims"), "dims");
    sw.betas = parse_grid((*grid)[2], "betas");
    sw.flow = !*no_flow;
    po->spec.tokens = sw.tokens.front();
    po->spec.dim = sw.dims.front();
    if (po->init == "file")
      throw InputError("init", "the phase sweep takes rho0 or uniform starts");
    sw.base = finish(*po);
    if (sw.base.init == SphereInit::rho0)
      for (int n : sw.tokens)
        if (n != 2) throw InputError("init", "--init rho0 needs N = 2; use --init uniform");
    // Validate every cell before creating the table, so bad input leaves no file.
    for (int n : sw.tokens)
      for (int d : sw.dims)
        for (double b : sw.betas) {
          SphereSpec cell = sw.base;
          cell.tokens = n;
          cell.dim = d;
          cell.beta = b;
          resolve_sphere(cell);
        }
    std::ofstream f(*out_path);
    if (!f) throw InputError("out", "cannot write '" + *out_path + "'");
    SphereSweepResult r;
    try {
      r = run_sphere_sweep(sw, [](std::size_t done, std::size_t total) {
        std::fprintf(stderr, "\rphase: %zu / %zu cells", done, total);
        if (done == total) std::fprintf(stderr, "\n");
      });
    } catch (...) {
      f.close();
      std::remove(out_path->c_str());
      throw;
    }
    write_sweep_csv(f, r);
    std::printf("phase: %zu cells, %.1f s, table in %s\n", r.cells.size(), r.seconds,
                out_path->c_str());
  });
}

}  // namespace attnmc::cli
