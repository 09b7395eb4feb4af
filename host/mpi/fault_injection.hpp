// Test-only faults for the scale-out tests (tests/test_mpi.cpp), read from
// the environment: ATTNMC_TEST_FAULT=KIND@RANK makes that rank's share of a
// split run fail, KIND being
//   kill   the rank dies by SIGKILL after its first chunk (a crashed node),
//   error  its share throws a runtime error after its first chunk,
//   input  its share throws an input error before any work.
// Only the split-run wrapper (host/mpi/split_ensemble.cpp) and the sweep's
// cell loop consult it, never a kernel.
#pragma once

namespace attnmc::mpi {

enum class Fault { none, kill, error, input };

Fault injected_fault(int rank);

}  // namespace attnmc::mpi
