// The exact width-free posterior of attention paths (design/attention-paths.md
// section 5) against brute force on small problems: whole networks (every
// weight of V^0, V^{l,h}, a) drawn from the prior, run forward on the
// sequences, and importance-weighted by the likelihood, as the design file's
// numpy check did. Posterior mean and second moment of f(x*) and the
// posterior mean of U_1 must agree within error, and both must differ from
// the GP limit by more than the error (so the test has power); a planted bug
// in the Wishart degrees of freedom must be caught.
//
// Error model: brute force, the delta-method standard error of a
// self-normalised importance-sampling ratio; the reduced posterior, the
// spread of 48 independent chains' means. A comparison fails beyond 4
// combined standard errors: per comparison 6e-5 for Gaussian errors, about
// 3e-3 over the 3 x 14 comparisons of the agreement test (seeds are fixed,
// so a run is deterministic; this is the chance that a correct code fails
// for a fresh seed). Power: the strongest f(x*) statistic stands 16, 7 and 8
// brute-force errors from the GP limit at N = 2, 4, 6 (the chain's much
// more), so missing the 4-error bar for a fresh seed has a chance below
// 1e-3; the planted bug moves U_1 by 35 errors. The R-hat bound (1.05) holds
// with a wide margin (1.003 to 1.008).
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "attnmc/paths_theory.hpp"
#include "tests/test_paths_theory_support.hpp"

namespace ap = attnmc::paths;
using paths_test::SmallTask;

namespace {

constexpr double kZ = 4.0;

// Whole networks from the prior, importance-weighted by the likelihood.
struct BruteForce {
  std::vector<double> f_mean, f_mean_se, f_second, f_second_se;  // per test sequence
  std::vector<double> u1, u1_se;                                 // U_1, n_paths^2
  double ess = 0.0;
};

struct KeyedNormals {  // one keyed stream per network
  attnmc::rng::StreamKey k;
  std::uint32_t block = 0;
  int used = 4;
  double buf[4];
  double next() {
    if (used == 4) {
      const auto g = attnmc::rng::gaussian4d(attnmc::rng::philox_block(k, block++));
      for (int i = 0; i < 4; ++i) buf[i] = g.z[i];
      used = 0;
    }
    return buf[used++];
  }
};

Eigen::MatrixXd draw(KeyedNormals& g, int r, int c, double var) {
  Eigen::MatrixXd m(r, c);
  const double s = std::sqrt(var);
  for (int i = 0; i < r; ++i)
    for (int j = 0; j < c; ++j) m(i, j) = s * g.next();
  return m;
}

// One network from the prior: f on every sequence (the network's own forward
// pass) and U_1 from its weights.
void one_network(const SmallTask& t, const ap::PathsTheoryModel& m, std::uint64_t seed, int n,
                 Eigen::VectorXd& f, Eigen::VectorXd& u) {
  const int L = int(t.heads.size()), np = t.n_paths(), ns = t.n_seq();
  KeyedNormals g{attnmc::rng::make_key(seed, attnmc::rng::Purpose::input, std::uint32_t(n), 3, 0)};
  // widths: N_1..N_L, N_a; V^0: N_1 x N_in, V^{l,h}: N_{l+1} x N_l.
  const Eigen::MatrixXd v0 = draw(g, int(m.widths[0]), t.n_in, m.variances[0]);
  std::vector<std::vector<Eigen::MatrixXd>> v(static_cast<std::size_t>(L));
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < t.heads[l]; ++h)
      v[l].push_back(draw(g, int(m.widths[l + 1]), int(m.widths[l]), m.variances[l + 1]));
  const Eigen::VectorXd a = draw(g, int(m.widths[L]), 1, m.variances[L + 1]);
  f.resize(ns);
  for (int s = 0; s < ns; ++s) {
    Eigen::MatrixXd z = v0 * t.x[s] / std::sqrt(double(t.n_in));
    for (int l = 0; l < L; ++l) {
      Eigen::MatrixXd next = Eigen::MatrixXd::Zero(m.widths[l + 1], t.tokens);
      for (int h = 0; h < t.heads[l]; ++h) next += v[l][h] * z * t.omega[s][l][h];
      z = next / std::sqrt(double(t.heads[l]) * double(m.widths[l]));
    }
    f(s) = a.dot(z.col(t.tokens - 1)) / std::sqrt(double(m.widths[L]));
  }
  // U_1 from the weights: w_L = a / sqrt(N_a); w_{(h, rest)} = V^{l,h}^T w_rest / sqrt(N_l).
  std::vector<Eigen::VectorXd> w{a / std::sqrt(double(m.widths[L]))};
  for (int l = L - 1; l >= 0; --l) {
    std::vector<Eigen::VectorXd> nw;
    for (int h = 0; h < t.heads[l]; ++h)
      for (const auto& r : w)
        nw.push_back(v[l][h].transpose() * r / std::sqrt(double(m.widths[l])));
    w = nw;
  }
  u.resize(np * np);
  for (int p = 0; p < np; ++p)
    for (int q = 0; q < np; ++q) u(p * np + q) = w[p].dot(w[q]);
}

