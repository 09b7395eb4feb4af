// The sphere model's trajectory-parallel step (kernels/sphere_lanes.hpp)
// against the one-trajectory step (sphere_attention + sphere_step_drawn),
// bit for bit, lane by lane: every scheme, several (N, d), and lanes that
// take the rare branches (a lane whose tokens coincide, so the flow does not
// move it; a lane whose noise is so large that |x|^2 overflows and
// normalise rescales first; lanes whose great-circle angles are large, one
// beyond the polynomial sincos's range).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/sphere_lanes.hpp"
#include "kernels/sphere_math.hpp"

namespace attnmc {
namespace {

using kernels::SphereCoefficients;

bool ranks_differ = false;  // set by check() with reduced noise

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

template <int kLanes>
void check(int scheme, bool reduced, int n, int d, unsigned seed) {
  SphereCoefficients c;
  c.n = n;
  c.d = d;
  c.scheme = scheme;
  c.reduced = reduced;
  c.dt = 0.02;
  c.beta = 2.5;
  c.sigma = 1.3;
  ASSERT_TRUE(kernels::sphere_lanes_supported(c));
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  const int nd = n * d;
  // Scalar workspaces, one per lane, and the structure-of-arrays state.
  std::vector<std::vector<double>> base(kLanes,
                                        std::vector<double>(kernels::sphere_workspace_doubles(c)));
  std::vector<kernels::SphereWork> w(kLanes);
  std::vector<double> soa(kernels::sphere_lane_doubles(c) * kLanes);
  const kernels::SphereLanes<kLanes> sl = kernels::sphere_lanes<kLanes>(soa.data(), c);
  double(*X)[kLanes] = sl.x;
  double(*Z)[kLanes] = sl.z;
  for (int l = 0; l < kLanes; ++l) {
    w[l] = kernels::sphere_work(base[l].data(), c);
    for (int e = 0; e < nd; ++e) w[l].x[e] = normal(gen);
    if (l == 2)  // all tokens at token 0: the flow leaves the lane where it is
      for (int e = d; e < nd; ++e) w[l].x[e] = w[l].x[e % d];
    for (int i = 0; i < n; ++i) kernels::normalise(w[l].x + i * d, d);
    for (int e = 0; e < nd; ++e) X[e][l] = w[l].x[e];
  }
  int rare = 0;
  for (int step = 0; step < 25; ++step) {
    for (int e = 0; e < d * d; ++e)
      for (int l = 0; l < kLanes; ++l) {
        // Lane 5, every fifth step: |x + s V a|^2 overflows. Lane 6, every
        // third step: great-circle angles of 10^3-10^4, beyond
        // kSinCosPolyMax (libm's branch of sincos_poly); lane 7: angles of
        // a few radians (every quadrant of the reduction).
        const double scale = l == 5 && step % 5 == 0   ? 1e160
                             : l == 6 && step % 3 == 0 ? 3e4
                             : l == 7                  ? 20.0
                                                       : 1.0;
        Z[e][l] = normal(gen) * scale;
        w[l].z[e] = Z[e][l];
      }
    int rank[kLanes] = {};
    kernels::sphere_attention_lanes<kLanes>(sl, c);
    const bool noisy = scheme != kernels::kSphereFlow;
    if (reduced && noisy) kernels::sphere_reduce_lanes<kLanes>(sl, c, rank);
    kernels::sphere_step_drawn_lanes<kLanes>(sl, c, rank);
    for (int l = 0; l < kLanes; ++l) {
      kernels::sphere_attention(w[l], c, nullptr);
      const int rank1 = noisy ? kernels::sphere_prepare_noise(w[l], c) : 0;
      if (reduced) {
        ASSERT_EQ(rank1, rank[l]) << "N " << n << " d " << d << " lane " << l;
        ranks_differ = ranks_differ || rank[l] != rank[0];
      }
      double before = 0.0;
      for (int p = 0; p < d; ++p) before = std::max(before, std::abs(w[l].z[p]));
      rare += before > 1e100 ? 1 : 0;
      kernels::sphere_step_drawn(w[l], c, rank1);
      for (int e = 0; e < nd; ++e)
        ASSERT_TRUE(same_bits(w[l].x[e], X[e][l]))
            << "scheme " << scheme << " N " << n << " d " << d << " lane " << l << " step " << step
            << " entry " << e << ": " << w[l].x[e] << " vs " << X[e][l];
    }
  }
  if (scheme != kernels::kSphereFlow) EXPECT_GT(rare, 0);
}

TEST(SphereLanes, StepEqualsTheOneTrajectoryStep) {
  unsigned seed = 1;
  for (int scheme : {kernels::kSphereNetwork, kernels::kSphereProjected, kernels::kSphereGeometric,
                     kernels::kSphereFlow})
    for (bool reduced : {false, true})
      for (int n : {1, 2, 3, 8})
        for (int d : {2, 3, 5, 16}) {
          check<16>(scheme, reduced, n, d, seed);  // the sampler's group
          check<8>(scheme, reduced, n, d, seed++);
        }
  // N = 17 takes the attention's path without the shared Gram matrix (N <= 16).
  for (int scheme : {kernels::kSphereGeometric, kernels::kSphereFlow})
    check<16>(scheme, true, 17, 3, seed++);
  // Lane 2's coinciding tokens give it rank 1: the lanes' ranks differed.
  EXPECT_TRUE(ranks_differ);
}

}  // namespace
}  // namespace attnmc
