// The weight-space posterior of the attention-paths family (run.mode =
// direct: HMC chains over every weight, host/paths/direct_engine.hpp)
// against the exact width-free posterior over the order parameters
// (helper THEORY's sample_posterior, design section 5) on a small problem:
// the posterior mean and second moment of f(x*) on every test sequence and
// the posterior mean of U_1 agree within their Monte Carlo errors; the GP
// limit is clearly different (the comparison has power); and a planted bug
// (the chains' likelihood at twice the temperature) is caught.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "attnmc/paths.hpp"
#include "attnmc/paths_theory.hpp"
#include "host/paths/direct_engine.hpp"
#include "host/paths/theory/mode_support.hpp"
#include "tests/test_support.hpp"

namespace attnmc {
namespace {

PathsSpec small_problem() {
  PathsSpec s;
  s.task.markov.train = 4;
  s.task.markov.test = 3;
  s.task.markov.tokens = 3;
  s.task.markov.features = 4;
  s.heads = markov_task_heads();
  s.widths = {3};
  s.variances = {1.0};
  s.temperature = 0.3;
  s.members = 128;
  s.seed = 5;
  s.device = test::kTestDevice;
  return resolve_paths(s);
}

PathsDirectOptions chain_options() {
  PathsDirectOptions o;
  o.burn_in = 500;
  o.steps = 1500;
  o.leapfrog = 10;
  return o;
}

// |a - b| in units of the combined standard error.
double z_of(double a, double sa, double b, double sb) {
  return std::fabs(a - b) / std::sqrt(sa * sa + sb * sb);
}

struct Comparison {
  double worst = 0;  // largest z over every compared statistic
  std::string where;
};

Comparison compare(const PathsDirectResult& d, const paths::PosteriorResult& e) {
  Comparison c;
  auto take = [&](double z, const std::string& what) {
    if (z > c.worst) {
      c.worst = z;
      c.where = what;
    }
  };
  for (std::size_t k = 0; k < d.f_mean.size(); ++k) {
    take(z_of(d.f_mean[k], d.f_mean_se[k], e.f_mean[k], e.f_mean_se[k]),
         "mean f(x*_" + std::to_string(k) + ")");
    take(z_of(d.f_second[k], d.f_second_se[k], e.f_second[k], e.f_second_se[k]),
         "second moment f(x*_" + std::to_string(k) + ")");
  }
  for (std::size_t i = 0; i < d.u1_mean.size(); ++i)
    take(z_of(d.u1_mean[i], d.u1_mean_se[i], e.u_mean.u[0][i], e.u_mean_se.u[0][i]),
         "U_1[" + std::to_string(i) + "]");
  return c;
}

paths::PosteriorResult exact_posterior(const PathsSpec& s, const PathsTask& t) {
  paths::PosteriorOptions o;
  o.seed = 3;
  o.chains = 64;
  return paths::sample_posterior(paths::theory_model(s), paths::overlap_data(s, t), o);
}

// Each comparison |z| < 4.5: about 7e-6 per statistic under the normal
// approximation, 22 statistics (3 means, 3 second moments, 16 U_1
// entries): a false-failure rate near 1.5e-4 per run of this test.
TEST(PathsDirect, AgreesWithTheExactReducedPosterior) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  const PathsSpec s = small_problem();
  const PathsTask t = make_paths_task(s);
  const PathsDirectResult d = run_paths_direct(s, t, chain_options());
  EXPECT_EQ(d.chains, 128u);
  EXPECT_GT(d.acceptance, 0.5);
  EXPECT_LT(d.acceptance, 0.9);
  const paths::PosteriorResult e = exact_posterior(s, t);
  const Comparison c = compare(d, e);
  EXPECT_LT(c.worst, 4.5) << "worst: " << c.where;
  // Power: the GP limit (U_1 = s_1 s_2 s_a I) is far from both.
  const paths::PathsTheoryModel m = paths::theory_model(s);
  const paths::Prediction gp = paths::predict(m, paths::overlap_data(s, t), paths::gp_u1(m));
  double worst_gp = 0;
  for (std::size_t k = 0; k < d.f_mean.size(); ++k) {
    const double second = gp.mean[k] * gp.mean[k] + gp.variance[k];
    worst_gp = std::max(worst_gp, std::fabs(d.f_second[k] - second) / d.f_second_se[k]);
    worst_gp = std::max(worst_gp, std::fabs(d.f_mean[k] - gp.mean[k]) / d.f_mean_se[k]);
  }
  for (std::size_t i = 0; i < d.u1_mean.size(); ++i) {
    const double g = paths::gp_u1(m)[i];
    worst_gp = std::max(worst_gp, std::fabs(d.u1_mean[i] - g) / d.u1_mean_se[i]);
  }
  EXPECT_GT(worst_gp, 10.0) << "the GP limit is within the errors: the test has no power";
}

TEST(PathsDirect, PlantedTemperatureBugIsCaught) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  const PathsSpec s = small_problem();
  const PathsTask t = make_paths_task(s);
  PathsSpec wrong = s;
  wrong.temperature = 2 * s.temperature;  // the chains' likelihood too flat
  const Comparison c = compare(run_paths_direct(wrong, t, chain_options()), exact_posterior(s, t));
  EXPECT_GT(c.worst, 4.5);
}

TEST(PathsDirect, SameBitsWhateverChunkAndThreads) {
  ATTNMC_REQUIRE_TEST_DEVICE();
  PathsSpec a = small_problem();
  a.members = 6;
  a.chunk = 1;
  a.threads = 1;
  PathsSpec b = a;
  b.chunk = 4;
  b.threads = 2;
  const PathsTask t = make_paths_task(a);
  PathsDirectOptions o = chain_options();
  o.burn_in = 50;
  o.steps = 100;
  const PathsDirectResult ra = run_paths_direct(a, t, o), rb = run_paths_direct(b, t, o);
  EXPECT_EQ(0, std::memcmp(ra.f_mean.data(), rb.f_mean.data(), ra.f_mean.size() * 8));
  EXPECT_EQ(0, std::memcmp(ra.u1_mean.data(), rb.u1_mean.data(), ra.u1_mean.size() * 8));
  EXPECT_EQ(ra.acceptance, rb.acceptance);
}

}  // namespace
}  // namespace attnmc
