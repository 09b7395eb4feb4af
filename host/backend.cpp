#include "host/backend.hpp"

#include "attnmc/engine.hpp"
#include "attnmc/error.hpp"

#if defined(ATTNMC_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace attnmc {

bool cuda_available(std::string* why) {
#if defined(ATTNMC_WITH_CUDA)
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    if (why)
      *why = std::string("no CUDA device: ") +
             (err != cudaSuccess ? cudaGetErrorString(err) : "device count is 0");
    return false;
  }
  return true;
#else
  if (why) *why = "attnmc was built without the CUDA backend (nvcc not found or ATTNMC_CUDA=OFF)";
  return false;
#endif
}

namespace host {

Backend select_backend(Device requested) {
  std::string why;
  const bool cuda = (requested != Device::cpu) && cuda_available(&why);
  if (requested == Device::cuda && !cuda) throw InputError("run.device", "cuda requested: " + why);
  Backend b;
#if defined(ATTNMC_WITH_CUDA)
  if (cuda) {
    b.device = Device::cuda;
    b.create_context = &attnmc::cuda::create_context;
    b.destroy_context = &attnmc::cuda::destroy_context;
    std::size_t free_bytes = 0, total = 0;
    const cudaError_t err = cudaMemGetInfo(&free_bytes, &total);
    if (err != cudaSuccess)
      throw Error(std::string("cudaMemGetInfo failed: ") + cudaGetErrorString(err));
    // 80%: the CUDA context, cuBLAS workspace and Thrust temporaries live
    // outside what the driver counts.
    b.free_memory = free_bytes / 10 * 8;
    return b;
  }
#endif
  b.device = Device::cpu;
  b.create_context = &attnmc::omp::create_context;
  b.destroy_context = &attnmc::omp::destroy_context;
  return b;
}

}  // namespace host
}  // namespace attnmc
