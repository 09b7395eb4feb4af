#include "host/cli/openmp_wait_policy.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace attnmc::cli {

void exec_with_passive_openmp_wait(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  for (int i = 1; i < argc; ++i)  // one thread: no team, nothing spins
    if ((std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc &&
         std::strcmp(argv[i + 1], "1") == 0) ||
        std::strcmp(argv[i], "--threads=1") == 0)
      return;
  if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
  execv("/proc/self/exe", argv);  // returns only on failure: go on as before
}

}  // namespace attnmc::cli
