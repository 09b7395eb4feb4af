// Test-only faults for the scale-out tests (tests/test_mpi.cpp), read from
// the environment: ATTNMC_TEST_FAULT=KIND@RANK[#N] makes rank RANK fail in
// its N-th split run (default 1; the share of host/mpi/split_ensemble.cpp)
// or, in a sweep's queue, as it is handed its N-th cell, KIND being
//   kill   the rank dies by SIGKILL (after its share's first chunk: a
//          crashed node),
//   error  its share throws a runtime error after its first chunk,
//   input  its share throws an input error before any work.
// Only the split run and the sweep's worker loop consult it, never a kernel.
#pragma once

namespace attnmc::mpi {

enum class Fault { none, kill, error, input };

// The fault of `rank` at its `occurrence`-th split run or cell (1-based).
Fault injected_fault(int rank, int occurrence);

}  // namespace attnmc::mpi
