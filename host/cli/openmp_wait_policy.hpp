// Idle OpenMP threads sleep rather than spin, unless the user says otherwise.
//
// GCC's OpenMP runtime (libgomp) reads OMP_WAIT_POLICY once, when it loads,
// before main. Unset, a thread that finishes its share of a parallel region
// spins for up to ~300000 pause loops before it sleeps, every time the
// master does serial work in between (a chunk's host statistics, output):
// measured, this doubled the CPU time of 2-thread `attnmc sde` and `sphere`
// runs on a 2-core machine, and their wall time too when the machine was
// shared. No run-time call changes the policy, so the process sets
// OMP_WAIT_POLICY=passive and executes itself again, once, before anything
// else (MPI included). Skipped when OMP_WAIT_POLICY or GOMP_SPINCOUNT is set
// (OMP_WAIT_POLICY=active restores spinning) and for `--threads 1`.
#pragma once

namespace attnmc::cli {

// Returns only when nothing is to be done or the re-execution failed (the
// run then goes on as before).
void exec_with_passive_openmp_wait(int argc, char** argv);

}  // namespace attnmc::cli
