// The host's side of the CUDA module (kernels/cuda_module.hpp): opens
// libattnmc_cuda.so on first use, so that CPU runs never load libcudart or
// libcublas. Builds without CUDA have no module, and these say so.
#pragma once

#include <string>

#include "kernels/cuda_module.hpp"

namespace attnmc::host {

// The module's table, loaded once per process (never unloaded), or null with
// the reason in *why. Looked for at $ATTNMC_CUDA_MODULE (a file), beside the
// executable, in ../lib from it, then in the build tree that made this host.
const kernels::CudaModule* cuda_module(std::string* why = nullptr);

// The module's table; Error with the reason when it cannot be loaded.
const kernels::CudaModule& cuda_module_or_throw();

// Whether this process has the CUDA runtime mapped (/proc/self/maps): what
// a CPU-only run must not do (tests/test_agreement.cpp checks it).
bool cuda_runtime_mapped();

// Whether this machine shows an NVIDIA device node (/dev/nvidiactl, or
// /dev/dxg under WSL): `auto` looks for a CUDA device only then, so it costs
// a machine without a GPU nothing.
bool nvidia_device_node_present();

}  // namespace attnmc::host
