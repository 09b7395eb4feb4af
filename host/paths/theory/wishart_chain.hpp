// The Wishart chain of design/attention-paths.md section 5 in Bartlett
// coordinates: a fixed, N-independent set of latent variables whose prior is
// a product of independent chi-square and standard-normal laws, and a
// deterministic map to the order parameters. Internal to host/paths/theory/.
//
//   readout:  c_a ~ chi2(N_a),            u_a = s_a c_a / N_a,  F_L = [sqrt(u_a)]
//   level l = L-1 .. 0 (the paper's U_{l+1}), given the factor F_{l+1}
//   (D_{l+1} x r_{l+1}, U_{l+1} = F_{l+1} F_{l+1}^T):
//     B = sqrt(s_{l+1}) (I_{H_l} (x) F_{l+1})               D_l x m, m = H_l r_{l+1}
//     A  lower-trapezoidal m x r_l, r_l = min(N_l, m):
//        A_ii = sqrt(c_i), c_i ~ chi2(N_l - i)  (i < r_l),  A_ij ~ N(0, 1) (i > j)
//     F_l = B A / sqrt(N_l),  U_l = F_l F_l^T.
// U_l | U_{l+1} is then Wishart_{D_l}(N_l, s_{l+1} (I (x) U_{l+1}) / N_l): the
// law of B W W^T B^T / N_l with W W^T ~ Wishart_m(N_l, I) depends on B only
// through B B^T = Sigma, and A A^T is the (possibly singular, N_l < m)
// Bartlett decomposition of Wishart_m(N_l, I). The number of latent
// variables is bounded by sum_l D_l (D_l + 1) / 2 + 1 whatever the widths,
// and every U is positive semi-definite by construction.
//
// Sampling coordinates theta: v = ln c for every chi-square variable (the
// log-density in v includes the Jacobian c), the normals as they are.
#pragma once

#include <cstdint>
#include <vector>

#include "host/paths/theory/theory_problem.hpp"

namespace attnmc::paths::detail {

struct WishartChain {
  struct Level {
    int dim = 0;    // D_l
    int heads = 1;  // H_l
    int m = 0;      // rows of A: H_l r_{l+1}
    int rank = 0;   // r_l
    double width = 1.0;
    double scale = 1.0;   // s_{l+1}
    std::vector<int> df;  // degrees of freedom of the chi-square diagonals
    int offset = 0;       // first latent index of the level
  };
  std::vector<Level> levels;  // index l = 0 .. L-1
  double readout_df = 1.0, readout_width = 1.0, readout_scale = 1.0;
  int dim = 0;  // number of latent variables; index 0 is ln c_a

  // df_shift: testing only (a planted bug in the degrees of freedom).
  WishartChain(const PathsTheoryModel& model, int df_shift = 0);

  // Order parameters (levels 0..L, level L = [u_a]) and U_1 = u[0] from theta.
  void map(const Vec& theta, std::vector<Mat>& u) const;
  // log prior density of theta (up to a constant).
  double log_prior(const Vec& theta) const;
  // A rough prior scale per coordinate (standard deviation of ln chi2(k) or 1).
  Vec prior_sd() const;
  // The prior mode in theta (starting point): ln c = ln k (near the mode of
  // ln chi2(k) for large k), normals 0.
  Vec center() const;
  bool is_log_chi2(int index, double* df) const;
  // An exact draw of theta from the prior, keyed by (seed, sample): chi-square
  // variables by Marsaglia-Tsang gamma sampling, the normals directly.
  Vec draw_prior(std::uint64_t seed, std::uint32_t sample) const;
};

}  // namespace attnmc::paths::detail
