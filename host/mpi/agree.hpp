// Agreement on failures: a step that may fail on some ranks only (reading
// a file that one node lacks, a share that does not fit its memory, an
// injected fault) ends the same way on every rank, and the error is printed
// once, by rank 0 (host/cli/main.cpp).
#pragma once

#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace attnmc::mpi {

class World;

// A rank's outcome as bytes: empty when `error` is null, else the exit code
// it would have (2 for InputError, 1 otherwise) and its message.
std::string outcome_of(const std::exception_ptr& error);

// Throws AgreedFailure when any outcome is a failure: the lowest failing
// rank's code and message, the message prefixed "rank N: " unless every
// rank failed with the same message (a deterministic input error, which then
// reads exactly as in a run of one process) or `name_rank` is false.
void throw_if_any_failed(const std::vector<std::string>& outcomes, bool name_rank = true);

// Runs `step` on every rank and agrees on its outcome (one allgather).
void agree(const World& world, const std::function<void()>& step);
// The same for a step that only rank 0 carries out (checking or opening the
// output): its error reads as in a run of one process.
void agree_on_root(const World& world, const std::function<void()>& step);

}  // namespace attnmc::mpi
