// Stopping a run from outside. A Progress callback (attnmc/engine.hpp) may
// throw Cancelled: the chunked driver lets the chunk in flight finish, then
// rethrows it out of run_ensemble / run_sde / run_sphere / run_compare, and
// an output directory being staged is removed (host/output.hpp). Cancelled
// is deliberately not a std::exception: code that records a failure and goes
// on (a sweep's failed cell) catches std::exception and must let it through.
#pragma once

namespace attnmc {

struct Cancelled {};

}  // namespace attnmc