// Self-normalised importance sampling: g_hat = sum w g / sum w, with the
// delta-method se^2 = sum w^2 (g - g_hat)^2 / (sum w)^2, from the sums
// w, w^2, w g, w^2 g, w^2 g^2 accumulated over fixed blocks of networks
// (in parallel) and merged in block order: the same bits for any threads.
BruteForce brute_force(const SmallTask& t, const ap::PathsTheoryModel& m, int networks,
                       std::uint64_t seed) {
  const int np = t.n_paths(), nt = t.n_test;
  const int k = 2 * nt + np * np;  // statistics: f*, f*^2, U_1
  struct Sums {
    double w = 0.0, w2 = 0.0;
    Eigen::VectorXd wg, w2g, w2g2;
  };
  const int block = 4096, blocks = (networks + block - 1) / block;
  std::vector<Sums> parts(static_cast<std::size_t>(blocks));
#pragma omp parallel for schedule(dynamic, 1)
  for (int bi = 0; bi < blocks; ++bi) {
    Sums& s = parts[std::size_t(bi)];
    s.wg = s.w2g = s.w2g2 = Eigen::VectorXd::Zero(k);
    Eigen::VectorXd f, u, g(k);
    for (int n = bi * block; n < std::min(networks, (bi + 1) * block); ++n) {
      one_network(t, m, seed, n, f, u);
      double e = 0.0;
      for (int i = 0; i < t.n_train; ++i) e += (f(i) - t.y_train[i]) * (f(i) - t.y_train[i]);
      const double w = std::exp(-e / (2 * m.temperature));
      g << f.tail(nt), f.tail(nt).cwiseAbs2(), u;
      s.w += w, s.w2 += w * w;
      s.wg += w * g, s.w2g += w * w * g, s.w2g2 += w * w * g.cwiseAbs2();
    }
  }
  Sums all;
  all.wg = all.w2g = all.w2g2 = Eigen::VectorXd::Zero(k);
  for (const Sums& s : parts)
    all.w += s.w, all.w2 += s.w2, all.wg += s.wg, all.w2g += s.w2g, all.w2g2 += s.w2g2;
  BruteForce b;
  b.ess = all.w * all.w / all.w2;
  auto take = [&](int offset, int count, std::vector<double>& mean, std::vector<double>& se) {
    for (int i = offset; i < offset + count; ++i) {
      const double gh = all.wg(i) / all.w;
      const double var = all.w2g2(i) - 2 * gh * all.w2g(i) + gh * gh * all.w2;
      mean.push_back(gh), se.push_back(std::sqrt(std::max(var, 0.0)) / all.w);
    }
  };
  take(0, nt, b.f_mean, b.f_mean_se);
  take(nt, nt, b.f_second, b.f_second_se);
  take(2 * nt, np * np, b.u1, b.u1_se);
  return b;
}

