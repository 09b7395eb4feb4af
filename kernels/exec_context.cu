// The execution context of each backend (kernels/exec_context.hpp). CUDA:
// the current device, a non-blocking stream, a cuBLAS handle bound to it
// (pedantic math: no TF32 shortcuts) and an arena of cudaMalloc blocks.
// OpenMP: the thread count and an arena of aligned host blocks. Compiled
// once per device system like every kernel source.
#include <thrust/detail/config.h>

#include <memory>
#include <new>

#include "kernels/exec_context.hpp"

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
#include "kernels/cuda_check.hpp"
#endif

namespace attnmc::ATTNMC_BACKEND_NS {
namespace {

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
void* allocate(std::size_t bytes) {
  void* p = nullptr;
  ATTNMC_CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}
// Teardown cannot throw; a failing cudaFree means the device is already
// gone, and the next checked call reports it.
void release(void* p) noexcept {
  if (p != nullptr) (void)cudaFree(p);
}
#else
constexpr std::align_val_t kAlign{64};  // a cache line: no false sharing between blocks
void* allocate(std::size_t bytes) { return ::operator new(bytes, kAlign); }
void release(void* p) noexcept {
  if (p != nullptr) ::operator delete(p, kAlign);
}
#endif

// The context with the storage it owns.
struct OwnedContext : kernels::ExecContext {
  kernels::Arena buffers{&allocate, &release};
};

}  // namespace

void destroy_context(kernels::ExecContext* context) noexcept {
  auto* cx = static_cast<OwnedContext*>(context);
  if (cx == nullptr) return;
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  // Work still queued on the stream may use the buffers: wait, then free
  // them (delete), then the handle and the stream they were bound to.
  const auto stream = static_cast<cudaStream_t>(cx->stream);
  const auto handle = static_cast<cublasHandle_t>(cx->blas);
  if (stream != nullptr) (void)cudaStreamSynchronize(stream);
  delete cx;
  if (handle != nullptr) (void)cublasDestroy(handle);
  if (stream != nullptr) (void)cudaStreamDestroy(stream);
#else
  delete cx;
#endif
}

kernels::ExecContext* create_context(int threads) {
  std::unique_ptr<OwnedContext, void (*)(kernels::ExecContext*) noexcept> cx(new OwnedContext,
                                                                             &destroy_context);
  cx->arena = &cx->buffers;
  cx->threads = threads;
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  ATTNMC_CUDA_CHECK(cudaGetDevice(&cx->device));
  cudaStream_t stream = nullptr;
  ATTNMC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cx->stream = stream;
  cublasHandle_t handle = nullptr;
  ATTNMC_CUBLAS_CHECK(cublasCreate(&handle));
  cx->blas = handle;
  ATTNMC_CUBLAS_CHECK(cublasSetStream(handle, stream));
  ATTNMC_CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_PEDANTIC_MATH));
#endif
  return cx.release();
}

}  // namespace attnmc::ATTNMC_BACKEND_NS
