#include "host/chunking.hpp"

#include <omp.h>

#include <algorithm>

#include "attnmc/error.hpp"

namespace attnmc::host {

int resolve_threads(int requested) { return requested > 0 ? requested : omp_get_num_procs(); }

std::uint64_t chunk_size(std::size_t memory_cap, std::size_t free_memory, std::size_t per_item,
                         std::uint64_t requested, std::uint64_t total, const std::string& cap_key,
                         const std::string& chunk_key) {
  const std::size_t cap = std::min(memory_cap, free_memory) / 10 * 9;
  if (per_item > cap)
    throw InputError(cap_key, "one item needs " + std::to_string(per_item) +
                                  " bytes of buffers but only " + std::to_string(cap) +
                                  " bytes are allowed (raise " + cap_key +
                                  " or reduce the problem size)");
  if (requested > 0 && requested * per_item > cap)
    throw InputError(chunk_key, "a chunk of " + std::to_string(requested) + " needs " +
                                    std::to_string(requested * per_item) + " bytes, more than " +
                                    cap_key + " allows");
  const std::uint64_t chunk = requested > 0 ? requested : std::uint64_t(cap / per_item);
  return std::max<std::uint64_t>(1, std::min(chunk, total));
}

}  // namespace attnmc::host
