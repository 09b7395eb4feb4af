// The configuration schemas of the SDE, sphere and compare commands: the
// same TOML layer as `run` (host/config/toml_layer.hpp), the same shared
// keys (host/config/schema.hpp), each family's own section:
//   sde:     [model] [input] [sde] [ensemble] [run]
//   sphere:  [model] [input] [sphere] [ensemble] [run]
//   compare: [model] [input] [compare] [ensemble] [run]
// `ensemble.members` is the ensemble size everywhere (networks, paths or
// trajectories), `ensemble.seed` the seed, `run.device` / `run.threads`
// where to run. The returned specs are not yet resolved.
#pragma once

#include "attnmc/sde.hpp"
#include "attnmc/sphere.hpp"
#include "host/compare.hpp"
#include "host/config/toml_layer.hpp"

namespace attnmc {

SdeSpec load_sde_spec(const ConfigSource& source);

// A sphere ensemble and whether the deterministic flow from the same start
// runs beside it (sphere.flow; what the phase diagram records per cell).
struct SphereRun {
  SphereSpec spec;
  bool flow = false;
};
SphereRun load_sphere_run(const ConfigSource& source);

CompareSpec load_compare_spec(const ConfigSource& source);

}  // namespace attnmc
