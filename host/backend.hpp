// Backend selection: which compiled copy of the kernels (OpenMP or CUDA)
// runs a job. Host code sees only these function pointers, never device
// details.
#pragma once

#include <cstddef>
#include <string>

#include "attnmc/run_spec.hpp"
#include "kernels/chunk_job.hpp"

namespace attnmc::host {

struct Backend {
  Device device = Device::cpu;
  void (*direct_chunk)(const kernels::ChunkJob&, float*) = nullptr;
  std::size_t (*direct_bytes_per_network)(const kernels::ModelCoefficients&) = nullptr;
  void (*exact_chunk)(const kernels::ChunkJob&, float*) = nullptr;
  std::size_t (*exact_bytes_per_network)(const kernels::ModelCoefficients&) = nullptr;
  // Bytes of device memory free for buffers (CPU: unlimited, the cap rules).
  std::size_t free_memory = static_cast<std::size_t>(-1);
};

// Device::automatic picks CUDA when a device is present, else the CPU.
// Device::cuda without a usable device throws InputError("run.device").
Backend select_backend(Device requested);

}  // namespace attnmc::host
