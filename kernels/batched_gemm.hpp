// The one seam where the backends call different libraries: a strided
// batch of row-major single-precision GEMMs, C_b = alpha A_b B_b with A_b
// M x K, B_b K x N, C_b M x N. cuBLAS (column-major) computes the transposed
// product C^T = B^T A^T with the context's handle, on the context's stream;
// on the OpenMP system each thread runs single-threaded OpenBLAS on whole
// matrices, so a network's result never depends on how many threads ran the
// batch.
#pragma once

#include <thrust/detail/config.h>

#include <cstdint>

#include "kernels/exec_context.hpp"

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
#include "kernels/cuda_check.hpp"
#else
#include <cblas.h>
#endif

namespace attnmc::kernels {

// While alive, OpenBLAS runs single-threaded (our OpenMP threads each run
// whole GEMMs); the caller's setting comes back on exit, so a host process
// (Python, say) keeps its own. No-op on CUDA.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() {
#if THRUST_DEVICE_SYSTEM != THRUST_DEVICE_SYSTEM_CUDA
    previous_ = openblas_get_num_threads();
    if (previous_ != 1) openblas_set_num_threads(1);
#endif
  }
  ~SingleThreadedBlas() {
#if THRUST_DEVICE_SYSTEM != THRUST_DEVICE_SYSTEM_CUDA
    if (previous_ != 1) openblas_set_num_threads(previous_);
#endif
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int previous_ = 1;
};

// Call inside a SingleThreadedBlas scope on the CPU.
inline void batched_gemm(const ExecContext& cx, int M, int N, int K, float alpha, const float* A,
                         std::int64_t stride_a, const float* B, std::int64_t stride_b, float* C,
                         std::int64_t stride_c, std::int64_t batch) {
  if (batch == 0) return;
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  const float beta = 0.0f;
  ATTNMC_CUBLAS_CHECK(cublasSgemmStridedBatched(static_cast<cublasHandle_t>(cx.blas), CUBLAS_OP_N,
                                                CUBLAS_OP_N, N, M, K, &alpha, B, N, stride_b, A, K,
                                                stride_a, &beta, C, N, stride_c, int(batch)));
#else
  (void)cx;
#pragma omp parallel for schedule(static)
  for (std::int64_t b = 0; b < batch; ++b)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, alpha, A + b * stride_a, K,
                B + b * stride_b, N, 0.0f, C + b * stride_c, N);
#endif
}

}  // namespace attnmc::kernels