struct Gp {
  std::vector<double> f_mean, f_second;
  std::vector<double> u1;
};
Gp gp_limit(const ap::PathsTheoryModel& m, const ap::PathOverlapData& d) {
  Gp g;
  g.u1 = ap::gp_u1(m);
  const ap::Prediction p = ap::predict(m, d, g.u1);
  g.f_mean = p.mean;
  for (std::size_t i = 0; i < p.mean.size(); ++i)
    g.f_second.push_back(p.variance[i] + p.mean[i] * p.mean[i]);
  return g;
}

struct Comparison {
  int disagreements = 0;  // exact vs brute beyond kZ
  double worst_z = 0.0;
  bool f_power_exact = false;  // some f statistic: |exact - GP| > kZ se
  bool f_power_brute = false;
  bool u_power_exact = false;
  bool u_power_brute = false;
};

Comparison compare(const SmallTask& t, const ap::PathsTheoryModel& m, const ap::PosteriorResult& ex,
                   const BruteForce& bf, const Gp& gp, bool print) {
  Comparison c;
  auto check = [&](const char* what, int i, double e, double se_e, double b, double se_b, double g,
                   bool* pe, bool* pb) {
    const double z = std::abs(e - b) / std::sqrt(se_e * se_e + se_b * se_b);
    c.worst_z = std::max(c.worst_z, z);
    if (z > kZ) ++c.disagreements;
    if (std::abs(e - g) > kZ * se_e) *pe = true;
    if (std::abs(b - g) > kZ * se_b) *pb = true;
    if (print)
      std::printf("  %-9s %2d exact %9.5f +- %.5f  brute %9.5f +- %.5f  GP %9.5f  z %.2f\n", what,
                  i, e, se_e, b, se_b, g, z);
  };
  for (int i = 0; i < t.n_test; ++i) {
    check("mean f*", i, ex.f_mean[i], ex.f_mean_se[i], bf.f_mean[i], bf.f_mean_se[i], gp.f_mean[i],
          &c.f_power_exact, &c.f_power_brute);
    check("second", i, ex.f_second[i], ex.f_second_se[i], bf.f_second[i], bf.f_second_se[i],
          gp.f_second[i], &c.f_power_exact, &c.f_power_brute);
  }
  const int np = t.n_paths();
  for (int p = 0; p < np; ++p)
    for (int q = p; q < np; ++q) {
      const int i = p * np + q;
      check("U_1", i, ex.u_mean.u[0][i], ex.u_mean_se.u[0][i], bf.u1[i], bf.u1_se[i], gp.u1[i],
            &c.u_power_exact, &c.u_power_brute);
    }
  (void)m;
  return c;
}

struct Case {
  std::uint64_t seed;
  long width;
  int train;
  int networks;  // brute force: enough that f(x*) stands > 4 errors from the GP limit
};

ap::PosteriorOptions options(int df_shift = 0) {
  ap::PosteriorOptions o;
  o.seed = 99;
  o.chains = 48;
  o.burn_in = 2000;
  o.steps = 6000;
  o.thin = 5;
  o.planted_df_shift = df_shift;
  return o;
}

}  // namespace

