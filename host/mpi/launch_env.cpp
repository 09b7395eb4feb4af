// launched_by_mpi(): shared by both World implementations.
#include <cstdlib>

#include "host/mpi/world.hpp"

namespace attnmc::mpi {

bool launched_by_mpi() {
  // Open MPI's mpirun (OMPI_COMM_WORLD_SIZE), PMIx launchers such as srun
  // --mpi=pmix or prterun (PMIX_RANK), PMI-1/2 launchers such as MPICH's
  // Hydra or srun --mpi=pmi2 (PMI_SIZE, PMI_RANK). SLURM_PROCID alone is
  // not enough: `srun --mpi=none` starts independent processes.
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

}  // namespace attnmc::mpi
