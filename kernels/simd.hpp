// ATTNMC_SIMD before a loop over lanes: OpenMP simd on the host compiler
// (the loop is vectorised even where GCC's cost model or its handling of
// bool flags and sqrt would leave it scalar), nothing under nvcc. The
// arithmetic is the loop body's own (IEEE + - * / sqrt, contraction off), so
// the bits do not depend on whether a loop was vectorised.
#pragma once

#if defined(__CUDACC__) || !defined(_OPENMP)
#define ATTNMC_SIMD
#else
#define ATTNMC_SIMD _Pragma("omp simd")
#endif