// N = 2 (U_1 singular: 2 < 4 paths), 4 and 6; P = 3, 5, 8; Temp = 0.3.
TEST(PathsPosterior, AgreesWithWholeNetworkBruteForce) {
  for (const Case& cs :
       {Case{101, 2, 3, 400000}, Case{102, 4, 5, 400000}, Case{103, 6, 8, 1200000}}) {
    const SmallTask t = paths_test::make_task(cs.seed, cs.train, 2, {2, 2});
    const ap::PathsTheoryModel m = paths_test::model_for(t, cs.width, 0.3);
    const ap::PathOverlapData d = paths_test::overlaps(t);
    const BruteForce bf = brute_force(t, m, cs.networks, cs.seed);
    const ap::PosteriorResult ex = ap::sample_posterior(m, d, options());
    std::printf(
        "N = %ld, P = %d: brute-force ESS %.0f, chain acceptance %.2f, R-hat %.3f, %d latent "
        "variables\n",
        cs.width, cs.train, bf.ess, ex.acceptance, ex.max_rhat, ex.latent_dim);
    EXPECT_LT(ex.max_rhat, 1.05) << "N = " << cs.width;
    const Comparison c = compare(t, m, ex, bf, gp_limit(m, d), true);
    EXPECT_EQ(c.disagreements, 0) << "N = " << cs.width << " worst z " << c.worst_z;
    EXPECT_TRUE(c.f_power_exact && c.f_power_brute)
        << "N = " << cs.width << ": f(x*) not distinguishable from GP";
    EXPECT_TRUE(c.u_power_exact && c.u_power_brute)
        << "N = " << cs.width << ": U_1 not distinguishable from GP";
  }
}

// A planted bug: one extra degree of freedom in every Wishart (and chi-square).
TEST(PathsPosterior, PlantedDegreesOfFreedomBugIsCaught) {
  const SmallTask t = paths_test::make_task(101, 3, 2, {2, 2});
  const ap::PathsTheoryModel m = paths_test::model_for(t, 2, 0.3);
  const ap::PathOverlapData d = paths_test::overlaps(t);
  const BruteForce bf = brute_force(t, m, 400000, 101);
  const ap::PosteriorResult bad = ap::sample_posterior(m, d, options(1));
  const Comparison c = compare(t, m, bad, bf, gp_limit(m, d), true);
  EXPECT_GT(c.disagreements, 0) << "worst z " << c.worst_z;
}

// Same seed, same bits, whatever the number of threads (chains are keyed).
TEST(PathsPosterior, ReproducibleAcrossThreadCounts) {
  const SmallTask t = paths_test::make_task(7, 4, 2, {2, 2});
  const ap::PathsTheoryModel m = paths_test::model_for(t, 5, 0.3);
  const ap::PathOverlapData d = paths_test::overlaps(t);
  ap::PosteriorOptions o = options();
  o.chains = 6, o.burn_in = 200, o.steps = 300;
  omp_set_num_threads(1);
  const ap::PosteriorResult a = ap::sample_posterior(m, d, o);
  omp_set_num_threads(2);
  const ap::PosteriorResult b = ap::sample_posterior(m, d, o);
  EXPECT_EQ(a.f_mean, b.f_mean);
  EXPECT_EQ(a.f_second, b.f_second);
  EXPECT_EQ(a.u_mean.u[0], b.u_mean.u[0]);
}

