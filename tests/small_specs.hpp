// Small SDE and sphere ensembles shared by the suites that check how those
// families' statistics are produced (pieces, chunks, threads, the device
// reduction): a few hundred trajectories, seconds at most, and an SDE
// strong enough that some paths blow up.
#pragma once

#include "attnmc/sde.hpp"
#include "attnmc/sphere.hpp"

namespace attnmc::test {

inline SdeSpec small_sde_spec() {
  SdeSpec s;
  s.model.tokens = 3;
  s.model.mlp = true;
  s.model.tau0 = 0.6;  // strong attention: some paths blow up
  s.input.rho0 = 0.3;
  s.horizon = 1.5;
  s.steps = 60;
  s.blowup_threshold = 30;
  s.trajectories = 301;
  s.seed = 9;
  s.device = Device::cpu;
  return s;
}

inline SphereSpec small_sphere_spec() {
  SphereSpec s;
  s.tokens = 3;
  s.dim = 3;
  s.init = SphereInit::uniform;
  s.horizon = 2;
  s.steps = 40;
  s.record_every = 10;
  s.trajectories = 301;
  s.seed = 4;
  s.device = Device::cpu;
  return s;
}

}  // namespace attnmc::test
