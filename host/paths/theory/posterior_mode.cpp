// run.mode = posterior: the exact width-free posterior over the order
// parameters (section 5; host/paths/theory/posterior.cpp), by Metropolis
// chains (posterior.method = mcmc, the default) or by importance sampling
// from the Wishart chain (importance; a run whose ESS falls below
// posterior.min_ess is reported as failed), at the model's
// widths or over a scan [posterior] widths, beside the saddle point and the
// GP limit at the same widths. Writes posterior.h5, summary.json, table.txt.
#include <cmath>
#include <nlohmann/json.hpp>

#include "attnmc/error.hpp"
#include "attnmc/version.hpp"
#include "host/config/toml_layer.hpp"
#include "host/paths/paths_config.hpp"
#include "host/paths/theory/mode_support.hpp"

namespace attnmc::paths {
namespace {

struct PosteriorModeOptions {
  std::vector<long> widths;
  PosteriorOptions chain;
  bool importance = false;  // posterior.method = importance
  ImportanceOptions is;
  double min_ess = 1000.0;
};

PosteriorModeOptions posterior_options(const ModeInput& in) {
  const auto keys = section_keys(
      in.root, "posterior",
      {"widths", "method", "chains", "burn_in", "steps", "thin", "samples", "min_ess"});
  PosteriorModeOptions o;
  o.widths = width_scan(keys, "posterior");
  auto read = [&](const char* name, int* dst, int min) {
    auto it = keys.find(name);
    if (it == keys.end()) return;
    const std::string k = std::string("posterior.") + name;
    *dst = get_int(*it->second, k);
    if (*dst < min) throw InputError(k, "must be >= " + std::to_string(min));
  };
  read("chains", &o.chain.chains, 2);
  read("burn_in", &o.chain.burn_in, 100);
  read("steps", &o.chain.steps, 1);
  read("thin", &o.chain.thin, 1);
  o.chain.seed = in.spec.seed;
  o.chain.threads = in.spec.threads;
  if (auto it = keys.find("method"); it != keys.end()) {
    const std::string m = get_string(*it->second, "posterior.method");
    if (m != "mcmc" && m != "importance")
      throw InputError("posterior.method", "expected mcmc or importance, got '" + m + "'");
    o.importance = m == "importance";
  }
  if (auto it = keys.find("samples"); it != keys.end()) {
    const std::uint64_t n = get_count(*it->second, "posterior.samples");
    if (n < 2 || n > 0xffffffffull)
      throw InputError("posterior.samples", "must be from 2 to 2^32 - 1");
    o.is.samples = std::uint32_t(n);
  }
  if (auto it = keys.find("min_ess"); it != keys.end()) {
    o.min_ess = get_double(*it->second, "posterior.min_ess");
    if (!(o.min_ess >= 1.0)) throw InputError("posterior.min_ess", "must be >= 1");
  }
  o.is.seed = in.spec.seed;
  o.is.threads = in.spec.threads;
  return o;
}

cli::CommandResult run_posterior(const ModeInput& in, StagedDirectory& dir,
                                 const cli::RunContext& cx) {
  const PosteriorModeOptions o = posterior_options(in);
  const PathOverlapData data = overlap_data(in.spec, in.task);
  std::vector<long> scan = o.widths;
  if (scan.empty()) scan.push_back(0);
  const PathsTheoryModel gp_model = theory_model(in.spec);
  validate(gp_model, data);
  const Prediction gp = predict(gp_model, data, gp_u1(gp_model));

  nlohmann::json runs = nlohmann::json::array();
  std::vector<double> widths, acc, theory_acc, fm, fmse, fs, fsse, u1, u1se, u1_theory, accept,
      secs;
  std::string table =
      cli::format("paths posterior (exact, width-free): %d train, %d test sequences, %d paths; ",
                  data.n_train, data.n_test, data.n_paths);
  table += o.importance
               ? cli::format("importance sampling, %u draws from the Wishart chain", o.is.samples)
               : cli::format("%d chains x %d steps (+%d burn-in)", o.chain.chains, o.chain.steps,
                             o.chain.burn_in);
  table += cli::format("; GP accuracy %.4f\n", gp.test_accuracy);
  table += o.importance
               ? "      N   posterior   theory   ESS          seconds   E[U_1|y] diagonal (+- se)\n"
               : "      N   posterior   theory   acceptance   R-hat   seconds   E[U_1|y] diagonal "
                 "(+- se)\n";
  std::string failure;
  std::vector<std::string> warnings;
  std::vector<double> rhat, ess;
  for (long w : scan) {
    const PathsTheoryModel m = theory_model(in.spec, w);
    const PosteriorResult r =
        o.importance ? importance_posterior(m, data, o.is) : sample_posterior(m, data, o.chain);
    const SaddlePoint sp = solve_saddle_point(m, data);
    const Prediction th = predict(m, data, sp.params.u[0]);
    bool finite = o.importance ? std::isfinite(r.ess) : std::isfinite(r.acceptance);
    for (double v : r.f_mean) finite = finite && std::isfinite(v);
    if (!finite && failure.empty())
      failure = cli::format("non-finite posterior statistics at N = %ld", m.widths[0]);
    nlohmann::json j;
    j["widths"] = m.widths;
    j["test_accuracy"] = r.test_accuracy;
    j["theory_test_accuracy"] = th.test_accuracy;
    j["acceptance"] = r.acceptance;
    if (o.importance) {
      j["ess"] = r.ess;
    } else {
      j["max_rhat"] = r.max_rhat;
    }
    j["latent_variables"] = r.latent_dim;
    j["likelihood_evaluations"] = r.likelihood_evaluations;
    j["seconds"] = r.seconds;
    j["u_mean"] = {{"u_a", r.u_mean.u_a}, {"u", r.u_mean.u}};
    j["u_mean_se"] = {{"u_a", r.u_mean_se.u_a}, {"u", r.u_mean_se.u}};
    j["saddle_point"] = {
        {"u_a", sp.params.u_a}, {"u", sp.params.u}, {"max_abs_gradient", sp.max_abs_gradient}};
    runs.push_back(j);
    std::string diag;
    for (int p = 0; p < data.n_paths; ++p) {
      const std::size_t i = std::size_t(p) * data.n_paths + p;
      diag += cli::format(" %.4f(%.4f)", r.u_mean.u[0][i], r.u_mean_se.u[0][i]);
    }
    if (o.importance) {
      table += cli::format("%7ld   %.4f      %.4f   %-11.0f  %7.2f  %s\n", m.widths[0],
                           r.test_accuracy, th.test_accuracy, r.ess, r.seconds, diag.c_str());
      // Too few effective draws: the estimates and their errors mean little.
      if (r.ess < o.min_ess && failure.empty())
        failure = cli::format(
            "N = %ld: importance-sampling ESS %.0f below posterior.min_ess = %.0f; use "
            "posterior.method = mcmc",
            m.widths[0], r.ess, o.min_ess);
    } else {
      table += cli::format("%7ld   %.4f      %.4f   %.3f        %.3f  %7.2f  %s\n", m.widths[0],
                           r.test_accuracy, th.test_accuracy, r.acceptance, r.max_rhat, r.seconds,
                           diag.c_str());
    }
    // Chains that disagree (R-hat above 1.1) make the error bars unreliable: say so.
    if (r.max_rhat > 1.1) {
      const std::string w = cli::format(
          "N = %ld: R-hat %.3f > 1.1, the chains have not mixed; raise posterior.burn_in / "
          "posterior.steps",
          m.widths[0], r.max_rhat);
      warnings.push_back(w);
      table += "  warning: " + w + "\n";
    }
    widths.push_back(double(m.widths[0]));
    acc.push_back(r.test_accuracy), theory_acc.push_back(th.test_accuracy);
    accept.push_back(r.acceptance), secs.push_back(r.seconds), rhat.push_back(r.max_rhat);
    ess.push_back(r.ess);
    fm.insert(fm.end(), r.f_mean.begin(), r.f_mean.end());
    fmse.insert(fmse.end(), r.f_mean_se.begin(), r.f_mean_se.end());
    fs.insert(fs.end(), r.f_second.begin(), r.f_second.end());
    fsse.insert(fsse.end(), r.f_second_se.begin(), r.f_second_se.end());
    u1.insert(u1.end(), r.u_mean.u[0].begin(), r.u_mean.u[0].end());
    u1se.insert(u1se.end(), r.u_mean_se.u[0].begin(), r.u_mean_se.u[0].end());
    u1_theory.insert(u1_theory.end(), sp.params.u[0].begin(), sp.params.u[0].end());
  }
  using D = std::vector<unsigned long long>;
  const unsigned long long nw = scan.size(), nt = std::size_t(data.n_test),
                           np = std::size_t(data.n_paths);
  H5Table h5;
  h5.add("widths", D{nw}, widths);
  h5.add("test_accuracy", D{nw}, acc);
  h5.add("theory_test_accuracy", D{nw}, theory_acc);
  h5.add("gp_test_accuracy", D{1}, {gp.test_accuracy});
  h5.add("acceptance", D{nw}, accept);
  h5.add("max_rhat", D{nw}, rhat);
  if (o.importance) h5.add("ess", D{nw}, ess);
  h5.add("seconds", D{nw}, secs);
  h5.add("f_mean", D{nw, nt}, fm);
  h5.add("f_mean_se", D{nw, nt}, fmse);
  h5.add("f_second", D{nw, nt}, fs);
  h5.add("f_second_se", D{nw, nt}, fsse);
  h5.add("u1_mean", D{nw, np, np}, u1);
  h5.add("u1_mean_se", D{nw, np, np}, u1se);
  h5.add("u1_saddle", D{nw, np, np}, u1_theory);
  write_h5(dir.file("posterior.h5"), h5, "posterior");

  nlohmann::json j = mode_summary("posterior", in.spec);
  if (o.importance)
    j["sampler"] = {{"method",
                     "importance sampling: exact draws from the Wishart chain weighted by the "
                     "likelihood, self-normalised"},
                    {"samples", o.is.samples},
                    {"min_ess", o.min_ess},
                    {"seed", std::to_string(o.is.seed)}};
  else
    j["sampler"] = {
        {"method",
         "random-walk Metropolis on the Wishart chain's Bartlett coordinates, proposal adapted in "
         "burn-in then frozen; independent keyed chains"},
        {"chains", o.chain.chains},
        {"burn_in", o.chain.burn_in},
        {"steps", o.chain.steps},
        {"thin", o.chain.thin},
        {"seed", std::to_string(o.chain.seed)}};
  j["runs"] = runs;
  j["warnings"] = warnings;
  cli::CommandResult out =
      finish_theory_run(j, table, failure, acc.back(), gp.test_accuracy, dir, cx);
  out.members =
      (o.importance ? std::uint64_t(o.is.samples) : std::uint64_t(o.chain.chains)) * scan.size();
  return out;
}

}  // namespace

Mode posterior_mode() {
  Mode m;
  m.name = "posterior";
  m.help =
      "exact width-free posterior over the order parameters (Wishart chain, parallel MCMC chains)";
  m.sections = {"posterior"};
  m.check = [](const ModeInput& in) {
    const PosteriorModeOptions o = posterior_options(in);
    return o.importance ? std::uint64_t(o.is.samples) : std::uint64_t(o.chain.chains);
  };
  m.run = run_posterior;
  return m;
}

}  // namespace attnmc::paths
