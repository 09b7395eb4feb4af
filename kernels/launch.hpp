// Launch helpers shared by the kernel sources (the role of tiny-cuda-nn's
// linear_kernel): a Thrust for_each over [0, count) on the context's stream,
// host <-> device copies, and the scope a chunk function runs in (the
// context's device on CUDA, its thread count on the CPU, both restored on
// exit so nothing process-wide is left behind). Each kernel source is
// compiled once per device system (CUDA, OpenMP); the anonymous namespace
// gives every copy internal linkage so the two translation units never clash.
#pragma once

#include <thrust/execution_policy.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "attnmc/hd.hpp"
#include "kernels/exec_context.hpp"

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
#include "kernels/cuda_check.hpp"
#else
#include <omp.h>
#include <thrust/system/omp/execution_policy.h>
#endif

namespace attnmc::kernels::launch {
namespace {

using Index = std::int64_t;

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
inline cudaStream_t stream_of(const ExecContext& cx) {
  return static_cast<cudaStream_t>(cx.stream);
}
#endif

// f(i) for every i in [0, count), in parallel on the device system. On CUDA
// the launch is asynchronous on the context's stream (par_nosync: no
// synchronisation per launch); copy_to_host waits for it.
template <typename F>
void for_each_index(const ExecContext& cx, Index count, F f) {
  if (count <= 0) return;
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  thrust::for_each(thrust::cuda::par_nosync.on(stream_of(cx)), thrust::counting_iterator<Index>(0),
                   thrust::counting_iterator<Index>(count), f);
#else
  (void)cx;
  thrust::for_each(thrust::device, thrust::counting_iterator<Index>(0),
                   thrust::counting_iterator<Index>(count), f);
#endif
}

// Row kernels (a reduction over the n columns of a row): lanes of a row
// cooperate. On CUDA a warp per row (kRowLanes = 32): lane l takes columns
// l, l + 32, ... (coalesced) and row_sum adds the lanes' partials by a fixed
// butterfly, so the result never depends on the launch shape. On the CPU one
// thread per row (kRowLanes = 1), columns in order: the same sums as a plain
// loop.
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
constexpr int kRowLanes = 32;
#else
constexpr int kRowLanes = 1;
#endif

// The sum of v over the lanes of a row; every lane gets it.
ATTNMC_HD inline double row_sum(double v) {
#if defined(__CUDA_ARCH__)
  for (int offset = kRowLanes / 2; offset > 0; offset >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
#endif
  return v;
}

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
constexpr int kRowBlock = 256;  // threads per block: 8 rows
template <typename F>
__global__ void __launch_bounds__(kRowBlock) rows_kernel(Index rows, F f) {
  const Index row = (Index(blockIdx.x) * kRowBlock + threadIdx.x) / kRowLanes;
  if (row < rows) f(row, int(threadIdx.x % kRowLanes));  // whole warps in or out
}
#else
template <typename F>
struct RowOfIndex {
  F f;
  void operator()(Index row) const { f(row, 0); }
};
#endif

// f(row, lane) for every row in [0, rows) and lane in [0, kRowLanes),
// asynchronously on the context's stream (CUDA).
template <typename F>
void for_each_row(const ExecContext& cx, Index rows, F f) {
  if (rows <= 0) return;
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  const Index blocks = (rows * kRowLanes + kRowBlock - 1) / kRowBlock;
  rows_kernel<<<unsigned(blocks), kRowBlock, 0, stream_of(cx)>>>(rows, f);
  ATTNMC_CUDA_CHECK(cudaGetLastError());
#else
  for_each_index(cx, rows, RowOfIndex<F>{f});
#endif
}

// Thrust's temporary storage (sort, reduce_by_key) from the run's arena, so
// library algorithms allocate nothing per chunk either.
struct FrameAllocator {
  using value_type = char;
  Arena::Frame* frame;
  char* allocate(std::ptrdiff_t bytes) { return frame->take<char>(std::size_t(bytes)); }
  void deallocate(char*, std::size_t) noexcept {}  // the arena keeps the block
};

// The execution policy of a library algorithm on the context: its stream
// (no synchronisation asked for) and the arena's scratch on CUDA, the
// OpenMP system (the Scope's thread count) on the CPU.
inline auto policy(const ExecContext& cx, FrameAllocator& scratch) {
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  return thrust::cuda::par_nosync(scratch).on(stream_of(cx));
#else
  (void)cx;
  return thrust::omp::par(scratch);
#endif
}

// count elements host -> device (the source may be freed on return).
template <typename T>
void copy_to_device(const ExecContext& cx, T* device, const T* host, std::size_t count) {
  if (count == 0) return;
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  ATTNMC_CUDA_CHECK(
      cudaMemcpyAsync(device, host, count * sizeof(T), cudaMemcpyHostToDevice, stream_of(cx)));
  // Pageable sources are staged before the call returns; a pinned one
  // would not be, so wait (these copies are tiny: inputs of a chunk).
  ATTNMC_CUDA_CHECK(cudaStreamSynchronize(stream_of(cx)));
#else
  (void)cx;
  std::copy(host, host + count, device);
#endif
}

// count elements device -> host, after all work queued before it.
template <typename T>
void copy_to_host(const ExecContext& cx, T* host, const T* device, std::size_t count) {
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  if (count > 0)
    ATTNMC_CUDA_CHECK(
        cudaMemcpyAsync(host, device, count * sizeof(T), cudaMemcpyDeviceToHost, stream_of(cx)));
  ATTNMC_CUDA_CHECK(cudaStreamSynchronize(stream_of(cx)));
#else
  (void)cx;
  std::copy(device, device + count, host);
#endif
}

// Waits for every launch queued on the context (no-op on the CPU).
inline void synchronize(const ExecContext& cx) {
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  ATTNMC_CUDA_CHECK(cudaStreamSynchronize(stream_of(cx)));
#else
  (void)cx;
#endif
}

// The scope of one chunk function: CUDA makes the context's device current,
// the CPU sets the OpenMP thread count of the calling thread; the previous
// value comes back on exit.
class Scope {
 public:
  explicit Scope(const ExecContext& cx) {
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
    ATTNMC_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != cx.device) ATTNMC_CUDA_CHECK(cudaSetDevice(cx.device));
    current_ = cx.device;
#else
    previous_ = omp_get_max_threads();
    current_ = cx.threads > 0 ? cx.threads : previous_;
    if (current_ != previous_) omp_set_num_threads(current_);
#endif
  }
  ~Scope() {
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
    if (current_ != previous_) (void)cudaSetDevice(previous_);  // teardown cannot throw
#else
    if (current_ != previous_) omp_set_num_threads(previous_);
#endif
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  int previous_ = 0, current_ = 0;
};

}  // namespace
}  // namespace attnmc::kernels::launch
