// The kernels' view of a resolved oversmoothing spec: its coefficients and
// the host arrays its networks read (resolved Lambda, given H / U / U^{-1} /
// A, the shared input tokens, the gain vector).
#pragma once

#include <vector>

#include "attnmc/oversmoothing.hpp"
#include "kernels/oversmoothing/oversmoothing_math.hpp"

namespace attnmc {

kernels::OsCoefficients os_coefficients(const OversmoothingSpec& resolved);

class OsHostInputs {
 public:
  explicit OsHostInputs(const OversmoothingSpec& resolved);
  kernels::OsInputs view() const;

 private:
  std::vector<double> lambdas_, h_, u_, u_inv_, a_, x0_, gain_;
};

}  // namespace attnmc
