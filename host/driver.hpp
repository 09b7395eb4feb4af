// The one chunked driver of every family (finite networks with any sampler,
// the covariance SDE, the sphere model, and those to come). A family brings
//  - its items [begin, end) (networks, trajectories) and the chunk size
//    chunk_size() gave for its memory rule (host/chunking.hpp), computed
//    before any other work so that a run that cannot fit is refused first;
//  - `Out`, its host buffers for one chunk's results, with resize(items);
//  - chunk(context, first, count, out): runs items [first, first + count)
//    on the backend (one of the family's or sampler's chunk functions);
//  - sink(out, first, count): consumes them.
// The driver creates one execution context (stream, library handles, buffer
// arena) that every chunk reuses and keeps two copies of `out` (sized once,
// from the prototype it is given): while the sink consumes chunk k on a
// host thread, chunk k + 1 runs on the backend into the other copy. Sinks
// run one at a time, in item order, so chunking, threading and the overlap
// never change the result; an exception in either is rethrown here after
// both have stopped.
#pragma once

#include <algorithm>
#include <cstdint>
#include <future>

#include "host/backend.hpp"
#include "host/chunking.hpp"
#include "host/context.hpp"

namespace attnmc::host {

struct ChunkPlan {
  std::uint64_t begin = 0, end = 0;  // items [begin, end)
  std::uint64_t chunk = 1;           // items per chunk (chunk_size)
  int threads = 1;                   // CPU threads (resolve_threads)
};

// The plan of items [begin, end) under `rule` (costs, cap and requested
// chunk set; its errors name rule.cap_key and rule.chunk_key, by default
// ensemble.memory_cap and ensemble.chunk): chunk_size(rule), at most
// `max_auto` items when the chunk is automatic (0: no further limit).
inline ChunkPlan plan_chunks(MemoryRule rule, std::uint64_t begin, std::uint64_t end, int threads,
                             std::uint64_t max_auto = 0) {
  rule.items = end - begin;
  if (rule.cap_key.empty()) rule.cap_key = "ensemble.memory_cap";
  if (rule.chunk_key.empty()) rule.chunk_key = "ensemble.chunk";
  ChunkPlan p;
  p.begin = begin;
  p.end = end;
  p.chunk = chunk_size(rule);
  if (rule.requested == 0 && max_auto > 0) p.chunk = std::min(p.chunk, max_auto);
  p.threads = resolve_threads(threads);
  return p;
}

template <typename Out, typename Chunk, typename Sink>
void drive(const Backend& backend, const ChunkPlan& plan, const Out& prototype, Chunk&& chunk,
           Sink&& sink) {
  if (plan.end <= plan.begin) return;
  Out out[2] = {prototype, prototype};
  for (Out& o : out) o.resize(std::min(plan.chunk, plan.end - plan.begin));
  const Context context(backend, plan.threads);
  std::future<void> consuming;  // the sink of the previous chunk (declared after `out`)
  std::uint64_t k = 0;
  for (std::uint64_t first = plan.begin; first < plan.end; first += plan.chunk, ++k) {
    const std::uint64_t count = std::min(plan.chunk, plan.end - first);
    Out& o = out[k % 2];
    chunk(context.get(), first, count, o);
    if (consuming.valid()) consuming.get();  // the other copy is free again
    consuming = std::async(std::launch::async, [&sink, &o, first, count] {
      sink(static_cast<const Out&>(o), first, count);
    });
  }
  consuming.get();
}

}  // namespace attnmc::host
