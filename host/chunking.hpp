// Chunking and threading shared by every ensemble driver (networks, SDE
// paths, sphere trajectories): how many items a chunk holds under the memory
// cap, and how many CPU threads run it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace attnmc::host {

// CPU threads to use: `requested`, or every core when it is 0.
int resolve_threads(int requested);

// Items per chunk: `requested` when > 0, else as many as fit. Buffers get
// 90% of min(memory_cap, free_memory); the rest is headroom for fixed costs
// (BLAS workspace, host copies of a chunk's results, statistics). Throws
// InputError(cap_key) when one item does not fit, InputError(chunk_key) when
// a requested chunk does not.
std::uint64_t chunk_size(std::size_t memory_cap, std::size_t free_memory, std::size_t per_item,
                         std::uint64_t requested, std::uint64_t total, const std::string& cap_key,
                         const std::string& chunk_key);

}  // namespace attnmc::host
