// The CUDA backend as a loadable module (issue 13, part 4): libattnmc_cuda.so
// holds the nvcc-compiled kernels and is the only thing that links libcudart
// and libcublas. The host opens it with dlopen on the first use of the CUDA
// device (host/cuda_module.cpp), so a CPU run never maps the CUDA libraries.
// Its one exported symbol, attnmc_cuda_module, returns this table; the host
// checks the version and calls the backend through it.
#pragma once

#include <cstddef>
#include <string>

#include "kernels/chunk_job.hpp"
#include "kernels/exec_context.hpp"
#include "kernels/oversmoothing/oversmoothing_job.hpp"
#include "kernels/paths/paths_direct_job.hpp"
#include "kernels/paths/paths_prior_job.hpp"
#include "kernels/sde_job.hpp"
#include "kernels/sphere_job.hpp"

namespace attnmc::kernels {

// Bumped whenever the table or a job struct changes layout, so that a
// stale module is refused rather than called.
constexpr int kCudaModuleVersion = 3;

struct CudaModule {
  int version = 0;
  std::size_t table_bytes = 0;  // sizeof(CudaModule) of the module's build
  // Devices visible (0 with the reason in *why when none or the driver fails).
  int (*device_count)(std::string* why) = nullptr;
  // Free bytes on the current device; false with the reason on failure.
  bool (*free_memory)(std::size_t* free_bytes, std::string* why) = nullptr;
  ExecContext* (*create_context)(int threads) = nullptr;
  void (*destroy_context)(ExecContext* context) noexcept = nullptr;
  void (*direct_chunk)(const ExecContext&, const ChunkJob&, const GramChunkOutput&) = nullptr;
  void (*direct_weights_only)(const ExecContext&, const ChunkJob&) = nullptr;
  void (*exact_chunk)(const ExecContext&, const ChunkJob&, const GramChunkOutput&) = nullptr;
  void (*sphere_chunk)(const ExecContext&, const SphereJob&, const SphereChunkOut&) = nullptr;
  void (*sde_chunk)(const ExecContext&, const SdeJob&, const SdeChunkOut&) = nullptr;
  void (*oversmoothing_chunk)(const ExecContext&, const OsJob&, const OsChunkOut&) = nullptr;
  std::size_t (*gram_statistics_bytes_per_member)(int m, int records) = nullptr;
  std::size_t (*gram_statistics_fixed_bytes)(int m, int records) = nullptr;
  void (*paths_prior_chunk)(const ExecContext&, const PathsPriorJob&,
                            const PathsPriorOut&) = nullptr;
  void (*paths_direct_chunk)(const ExecContext&, const PathsDirectJob&,
                             const PathsDirectOut&) = nullptr;
};

}  // namespace attnmc::kernels

// The module's entry point (the name the host looks up with dlsym).
#define ATTNMC_CUDA_MODULE_SYMBOL "attnmc_cuda_module"
extern "C" const attnmc::kernels::CudaModule* attnmc_cuda_module();
