// One chunk of an ensemble of finite networks as the kernels see it, and
// the entry points each backend (namespace attnmc::omp, attnmc::cuda)
// provides. The host driver (host/driver.hpp) splits a run into chunks and
// calls these through the sampler registry (host/samplers.hpp) with the
// run's execution context; the kernels write each member's Gram matrices at
// the recorded layers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/exec_context.hpp"
#include "kernels/gram_statistics.hpp"
#include "kernels/model_coefficients.hpp"

namespace attnmc::kernels {

struct ChunkJob {
  ModelCoefficients model;
  std::uint64_t seed = 0;
  std::uint64_t first_member = 0;      // global index of the chunk's first network
  std::uint64_t count = 0;             // networks in this chunk
  const double* x0 = nullptr;          // host, m x n initial tokens (shared by all members)
  const int* record_layers = nullptr;  // host, sorted, in [0, depth]
  int records = 0;
};

}  // namespace attnmc::kernels

// Declares the entry points of one backend namespace. Chunk functions take
// their buffers from the context's arena; *_fixed_bytes is what they hold
// whatever the chunk size, *_bytes_per_network what grows with it.
#define ATTNMC_DECLARE_BACKEND(NS)                                                                \
  namespace attnmc::NS {                                                                          \
  /* Direct sampler: fresh n x n weights per layer; `output`: what to deliver of the grams. */    \
  void direct_chunk(const attnmc::kernels::ExecContext& cx, const attnmc::kernels::ChunkJob& job, \
                    const attnmc::kernels::GramChunkOutput& output);                              \
  std::size_t direct_bytes_per_network(const attnmc::kernels::ModelCoefficients& model,           \
                                       int records);                                              \
  std::size_t direct_fixed_bytes(const attnmc::kernels::ModelCoefficients& model, int records);   \
  /* Only the direct sampler's weight draws (no GEMMs): its RNG roofline, for benchmarks. */      \
  void direct_weights_only(const attnmc::kernels::ExecContext& cx,                                \
                           const attnmc::kernels::ChunkJob& job);                                 \
  /* Exact (Gram-chain) sampler: same law, cost independent of width. */                          \
  void exact_chunk(const attnmc::kernels::ExecContext& cx, const attnmc::kernels::ChunkJob& job,  \
                   const attnmc::kernels::GramChunkOutput& output);                               \
  std::size_t exact_bytes_per_network(const attnmc::kernels::ModelCoefficients& model,            \
                                      int records);                                               \
  std::size_t exact_fixed_bytes(const attnmc::kernels::ModelCoefficients& model, int records);    \
  }

ATTNMC_DECLARE_BACKEND(omp)
ATTNMC_DECLARE_BACKEND(cuda)
