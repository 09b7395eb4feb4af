// Host/device qualifiers shared by every header that holds math run on both
// backends. Under nvcc they expand to CUDA qualifiers; under the host
// compiler (OpenMP device system) they vanish, so one source serves both.
#pragma once

#if defined(__CUDACC__)
#define ATTNMC_HD __host__ __device__
#define ATTNMC_FORCEINLINE __forceinline__
#else
#define ATTNMC_HD
#define ATTNMC_FORCEINLINE inline __attribute__((always_inline))
#endif
