// The processes of one attnmc job: the small seam between attnmc and MPI.
// Everything else in the host code talks to a World and never includes
// <mpi.h>. Two implementations, one chosen at build time (CMake option
// ATTNMC_MPI): host/mpi/world_mpi.cpp (Open MPI or any MPI-3 library) and
// host/mpi/world_serial.cpp (no MPI: always one process).
//
// MPI is initialised only when a launcher started the process (mpirun,
// mpiexec or srun leave OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_SIZE or
// PMI_RANK in the environment; see launched_by_mpi()). A plain `attnmc run`
// never touches MPI: singleton initialisation would work with Open MPI but
// starts its runtime (and, with Open MPI 5, a PRRTE daemon) for nothing,
// fails in some containers, and adds a second of start-up to every command.
#pragma once

#include <string>
#include <vector>

namespace attnmc::mpi {

// True when the environment says a process manager launched this process.
bool launched_by_mpi();

class World {
 public:
  // Initialises MPI when launched_by_mpi() and the build has MPI; otherwise
  // a world of one process.
  World(int& argc, char**& argv);
  // Finalises MPI (after a quiet barrier, see below) when it was initialised.
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }
  // Rank and number of ranks on this node (for the device index).
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  // Whether one thread may call MPI while another computes (MPI_THREAD_SERIALIZED
  // or better was granted): the sweep's rank 0 then also runs cells.
  bool threads_ok() const { return threads_ok_; }

  // Collectives. The waits poll with short sleeps rather than spin, so a
  // rank that finished its share leaves the cores to those still working
  // (ranks often share cores: several ranks per node, --oversubscribe).
  // Every rank's bytes, in rank order, on every rank.
  std::vector<std::string> allgather(const std::string& mine) const;
  // Rank 0's bytes on every rank (`bytes` is ignored elsewhere).
  std::string broadcast(const std::string& bytes) const;
  void barrier() const;

  // Point to point (the sweep's work queue). tag >= 0.
  void send(int to, int tag, const std::string& bytes) const;
  // A message waiting, from any rank with any tag: true and its source/tag.
  bool poll(int* from, int* tag) const;
  std::string receive(int from, int tag) const;

  // Ends every rank of the job with `code` (a rank failed alone).
  [[noreturn]] void abort(int code) const;

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  bool initialized_ = false, threads_ok_ = false;
};

// A failure every rank knows about (an error the ranks agreed on): the CLI
// prints it once, on rank 0, and every rank exits with `code`.
class AgreedFailure : public std::exception {
 public:
  AgreedFailure(int code, std::string message) : code_(code), message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  int code() const { return code_; }

 private:
  int code_;
  std::string message_;
};

}  // namespace attnmc::mpi
