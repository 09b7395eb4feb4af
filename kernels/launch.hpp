// Launch helpers shared by the kernel sources (the role of tiny-cuda-nn's
// linear_kernel): a Thrust for_each over [0, count) on the current device
// system, raw pointers of device vectors, and the CPU thread count. Each
// kernel source is compiled once per device system (CUDA, OpenMP); the
// anonymous namespace gives every copy internal linkage so the two
// translation units never clash.
#pragma once

#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <cstdint>

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_OMP
#include <omp.h>
#endif

namespace attnmc::kernels::launch {
namespace {

using Index = std::int64_t;

// f(i) for every i in [0, count), in parallel on the device system.
template <typename F>
void for_each_index(Index count, F f) {
  thrust::for_each(thrust::device, thrust::counting_iterator<Index>(0),
                   thrust::counting_iterator<Index>(count), f);
}

template <typename T>
T* raw(thrust::device_vector<T>& v) {
  return thrust::raw_pointer_cast(v.data());
}

// OpenMP threads for the next kernels (0 = keep the default); no-op on CUDA.
inline void use_cpu_threads(int threads) {
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_OMP
  if (threads > 0) omp_set_num_threads(threads);
#else
  (void)threads;
#endif
}

}  // namespace
}  // namespace attnmc::kernels::launch
