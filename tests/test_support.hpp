// One test body, two backends (as hoomd-blue does): suites built with
// BOTH_DEVICES run on the CPU (OpenMP) engine and, as NAME_gpu, on the CUDA
// engine, where they skip with a reason when no device is present.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "attnmc/engine.hpp"
#include "attnmc/run_spec.hpp"

namespace attnmc::test {

#if defined(ATTNMC_TEST_ON_CUDA)
inline constexpr Device kTestDevice = Device::cuda;
#else
inline constexpr Device kTestDevice = Device::cpu;
#endif

}  // namespace attnmc::test

// Skips the current test when it targets CUDA and no device can run it.
#define ATTNMC_REQUIRE_TEST_DEVICE()                              \
  do {                                                            \
    if (::attnmc::test::kTestDevice == ::attnmc::Device::cuda) {  \
      std::string why_;                                           \
      if (!::attnmc::cuda_available(&why_)) GTEST_SKIP() << why_; \
    }                                                             \
  } while (0)
