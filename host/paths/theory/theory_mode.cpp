// run.mode = theory: the saddle point of section 3 (L-BFGS in log-Cholesky
// coordinates), the predictor on the test sequences, test accuracy, head
// scores and pruning, at the model's widths or over a scan [theory] widths,
// against the GP limit. Writes theory.h5, summary.json and table.txt.
#include <nlohmann/json.hpp>

#include "attnmc/error.hpp"
#include "attnmc/version.hpp"
#include "host/config/toml_layer.hpp"
#include "host/paths/paths_config.hpp"
#include "host/paths/theory/mode_support.hpp"

namespace attnmc::paths {
namespace {

struct TheoryOptions {
  std::vector<long> widths;
  SaddlePointOptions solver;
  bool head_scores = true;
};

TheoryOptions theory_options(const ModeInput& in) {
  const auto keys = section_keys(in.root, "theory",
                                 {"widths", "max_iterations", "gradient_tolerance", "head_scores"});
  TheoryOptions o;
  o.widths = width_scan(keys, "theory");
  if (auto it = keys.find("max_iterations"); it != keys.end()) {
    o.solver.max_iterations = get_int(*it->second, "theory.max_iterations");
    if (o.solver.max_iterations < 1) throw InputError("theory.max_iterations", "must be >= 1");
  }
  if (auto it = keys.find("gradient_tolerance"); it != keys.end()) {
    o.solver.gradient_tolerance = get_double(*it->second, "theory.gradient_tolerance");
    if (!(o.solver.gradient_tolerance > 0.0))
      throw InputError("theory.gradient_tolerance", "must be > 0");
  }
  if (auto it = keys.find("head_scores"); it != keys.end())
    o.head_scores = get_bool(*it->second, "theory.head_scores");
  return o;
}

nlohmann::json matrices_json(const OrderParameters& o) {
  nlohmann::json j;
  j["u_a"] = o.u_a;
  j["u"] = o.u;  // u[l] = the paper's U_{l+1}, row-major
  return j;
}

cli::CommandResult run_theory(const ModeInput& in, StagedDirectory& dir,
                              const cli::RunContext& cx) {
  const TheoryOptions o = theory_options(in);
  const PathOverlapData data = overlap_data(in.spec, in.task);
  std::vector<long> scan = o.widths;
  if (scan.empty()) scan.push_back(0);  // the model's own widths
  const PathsTheoryModel gp_model = theory_model(in.spec);
  validate(gp_model, data);
  const Prediction gp = predict(gp_model, data, gp_u1(gp_model));

  nlohmann::json runs = nlohmann::json::array();
  H5Table h5;
  std::vector<double> widths, acc, mean, var, u1, score, drop, grad;
  std::string table =
      cli::format("paths theory: %d train, %d test sequences, %d paths; GP accuracy %.4f\n",
                  data.n_train, data.n_test, data.n_paths, gp.test_accuracy);
  table += "      N   accuracy   max|dS/dU|   evals   U_1 diagonal\n";
  std::string failure;
  for (long w : scan) {
    const PathsTheoryModel m = theory_model(in.spec, w);
    const SaddlePoint sp = solve_saddle_point(m, data, o.solver);
    if (!sp.converged && failure.empty())
      failure = cli::format("saddle point not converged at N = %ld (max |dS/dU| = %.3g)",
                            m.widths[0], sp.max_abs_gradient);
    const Prediction pr = predict(m, data, sp.params.u[0]);
    nlohmann::json r;
    r["widths"] = m.widths;
    r["test_accuracy"] = pr.test_accuracy;
    r["train_error"] = pr.train_error;
    r["action"] = sp.action;
    r["max_abs_gradient"] = sp.max_abs_gradient;
    r["gradient_norm"] = sp.gradient_norm;
    r["iterations"] = sp.iterations;
    r["evaluations"] = sp.evaluations;
    r["converged"] = sp.converged;
    r["order_parameters"] = matrices_json(sp.params);
    std::string diag;
    for (int p = 0; p < data.n_paths; ++p)
      diag += cli::format(" %.4f", sp.params.u[0][std::size_t(p) * data.n_paths + p]);
    table += cli::format("%7ld   %.4f   %.3e   %5d  %s\n", m.widths[0], pr.test_accuracy,
                         sp.max_abs_gradient, sp.evaluations, diag.c_str());
    if (o.head_scores) {
      nlohmann::json hs = nlohmann::json::array();
      for (const HeadScore& s : head_scores(m, data, sp.params.u[0])) {
        hs.push_back({{"layer", s.layer + 1},
                      {"head", s.head},
                      {"score", s.score},
                      {"pruned_accuracy", s.pruned_accuracy},
                      {"accuracy_drop", s.accuracy_drop}});
        score.push_back(s.score), drop.push_back(s.accuracy_drop);
        table +=
            cli::format("          layer %d head %d: score %.4f, accuracy drop when pruned %+.4f\n",
                        s.layer + 1, s.head, s.score, s.accuracy_drop);
      }
      r["head_scores"] = hs;
    }
    runs.push_back(r);
    widths.push_back(double(m.widths[0]));
    acc.push_back(pr.test_accuracy);
    grad.push_back(sp.max_abs_gradient);
    mean.insert(mean.end(), pr.mean.begin(), pr.mean.end());
    var.insert(var.end(), pr.variance.begin(), pr.variance.end());
    u1.insert(u1.end(), sp.params.u[0].begin(), sp.params.u[0].end());
  }
  using D = std::vector<unsigned long long>;
  const unsigned long long nw = scan.size(), nt = std::size_t(data.n_test),
                           np = std::size_t(data.n_paths);
  h5.add("widths", D{nw}, widths);
  h5.add("test_accuracy", D{nw}, acc);
  h5.add("max_abs_gradient", D{nw}, grad);
  h5.add("test_mean", D{nw, nt}, mean);
  h5.add("test_variance", D{nw, nt}, var);
  h5.add("u1", D{nw, np, np}, u1);
  if (o.head_scores) {
    h5.add("head_score", D{nw, score.size() / nw}, score);
    h5.add("accuracy_drop", D{nw, drop.size() / nw}, drop);
  }
  h5.add("gp_test_mean", D{nt}, gp.mean);
  h5.add("gp_test_variance", D{nt}, gp.variance);
  h5.add("gp_test_accuracy", D{1}, {gp.test_accuracy});
  write_h5(dir.file("theory.h5"), h5, "theory");

  nlohmann::json j = mode_summary("theory", in.spec);
  j["solver"] = {{"method", "L-BFGS (LBFGS++), log-Cholesky coordinates, u_a a variable"},
                 {"max_iterations", o.solver.max_iterations},
                 {"gradient_tolerance", o.solver.gradient_tolerance}};
  j["runs"] = runs;
  return finish_theory_run(j, table, failure, acc.back(), gp.test_accuracy, dir, cx);
}

}  // namespace

Mode theory_mode() {
  Mode m;
  m.name = "theory";
  m.help = "saddle point of the order parameters, predictor, head scores and pruning";
  m.sections = {"theory"};
  m.check = [](const ModeInput& in) {
    theory_options(in);
    return std::uint64_t(1);
  };
  m.run = run_theory;
  return m;
}

// Defined here, not in mode_support.cpp: it writes through the CLI layer,
// which the theory library's other users (tests) do not link.
cli::CommandResult finish_theory_run(nlohmann::json summary, const std::string& table,
                                     const std::string& failure, double test_accuracy,
                                     double gp_test_accuracy, StagedDirectory& dir,
                                     const cli::RunContext& cx) {
  summary["gp"] = {{"test_accuracy", gp_test_accuracy}};
  if (!failure.empty()) summary["failure"] = failure;
  cli::write_summary(dir, summary, cx);
  dir.write_text("table.txt", table);
  cli::CommandResult out;
  out.table = table;
  out.failure = failure;
  out.scalars = {{"test_accuracy", test_accuracy}, {"gp_test_accuracy", gp_test_accuracy}};
  return out;
}

}  // namespace attnmc::paths
