// kernels/poly_math.hpp (the sphere's exp and sincos) against long double
// libm over the whole range each is used on. Deterministic: fixed grids and
// a fixed-seed sample, so the tests cannot fail by chance. Error in ulps of
// the long double reference rounded to double. A planted bug (1/5040 ->
// 1/5041 in exp_poly, or 1/362880 -> 1/362881 in the sine) gives errors
// of 10^5 ulp and more (docs/performance.md, "Third pass").
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/poly_math.hpp"

namespace attnmc {
namespace {

// |y - ref| in units of the last place of ref (as a double; normal range).
double ulps(double y, long double ref) {
  const double r = static_cast<double>(ref);
  int e = 0;
  std::frexp(r, &e);
  const long double ulp = std::ldexp(1.0L, std::max(e - 53, -1074));
  return static_cast<double>(std::fabs(static_cast<long double>(y) - ref) / ulp);
}

std::vector<double> sample(double lo, double hi, int grid, int random, unsigned seed) {
  std::vector<double> xs;
  for (int i = 0; i <= grid; ++i) xs.push_back(lo + (hi - lo) * i / grid);
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  for (int i = 0; i < random; ++i) xs.push_back(u(gen));
  return xs;
}

// Bound in ulps (double results in the normal range).
constexpr double kUlpBound = 2.0;

TEST(PolyMath, ExpWithinTwoUlpsOverTheNormalRange) {
  double worst = 0.0;
  // The softmax's arguments are in [-2 beta, 0]; the whole normal range too.
  for (const auto& range :
       {std::pair{-745.0 + 36.7, 709.78}, std::pair{-4.0, 0.0}, std::pair{-1e-6, 1e-6}}) {
    for (double x : sample(range.first, range.second, 200000, 200000, 7)) {
      const double e = ulps(kernels::exp_poly(x), std::exp(static_cast<long double>(x)));
      worst = std::max(worst, e);
      ASSERT_LE(e, kUlpBound) << "x = " << x;
    }
  }
  std::printf("exp_poly: worst %.3f ulp\n", worst);
}

TEST(PolyMath, ExpEdgesMatchLibm) {
  // Subnormal results within one subnormal step, then the exact edges.
  for (double x : sample(-745.2, -708.4, 20000, 0, 1)) {
    const double ref = std::exp(x);
    EXPECT_LE(std::fabs(kernels::exp_poly(x) - ref), 4.9406564584124654e-324) << x;
  }
  EXPECT_EQ(kernels::exp_poly(0.0), 1.0);
  EXPECT_EQ(kernels::exp_poly(-746.0), 0.0);
  EXPECT_EQ(kernels::exp_poly(-HUGE_VAL), 0.0);
  EXPECT_EQ(kernels::exp_poly(709.79), HUGE_VAL);
  EXPECT_EQ(kernels::exp_poly(HUGE_VAL), HUGE_VAL);
  EXPECT_TRUE(std::isnan(kernels::exp_poly(NAN)));
  EXPECT_LE(ulps(kernels::exp_poly(1.0), std::exp(1.0L)), kUlpBound);
}

TEST(PolyMath, SinCosWithinTwoUlpsUpToTheReductionLimit) {
  double worst_s = 0.0, worst_c = 0.0;
  const double m = kernels::kSinCosPolyMax;
  for (const auto& range :
       {std::pair{0.0, 0.8}, std::pair{-8.0, 8.0}, std::pair{-m, m}, std::pair{1e-300, 1e-8}}) {
    for (double x : sample(range.first, range.second, 200000, 200000, 11)) {
      double s, c;
      kernels::sincos_poly(x, &s, &c);
      const long double lx = x;
      const double es = ulps(s, std::sin(lx)), ec = ulps(c, std::cos(lx));
      worst_s = std::max(worst_s, es);
      worst_c = std::max(worst_c, ec);
      ASSERT_LE(es, kUlpBound) << "sin x = " << x;
      ASSERT_LE(ec, kUlpBound) << "cos x = " << x;
    }
  }
  std::printf("sincos_poly: worst %.3f ulp (sin), %.3f ulp (cos)\n", worst_s, worst_c);
}

TEST(PolyMath, SinCosNearMultiplesOfHalfPiAndBeyondTheLimit) {
  // Near k pi / 2 the reduction cancels; the three-piece pi/2 keeps it exact.
  for (int k = -651; k <= 651; ++k) {
    const double x0 = k * 1.5707963267948966;
    for (double x : {std::nextafter(x0, -HUGE_VAL), x0, std::nextafter(x0, HUGE_VAL)}) {
      double s, c;
      kernels::sincos_poly(x, &s, &c);
      ASSERT_LE(ulps(s, std::sin(static_cast<long double>(x))), kUlpBound) << x;
      ASSERT_LE(ulps(c, std::cos(static_cast<long double>(x))), kUlpBound) << x;
    }
  }
  // Beyond kSinCosPolyMax: libm's own values.
  for (double x : {1025.0, -3e5, 1e22, double(HUGE_VAL), double(NAN)}) {
    double s, c;
    kernels::sincos_poly(x, &s, &c);
    EXPECT_TRUE((std::isnan(s) && std::isnan(std::sin(x))) || s == std::sin(x)) << x;
    EXPECT_TRUE((std::isnan(c) && std::isnan(std::cos(x))) || c == std::cos(x)) << x;
  }
}

TEST(PolyMath, MaxNumIsFmaxOutsideSignedZeros) {
  const double v[] = {-HUGE_VAL, -2.5, -1e-300, 0.5, 3.0, HUGE_VAL, NAN};
  for (double a : v)
    for (double b : v) {
      const double m = kernels::max_num(a, b), f = std::fmax(a, b);
      EXPECT_TRUE((std::isnan(m) && std::isnan(f)) || m == f) << a << " " << b;
    }
}

}  // namespace
}  // namespace attnmc
