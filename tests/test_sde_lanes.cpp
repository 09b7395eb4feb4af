// The SDE's trajectory-parallel Euler step (kernels/sde_lanes.hpp) against
// the one-trajectory step (sde_euler_step_drawn), bit for bit, lane by lane:
// attention and MLP drift and noise, well-conditioned starts and
// near-singular ones whose Cholesky fails (PSD projection, rho clips), and
// a lane that blows up, for fixed m (2, 3, 4, 8) and run-time m.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/sde_lanes.hpp"
#include "kernels/sde_math.hpp"

namespace attnmc {
namespace {

using kernels::SdeCoefficients;
using kernels::SdeCounters;

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

template <int M, int CAP, int kLanes>
void check(int m, double attn_drift, double mlp_drift, double attn_noise, double kappa, double rho0,
           double dt, unsigned seed, int* projected) {
  SdeCoefficients c;
  c.m = m;
  c.dt = dt;
  c.attn_drift = attn_drift;
  c.mlp_drift = mlp_drift;
  c.nu_scale = 1.0 / (2.0 * 3.141592653589793);
  c.attn_noise = attn_noise;
  c.kappa = kappa;
  c.blowup = 1e6;
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> unif(0.5, 1.5);
  // Scalar state per lane and the same state as structure of arrays.
  double v[kLanes][CAP * CAP], f[kLanes][CAP * CAP];
  double V[CAP * CAP][kLanes], Lf[CAP * CAP][kLanes];
  SdeCounters cs[kLanes], cl[kLanes];
  bool live[kLanes], ok[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    // V0 = D ((1 - rho) I + rho 11^T) D with a random diagonal scale D.
    double d[CAP];
    for (int a = 0; a < m; ++a) d[a] = unif(gen);
    for (int a = 0; a < m; ++a)
      for (int b = 0; b < m; ++b) v[l][a * m + b] = d[a] * d[b] * (a == b ? 1.0 : rho0);
    kernels::sde_restore<M, CAP>(v[l], m, f[l], cs[l]);
    cl[l] = cs[l];
    for (int e = 0; e < m * m; ++e) {
      V[e][l] = v[l][e];
      Lf[e][l] = f[l][e];
    }
    live[l] = true;
  }
  {  // lane 3 starts huge: it blows up at once
    for (int e = 0; e < m * m; ++e) v[3][e] = V[e][3] = 1e7 * v[3][e];
    for (int e = 0; e < m * m; ++e) f[3][e] = Lf[e][3] = 3162.2776601683795 * f[3][e];
  }
  for (int step = 0; step < 20; ++step) {
    double zs[CAP * CAP][kLanes], za[CAP * CAP][kLanes], zsl[CAP * CAP], zal[CAP * CAP];
    for (int e = 0; e < m * m; ++e)
      for (int l = 0; l < kLanes; ++l) {
        zs[e][l] = normal(gen);
        za[e][l] = normal(gen);
      }
    kernels::sde_euler_step_lanes<M, CAP, kLanes>(V, Lf, m, c, zs, za, live, cl, ok);
    for (int l = 0; l < kLanes; ++l) {
      if (!live[l]) continue;
      for (int e = 0; e < m * m; ++e) {
        zsl[e] = zs[e][l];
        zal[e] = za[e][l];
      }
      const bool ok1 = kernels::sde_euler_step_drawn<M, CAP>(v[l], f[l], m, c, zsl, zal, cs[l]);
      ASSERT_EQ(ok1, ok[l]) << "m " << m << " lane " << l << " step " << step;
      for (int e = 0; e < m * m; ++e) {
        ASSERT_TRUE(same_bits(v[l][e], V[e][l]))
            << "V m " << m << " lane " << l << " step " << step << " entry " << e << ": " << v[l][e]
            << " vs " << V[e][l];
        if (ok1)
          ASSERT_TRUE(same_bits(f[l][e], Lf[e][l]))
              << "L m " << m << " lane " << l << " step " << step << " entry " << e;
      }
      ASSERT_EQ(cs[l].projections, cl[l].projections);
      ASSERT_EQ(cs[l].rho_clips, cl[l].rho_clips);
      if (!ok1) live[l] = false;  // the sampler parks a blown-up lane
    }
  }
  EXPECT_FALSE(live[3]) << "the planted blow-up did not happen";
  for (int l = 0; l < kLanes; ++l) *projected += cs[l].projections;
}

template <int M, int CAP, int kLanes>
void check_all(int m) {
  int projected = 0;
  unsigned seed = 1;
  // attention only; MLP only; both with attention noise; near-singular starts.
  for (double rho0 : {0.3, 0.9999}) {
    check<M, CAP, kLanes>(m, 1.0, 0.0, 0.0, 0.5, rho0, 0.01, seed++, &projected);
    check<M, CAP, kLanes>(m, 0.0, 1.0, 0.0, 1.0, rho0, 0.01, seed++, &projected);
    check<M, CAP, kLanes>(m, 1.0, 1.0, 0.7, 1.5, rho0, 0.05, seed++, &projected);
  }
  // The branch to the scalar projection was taken (else it is untested).
  EXPECT_GT(projected, 0) << "m " << m;
}

TEST(SdeLanes, EulerStepEqualsTheOneTrajectoryStep) {
  // 8 and 16 lanes: the samplers' group sizes.
  check_all<2, 2, 16>(2);
  check_all<3, 3, 16>(3);
  check_all<4, 4, 16>(4);
  check_all<8, 8, 16>(8);
  check_all<0, 8, 16>(5);
  check_all<2, 2, 8>(2);
  check_all<8, 8, 8>(8);
  check_all<0, 16, 8>(11);
}

}  // namespace
}  // namespace attnmc
