// Runs a sweep's cells into a store (host/sweep/store.hpp), resumably:
// finished cells (verified against their checksums) are not recomputed, an
// interrupted cell restarts, a cell that fails numerically is recorded with
// the reason and the sweep goes on. Bad input in any cell stops the sweep
// before any work, naming the cell and the key.
#pragma once

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "host/sweep/sweep_plan.hpp"

namespace attnmc::mpi {
class World;
}

namespace attnmc::sweep {

struct SweepOptions {
  bool force = false;     // replace a store that holds a different sweep
  bool quiet = false;     // no notes
  bool progress = false;  // progress lines on stderr
  // Execution settings given on the command line (run.threads): they do not
  // change the results, so they are not part of the sweep's identity.
  std::vector<std::string> execution_overrides;
  // The processes of a job (host/mpi/): with several, cells go round a
  // queue on rank 0, which alone writes the store (host/mpi/split_sweep.hpp).
  const mpi::World* world = nullptr;
  // Called after each cell is written (tests interrupt sweeps here).
  std::function<void(std::size_t cell)> after_cell;
  // Called with (members done, members of the whole sweep) as cells run
  // and are found in the store; it may throw Cancelled (attnmc/cancel.hpp)
  // to stop the sweep: the cell in flight is not written, the store resumes.
  std::function<void(std::uint64_t, std::uint64_t)> progress_hook;
};

struct SweepOutcome {
  std::size_t cells = 0, reused = 0, computed = 0, failed = 0, recomputed_corrupt = 0;
  std::vector<nlohmann::json> cell_records;  // cell.json of every cell, in order
  double seconds = 0.0;
};

SweepOutcome run_sweep(Plan plan, const std::string& store, const SweepOptions& options);

}  // namespace attnmc::sweep
