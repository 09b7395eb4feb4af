// See fault_injection.hpp.
#include "host/mpi/fault_injection.hpp"

#include <cstdlib>
#include <string>

namespace attnmc::mpi {

Fault injected_fault(int rank, int occurrence) {
  const char* v = std::getenv("ATTNMC_TEST_FAULT");
  if (!v) return Fault::none;
  const std::string s = v;
  const std::size_t at = s.find('@'), hash = s.find('#');
  if (at == std::string::npos || std::atoi(s.c_str() + at + 1) != rank) return Fault::none;
  if ((hash == std::string::npos ? 1 : std::atoi(s.c_str() + hash + 1)) != occurrence)
    return Fault::none;
  const std::string kind = s.substr(0, at);
  if (kind == "kill") return Fault::kill;
  if (kind == "error") return Fault::error;
  if (kind == "input") return Fault::input;
  return Fault::none;
}

}  // namespace attnmc::mpi
