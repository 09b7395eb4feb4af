// The results store of a sweep, a directory:
//   sweep.json       what the sweep is (command, configuration, axes, seeds)
//   cells/NNNN/      one finished cell: the command's output files (summary.json,
//                    stats.h5, table.txt, ...) and cell.json (parameters, seed,
//                    status ok | failed and why, headline numbers, and the size
//                    and SHA-256 of every other file)
//   cells.csv        one row per finished cell: parameters, seed, status, numbers
//   .lock            held (flock) by the sweep that runs in it
// Cells are written atomically (staged and renamed), so a cell directory is
// either complete or absent; a cell whose files do not match its cell.json
// (truncated, corrupted) is detected and recomputed.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace attnmc::sweep {

// An exclusive lock on a store, released when destroyed (or when the
// process dies, even by SIGKILL). InputError("output") naming the holder's
// pid when another sweep has it.
class StoreLock {
 public:
  explicit StoreLock(const std::string& store);
  ~StoreLock();
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

 private:
  int fd_ = -1;
};

// Writes `text` to `path` through a temporary sibling and a rename.
void write_file_atomic(const std::string& path, const std::string& text);

// Size and SHA-256 of every regular file in `dir` except cell.json.
nlohmann::json file_manifest(const std::string& dir);

// Empty when the cell directory matches its cell.json; otherwise why not.
std::string verify_cell(const std::string& dir);

// The cells.csv table from the cell.json of the finished cells, in order.
std::string cells_csv(const std::vector<nlohmann::json>& cells);

}  // namespace attnmc::sweep
