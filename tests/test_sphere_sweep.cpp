// The (beta, d) sweep: bit-identical output for a fixed seed whatever the
// thread count or chunk size, and a table whose error bars are the
// binomial ones of its counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

#include "attnmc/sphere.hpp"
#include "host/sphere_sweep.hpp"

namespace attnmc {
namespace {

SphereSweepSpec small_sweep(int threads, std::uint64_t chunk) {
  SphereSweepSpec s;
  s.base.scheme = SphereScheme::sde_geometric;
  s.base.init = SphereInit::rho0;
  s.base.rho0 = 0.0;
  s.base.horizon = 8.0;
  s.base.steps = 400;
  s.base.trajectories = 300;
  s.base.seed = 2024;
  s.base.threads = threads;
  s.base.chunk = chunk;
  s.base.record_every = 100;
  s.dims = {2, 5};
  s.betas = {0.0, 1.5};
  return s;
}

std::string csv(const SphereSweepResult& r) {
  std::ostringstream os;
  write_sweep_csv(os, r, /*timing=*/false);
  return os.str();
}

TEST(SphereSweep, BitIdenticalAcrossThreadsAndChunks) {
  const std::string one = csv(run_sphere_sweep(small_sweep(1, 0)));
  const std::string two = csv(run_sphere_sweep(small_sweep(2, 0)));
  const std::string odd = csv(run_sphere_sweep(small_sweep(2, 37)));
  EXPECT_EQ(one, two);
  EXPECT_EQ(one, odd);
  // the header and one row per cell
  EXPECT_EQ(std::count(one.begin(), one.end(), '\n'), 5);
}

TEST(SphereSweep, CellsAreIndependentEnsemblesWithBinomialErrors) {
  const SphereSweepResult r = run_sphere_sweep(small_sweep(2, 0));
  ASSERT_EQ(r.cells.size(), 4u);
  EXPECT_NE(r.cells[0].seed, r.cells[1].seed);
  for (const SphereSweepCell& c : r.cells) {
    const SphereResult& x = c.result;
    EXPECT_EQ(x.collapse + x.antipodal + x.other + x.nonfinite, 300);
    const Proportion pa = x.p_antipodal();
    EXPECT_NEAR(pa.stderr_(), std::sqrt(pa.p() * (1 - pa.p()) / double(pa.trials)), 1e-15);
    // N = 2 flow from rho0 = 0 always collapses (d rho / dt = 2 (1 - p)(1 - rho^2) > 0)
    EXPECT_TRUE(c.has_flow);
    EXPECT_EQ(c.flow_collapse, 1);
  }
}

}  // namespace
}  // namespace attnmc