// As N grows the exact posterior mean of U_1 approaches the saddle point
// (their distance shrinks like 1/N, beyond the chain error), with the same
// number of latent variables and likelihood evaluations at every N. At N = 4
// the largest entry stands 7.8 chain errors off the saddle point (fresh-seed
// chance of falling under the 4-error bar ~1e-4); the bound 4 se + 1/N at
// larger N is met by 2 to 4 times.
TEST(PathsPosterior, ApproachesTheSaddlePointAsWidthGrows) {
  const SmallTask t = paths_test::make_task(201, 10, 4, {2, 2});
  const ap::PathOverlapData d = paths_test::overlaps(t);
  ap::PosteriorOptions o = options();
  o.chains = 64, o.burn_in = 2000, o.steps = 4000, o.thin = 50;
  std::vector<double> dist, err, z;
  std::vector<int> latent;
  std::vector<std::uint64_t> evals;
  for (long n : {4L, 100L, 1000L, 10000L}) {
    const ap::PathsTheoryModel m = paths_test::model_for(t, n, 0.1);
    const ap::SaddlePoint sp = ap::solve_saddle_point(m, d);
    ASSERT_TRUE(sp.converged);
    const ap::PosteriorResult ex = ap::sample_posterior(m, d, o);
    double dd = 0.0, ee = 0.0, zz = 0.0;
    for (std::size_t i = 0; i < sp.params.u[0].size(); ++i) {
      const double diff = std::abs(ex.u_mean.u[0][i] - sp.params.u[0][i]);
      dd = std::max(dd, diff);
      ee = std::max(ee, ex.u_mean_se.u[0][i]);
      zz = std::max(zz, diff / ex.u_mean_se.u[0][i]);
    }
    z.push_back(zz);
    std::printf("N = %5ld: max |E[U_1|y] - U_1*| = %.5f (chain error %.5f), saddle vs GP %.5f\n", n,
                dd, ee, std::abs(sp.params.u[0][0] - 1.0));
    dist.push_back(dd), err.push_back(ee), latent.push_back(ex.latent_dim),
        evals.push_back(ex.likelihood_evaluations);
  }
  EXPECT_GT(z[0], kZ);  // at N = 4 the finite-width posterior is not the saddle point
  EXPECT_LT(dist.back(), dist[0] / 10);
  const std::vector<double> widths{4, 100, 1000, 10000};
  for (std::size_t i = 0; i < dist.size(); ++i)  // within error of a 1/N approach
    EXPECT_LT(dist[i], kZ * err[i] + 1.0 / widths[i]) << widths[i];
  for (std::size_t i = 1; i < dist.size(); ++i) {
    EXPECT_EQ(latent[i], latent[0]);
    EXPECT_EQ(evals[i], evals[0]);
  }
}

// Importance sampling from the Wishart chain (exact prior draws, keyed
// Marsaglia-Tsang chi-squares) agrees with the whole-network brute force
// where its effective sample size suffices, and reports that ESS. Same
// 4-error rule as above (14 comparisons per case).
TEST(PathsPosterior, ImportanceSamplingFromTheChainAgreesWithBruteForce) {
  for (const Case& cs : {Case{101, 2, 3, 400000}, Case{102, 4, 5, 400000}}) {
    const SmallTask t = paths_test::make_task(cs.seed, cs.train, 2, {2, 2});
    const ap::PathsTheoryModel m = paths_test::model_for(t, cs.width, 0.3);
    const ap::PathOverlapData d = paths_test::overlaps(t);
    const BruteForce bf = brute_force(t, m, cs.networks, cs.seed);
    ap::ImportanceOptions o;
    o.seed = 5;
    o.samples = 200000;
    const ap::PosteriorResult is = ap::importance_posterior(m, d, o);
    std::printf("N = %ld, P = %d: importance ESS %.0f of %u\n", cs.width, cs.train, is.ess,
                o.samples);
    EXPECT_GT(is.ess, 1000.0);
    const Comparison c = compare(t, m, is, bf, gp_limit(m, d), true);
    EXPECT_EQ(c.disagreements, 0) << "N = " << cs.width << " worst z " << c.worst_z;
    EXPECT_TRUE(c.f_power_exact && c.u_power_exact) << "N = " << cs.width;
    // The two reduced samplers against each other: importance sampling's
    // errors are 3 to 5 times smaller than brute force's, a tighter check
    // of the Metropolis chains.
    BruteForce as_reference;
    as_reference.f_mean = is.f_mean, as_reference.f_mean_se = is.f_mean_se;
    as_reference.f_second = is.f_second, as_reference.f_second_se = is.f_second_se;
    as_reference.u1 = is.u_mean.u[0], as_reference.u1_se = is.u_mean_se.u[0];
    const ap::PosteriorResult mc = ap::sample_posterior(m, d, options());
    const Comparison cm = compare(t, m, mc, as_reference, gp_limit(m, d), false);
    EXPECT_EQ(cm.disagreements, 0)
        << "MCMC vs importance, N = " << cs.width << " worst z " << cm.worst_z;
  }
}
