// Error checks for CUDA runtime and cuBLAS calls: throw attnmc::Error with
// file and line (as tiny-cuda-nn does), so a failing launch is never silent.
#pragma once

#if defined(__CUDACC__)
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "attnmc/error.hpp"

#define ATTNMC_CUDA_CHECK(call)                                                             \
  do {                                                                                      \
    cudaError_t err_ = (call);                                                              \
    if (err_ != cudaSuccess)                                                                \
      throw ::attnmc::Error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " + \
                            #call + ": " + cudaGetErrorString(err_));                       \
  } while (0)

#define ATTNMC_CUBLAS_CHECK(call)                                                           \
  do {                                                                                      \
    cublasStatus_t st_ = (call);                                                            \
    if (st_ != CUBLAS_STATUS_SUCCESS)                                                       \
      throw ::attnmc::Error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " + \
                            #call + ": cuBLAS status " + std::to_string(int(st_)));         \
  } while (0)
#endif
