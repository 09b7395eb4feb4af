// The one chunked driver of every family (finite networks with any sampler,
// the covariance SDE, the sphere model, and those to come). A family brings
//  - its items [begin, end) (networks, trajectories) and the chunk size
//    chunk_size() gave for its memory rule (host/chunking.hpp), computed
//    before any other work so that a run that cannot fit is refused first;
//  - `Out`, its host buffers for one chunk's results, with resize(items);
//  - chunk(context, first, count, out): runs items [first, first + count)
//    on the backend (one of the family's or sampler's chunk functions);
//  - sink(out, first, count): consumes them.
// The driver sizes `out` once, creates one execution context (stream,
// library handles, buffer arena) that every chunk reuses, and calls the
// sink in item order, so chunking and threading never change the result.
#pragma once

#include <algorithm>
#include <cstdint>

#include "host/backend.hpp"
#include "host/context.hpp"

namespace attnmc::host {

struct ChunkPlan {
  std::uint64_t begin = 0, end = 0;  // items [begin, end)
  std::uint64_t chunk = 1;           // items per chunk (chunk_size)
  int threads = 1;                   // CPU threads (resolve_threads)
};

template <typename Out, typename Chunk, typename Sink>
void drive(const Backend& backend, const ChunkPlan& plan, Out& out, Chunk&& chunk, Sink&& sink) {
  if (plan.end <= plan.begin) return;
  out.resize(std::min(plan.chunk, plan.end - plan.begin));
  const Context context(backend, plan.threads);
  for (std::uint64_t first = plan.begin; first < plan.end; first += plan.chunk) {
    const std::uint64_t count = std::min(plan.chunk, plan.end - first);
    chunk(context.get(), first, count, out);
    sink(static_cast<const Out&>(out), first, count);
  }
}

}  // namespace attnmc::host
