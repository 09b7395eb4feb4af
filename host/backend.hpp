// Backend selection: which compiled copy of the kernels (OpenMP or CUDA)
// runs a job, how much memory it has, and how to create its execution
// context. Host code sees only these, never device details; each family or
// sampler keeps its own chunk functions per backend and picks one with
// `on_backend`.
#pragma once

#include <cstddef>
#include <string>

#include "attnmc/run_spec.hpp"
#include "kernels/exec_context.hpp"

namespace attnmc::host {

struct Backend {
  Device device = Device::cpu;
  // Bytes of device memory free for a run (CPU: unlimited, the cap rules).
  std::size_t free_memory = static_cast<std::size_t>(-1);
  kernels::ExecContext* (*create_context)(int threads) = nullptr;
  void (*destroy_context)(kernels::ExecContext*) noexcept = nullptr;
};

// Device::automatic picks CUDA when a device is present, else the CPU.
// Device::cuda without a usable device throws InputError("run.device"); a
// device whose free memory cannot be read throws Error.
Backend select_backend(Device requested);

// The function of `backend` among one per backend (cuda_fn is never taken
// in a build without CUDA).
template <typename Fn>
Fn on_backend(const Backend& backend, Fn omp_fn, Fn cuda_fn) {
#if defined(ATTNMC_WITH_CUDA)
  if (backend.device == Device::cuda) return cuda_fn;
#else
  (void)cuda_fn;
#endif
  (void)backend;
  return omp_fn;
}

}  // namespace attnmc::host
