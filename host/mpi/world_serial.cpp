// The World of a build without MPI: always one process. A launcher's
// environment (mpirun of a build without MPI) is refused: K copies of one
// run would each compute the whole ensemble and race for one output.
#include <cstdio>
#include <cstdlib>

#include "attnmc/error.hpp"
#include "host/mpi/world.hpp"

namespace attnmc::mpi {

World::World(int&, char**&) {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!size) size = std::getenv("PMI_SIZE");
  if (size && std::atoi(size) > 1) {
    std::fprintf(stderr,
                 "attnmc: error: launched as one of %s processes, but this attnmc was built "
                 "without MPI (configure with -DATTNMC_MPI=ON)\n",
                 size);
    std::exit(2);
  }
}
World::~World() = default;

std::vector<std::string> World::allgather(const std::string& mine) const { return {mine}; }
std::string World::broadcast(const std::string& bytes) const { return bytes; }
void World::barrier() const {}
void World::send(int, int, const std::string&) const {
  throw Error("mpi: send in a world of one process");
}
bool World::poll(int*, int*) const { return false; }
std::string World::receive(int, int) const {
  throw Error("mpi: receive in a world of one process");
}
void World::abort(int code) const { std::exit(code); }

}  // namespace attnmc::mpi
