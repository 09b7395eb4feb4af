// A sweep's cells spread over the ranks of a World by a dynamic queue on
// rank 0 (host/sweep/run_sweep.cpp calls it when the sweep runs under a
// launcher). Cells differ in cost (widths, depths, members), which no
// static assignment knows in advance; a queue hands the next cell to
// whichever rank asks first, so no rank idles while cells remain (only the
// last cells can leave ranks waiting, for at most one cell's time).
//
// Each cell runs whole on one rank, with the ordinary command (on one GPU,
// no communication inside a cell): its bytes are those of a run of one
// process. Rank 0 owns the store and its lock: it is the only writer. A
// worker computes a cell in a private scratch directory and sends its files
// to rank 0, which stages them in the store and renames the cell into place
// (atomic, checksummed in cell.json, exactly as in a sweep of one process),
// so the store's resume guarantees hold: a job that dies leaves finished
// cells and no half-written one. Rank 0 also computes cells, with a second
// thread serving the queue, when the MPI library allows it
// (MPI_THREAD_SERIALIZED or better; otherwise it only serves). When fewer
// cells are left to do than there are ranks, run_sweep does not queue them
// but runs each split over every rank (host/mpi/split_ensemble.hpp), so a
// sweep of a few large cells uses every rank too.
#pragma once

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "host/output.hpp"

namespace attnmc::mpi {

class World;

struct CellWork {
  // Any rank: runs cell i into `dir`; its record (cell.json without "files").
  // Numerical and runtime failures are part of the record; an exception
  // escaping it is a bug (the job ends).
  std::function<nlohmann::json(std::size_t i, StagedDirectory& dir)> compute;
  // Rank 0: the directory of cell i in the store.
  std::function<std::string(std::size_t i)> cell_dir;
  // Rank 0, one call at a time: adds the manifest and cell.json to the
  // staged cell, commits it and counts it.
  std::function<void(std::size_t i, nlohmann::json record, StagedDirectory& dir)> commit;
};

// A directory for this rank's throwaway output (the files of a run that
// rank 0 writes): $TMPDIR/attnmc-rank<R>-<pid>/<leaf>, removed with its staging.
std::string scratch_output_dir(const World& world, const std::string& leaf);

// Runs the cells `todo` (in this order of hand-out) over every rank of
// `world`; returns when every cell is in the store. Every rank calls it
// with the same `todo`.
void run_cells_split(const World& world, const std::vector<std::size_t>& todo,
                     const CellWork& work);

}  // namespace attnmc::mpi
