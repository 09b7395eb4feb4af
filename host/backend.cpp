#include "host/backend.hpp"

#include "attnmc/engine.hpp"
#include "attnmc/error.hpp"
#include "host/cuda_module.hpp"

namespace attnmc {

bool cuda_available(std::string* why) {
  const kernels::CudaModule* module = host::cuda_module(why);
  return module != nullptr && module->device_count(why) > 0;
}

namespace host {

Backend select_backend(Device requested) {
  std::string why;
  // `auto` on a machine without an NVIDIA device node stays on the CPU
  // without loading the CUDA module (and with it libcudart and libcublas).
  const bool look =
      requested == Device::cuda || (requested == Device::automatic && nvidia_device_node_present());
  const bool cuda = look && cuda_available(&why);
  if (requested == Device::cuda && !cuda) throw InputError("run.device", "cuda requested: " + why);
  Backend b;
  if (cuda) {
    const kernels::CudaModule& module = cuda_module_or_throw();
    b.device = Device::cuda;
    b.create_context = module.create_context;
    b.destroy_context = module.destroy_context;
    std::size_t free_bytes = 0;
    if (!module.free_memory(&free_bytes, &why)) throw Error(why);
    // 80%: the CUDA context, cuBLAS workspace and Thrust temporaries live
    // outside what the driver counts.
    b.free_memory = free_bytes / 10 * 8;
    return b;
  }
  b.device = Device::cpu;
  b.create_context = &attnmc::omp::create_context;
  b.destroy_context = &attnmc::omp::destroy_context;
  return b;
}

}  // namespace host
}  // namespace attnmc
