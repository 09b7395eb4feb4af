// Entry point of libattnmc_cuda.so (kernels/cuda_module.hpp): the table of
// the CUDA backend's functions. Everything else in the module is hidden
// (linked with --exclude-libs), so its attnmc::cuda symbols never clash with
// the host's forwarding functions of the same names.
#include <cuda_runtime_api.h>

#include "kernels/cuda_module.hpp"
#include "kernels/gram_statistics.hpp"

namespace {

int device_count(std::string* why) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    if (why != nullptr)
      *why = std::string("no CUDA device: ") +
             (err != cudaSuccess ? cudaGetErrorString(err) : "device count is 0");
    return 0;
  }
  return count;
}

bool free_memory(std::size_t* free_bytes, std::string* why) {
  std::size_t total = 0;
  const cudaError_t err = cudaMemGetInfo(free_bytes, &total);
  if (err == cudaSuccess) return true;
  if (why != nullptr) *why = std::string("cudaMemGetInfo failed: ") + cudaGetErrorString(err);
  return false;
}

attnmc::kernels::CudaModule make_table() {
  attnmc::kernels::CudaModule t;
  t.version = attnmc::kernels::kCudaModuleVersion;
  t.table_bytes = sizeof(attnmc::kernels::CudaModule);
  t.device_count = &device_count;
  t.free_memory = &free_memory;
  t.create_context = &attnmc::cuda::create_context;
  t.destroy_context = &attnmc::cuda::destroy_context;
  t.direct_chunk = &attnmc::cuda::direct_chunk;
  t.direct_weights_only = &attnmc::cuda::direct_weights_only;
  t.exact_chunk = &attnmc::cuda::exact_chunk;
  t.sphere_chunk = &attnmc::cuda::sphere_chunk;
  t.sde_chunk = &attnmc::cuda::sde_chunk;
  t.oversmoothing_chunk = &attnmc::cuda::oversmoothing_chunk;
  t.gram_statistics_bytes_per_member = &attnmc::cuda::gram_statistics_bytes_per_member;
  t.gram_statistics_fixed_bytes = &attnmc::cuda::gram_statistics_fixed_bytes;
  t.paths_prior_chunk = &attnmc::cuda::paths_prior_chunk;
  t.paths_direct_chunk = &attnmc::cuda::paths_direct_chunk;
  return t;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const attnmc::kernels::CudaModule*
attnmc_cuda_module() {
  static const attnmc::kernels::CudaModule table = make_table();
  return &table;
}
