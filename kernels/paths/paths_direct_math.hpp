// One Hamiltonian Monte Carlo chain over the weights of an attention-paths
// network (include/attnmc/paths.hpp), double precision. Coordinates are the
// whitened weights theta = w / sd (standard normal prior), so the potential
// is E(theta) = sum_mu (f(x_mu) - y_mu)^2 / (2 Temp) + |theta|^2 / 2.
// The network is evaluated by its path decomposition: suffix vectors
//     u_{L+1} = a,  u_l[h S_{l+1} + r] = V^{l,h}^T u_{l+1}[r]   (S_l = prod_{k>=l} H_k)
//     w_p = V^0^T u_1[p],  f(x) = c sum_p w_p . xi^p(x),
//     c = 1 / sqrt(N_in N_a prod_l H_l N_l),
// and its gradient by the reverse sweep of the same recursion. U_1[p, q] =
// u_1[p] . u_1[q] / (N_a prod_l N_l) (design section 5: K_U = s_0 sum U_1 G).
// Randomness keyed (purpose paths_direct, member = chain, layer = step):
// slot 0 the initial theta (layer 0), 1 momenta, 2 the accept uniform, 3 the
// step-size jitter. Step size: Robbins-Monro on log(step) toward the target
// acceptance during burn-in, then fixed; each step's size jittered by
// U(0.8, 1.2) against periodic orbits.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "attnmc/hd.hpp"
#include "attnmc/rng.hpp"
#include "kernels/paths/paths_direct_job.hpp"

namespace attnmc::kernels {

struct PathsDirectLayout {
  std::size_t dim = 0;                     // number of weights
  std::size_t off_v[kPathsMaxLayers + 1];  // offset of V^{l,h=0} (l = 0: V^0), heads contiguous
  std::size_t off_a = 0;
  std::size_t off_u[kPathsMaxLayers + 2];  // suffix vectors of level l (1 .. L + 1)
  std::size_t u_total = 0;
  std::size_t count[kPathsMaxLayers + 2];  // S_l, number of level-l vectors
};

ATTNMC_HD inline PathsDirectLayout paths_direct_layout(const PathsShape& s) {
  PathsDirectLayout g;
  const int L = s.layers;
  std::size_t o = 0;
  g.off_v[0] = o;
  o += std::size_t(s.widths[0]) * s.n_in;
  for (int l = 1; l <= L; ++l) {
    g.off_v[l] = o;
    o += std::size_t(s.heads[l - 1]) * s.widths[l] * s.widths[l - 1];
  }
  g.off_a = o;
  o += std::size_t(s.widths[L]);
  g.dim = o;
  std::size_t u = 0, c = 1;
  g.count[L + 1] = 1;
  g.off_u[L + 1] = u;
  u += std::size_t(s.widths[L]);
  for (int l = L; l >= 1; --l) {
    c *= std::size_t(s.heads[l - 1]);
    g.count[l] = c;
    g.off_u[l] = u;
    u += c * std::size_t(s.widths[l - 1]);
  }
  g.u_total = u;
  return g;
}

// Doubles of one chain's workspace.
ATTNMC_HD inline std::size_t paths_direct_work(const PathsShape& s, int train) {
  const PathsDirectLayout g = paths_direct_layout(s);
  return 5 * g.dim + 2 * g.u_total + 2 * std::size_t(s.paths) * s.n_in + std::size_t(train);
}

struct PathsChain {
  const PathsShape* s;
  const double* sd;  // per weight group (L + 2)
  PathsDirectLayout g;
  const double* features;  // (train + test) x paths x n_in
  const double* y;
  int train;
  double temperature;
  double* u;   // u_total
  double* du;  // u_total
  double* w;   // paths x n_in
  double* gw;  // paths x n_in
  double* r;   // train residuals

  ATTNMC_HD double sd_of(std::size_t i) const {
    if (i >= g.off_a) return sd[s->layers + 1];
    for (int l = s->layers; l >= 1; --l)
      if (i >= g.off_v[l]) return sd[l];
    return sd[0];
  }
  ATTNMC_HD double scale() const {
    double c = double(s->n_in) * s->widths[s->layers];
    for (int l = 0; l < s->layers; ++l) c *= double(s->heads[l]) * s->widths[l];
    return 1.0 / sqrt(c);
  }
  // Suffix vectors and effective weights from theta (weights = sd * theta).
  ATTNMC_HD void forward(const double* th) const {
    const int L = s->layers;
    for (int i = 0; i < s->widths[L]; ++i) u[g.off_u[L + 1] + i] = sd[L + 1] * th[g.off_a + i];
    for (int l = L; l >= 1; --l) {
      const int H = s->heads[l - 1], in = s->widths[l - 1], out = s->widths[l];
      const std::size_t S = g.count[l + 1];
      for (int h = 0; h < H; ++h)
        for (std::size_t rr = 0; rr < S; ++rr) {
          const double* up = u + g.off_u[l + 1] + rr * out;
          double* dst = u + g.off_u[l] + (std::size_t(h) * S + rr) * in;
          const double* V = th + g.off_v[l] + std::size_t(h) * out * in;
          for (int j = 0; j < in; ++j) dst[j] = 0.0;
          for (int i = 0; i < out; ++i) {
            const double c = sd[l] * up[i];
            for (int j = 0; j < in; ++j) dst[j] += c * V[std::size_t(i) * in + j];
          }
        }
    }
    const int n1 = s->widths[0], n = s->n_in;
    for (int p = 0; p < s->paths; ++p) {
      double* wp = w + std::size_t(p) * n;
      const double* u1 = u + g.off_u[1] + std::size_t(p) * n1;
      for (int j = 0; j < n; ++j) wp[j] = 0.0;
      for (int i = 0; i < n1; ++i) {
        const double c = sd[0] * u1[i];
        for (int j = 0; j < n; ++j) wp[j] += c * th[g.off_v[0] + std::size_t(i) * n + j];
      }
    }
  }
  ATTNMC_HD double f_of(int mu) const {
    const int n = s->n_in;
    double acc = 0;
    for (int p = 0; p < s->paths; ++p) {
      const double* x = features + (std::size_t(mu) * s->paths + p) * n;
      for (int j = 0; j < n; ++j) acc += w[std::size_t(p) * n + j] * x[j];
    }
    return acc * scale();
  }
  // E(theta) and its gradient into grad (dim).
  ATTNMC_HD double energy(const double* th, double* grad) const {
    forward(th);
    const int n = s->n_in, L = s->layers, n1 = s->widths[0];
    const double c = scale();
    double loss = 0;
    for (int mu = 0; mu < train; ++mu) {
      r[mu] = (f_of(mu) - y[mu]) / temperature;
      loss += 0.5 * (f_of(mu) - y[mu]) * r[mu];
    }
    double prior = 0;
    for (std::size_t i = 0; i < g.dim; ++i) prior += 0.5 * th[i] * th[i];
    if (grad == nullptr) return loss + prior;
    // dE/dw_p = c sum_mu r_mu xi^p_mu
    for (int p = 0; p < s->paths; ++p)
      for (int j = 0; j < n; ++j) {
        double acc = 0;
        for (int mu = 0; mu < train; ++mu)
          acc += r[mu] * features[(std::size_t(mu) * s->paths + p) * n + j];
        gw[std::size_t(p) * n + j] = c * acc;
      }
    for (std::size_t i = 0; i < g.dim; ++i) grad[i] = th[i];
    // V^0 and du_1
    for (int i = 0; i < n1; ++i)
      for (int p = 0; p < s->paths; ++p) {
        const double u1 = u[g.off_u[1] + std::size_t(p) * n1 + i];
        double d = 0;
        for (int j = 0; j < n; ++j) {
          grad[g.off_v[0] + std::size_t(i) * n + j] += sd[0] * u1 * gw[std::size_t(p) * n + j];
          d += th[g.off_v[0] + std::size_t(i) * n + j] * gw[std::size_t(p) * n + j];
        }
        du[g.off_u[1] + std::size_t(p) * n1 + i] = sd[0] * d;
      }
    for (int l = 1; l <= L; ++l) {
      const int H = s->heads[l - 1], in = s->widths[l - 1], out = s->widths[l];
      const std::size_t S = g.count[l + 1];
      for (std::size_t e = 0; e < S * out; ++e) du[g.off_u[l + 1] + e] = 0.0;
      for (int h = 0; h < H; ++h)
        for (std::size_t rr = 0; rr < S; ++rr) {
          const double* up = u + g.off_u[l + 1] + rr * out;
          const double* dd = du + g.off_u[l] + (std::size_t(h) * S + rr) * in;
          double* dup = du + g.off_u[l + 1] + rr * out;
          const std::size_t base = g.off_v[l] + std::size_t(h) * out * in;
          for (int i = 0; i < out; ++i) {
            double acc = 0;
            for (int j = 0; j < in; ++j) {
              grad[base + std::size_t(i) * in + j] += sd[l] * up[i] * dd[j];
              acc += th[base + std::size_t(i) * in + j] * dd[j];
            }
            dup[i] += sd[l] * acc;
          }
        }
    }
    for (int i = 0; i < s->widths[L]; ++i) grad[g.off_a + i] += sd[L + 1] * du[g.off_u[L + 1] + i];
    return loss + prior;
  }
  // Adds U_1 of the current forward pass to out (paths^2).
  ATTNMC_HD void u1_add(double* out) const {
    double norm = s->widths[s->layers];
    for (int l = 0; l < s->layers; ++l) norm *= s->widths[l];
    const int n1 = s->widths[0];
    for (int p = 0; p < s->paths; ++p)
      for (int q = 0; q < s->paths; ++q) {
        double acc = 0;
        for (int i = 0; i < n1; ++i)
          acc += u[g.off_u[1] + std::size_t(p) * n1 + i] * u[g.off_u[1] + std::size_t(q) * n1 + i];
        out[p * s->paths + q] += acc / norm;
      }
  }
};

ATTNMC_HD inline double paths_uniform(std::uint64_t seed, std::uint32_t chain, std::uint32_t step,
                                      std::uint32_t slot) {
  const rng::StreamKey k = rng::make_key(seed, rng::Purpose::paths_direct, chain, step, slot);
  return rng::uniform_open_d(rng::philox_block(k, 0).w[0]);
}

// Runs one chain (burn-in, then kept steps), adding to the outputs.
ATTNMC_HD inline void paths_direct_chain(const PathsDirectJob& job, const double* features,
                                         const double* labels, std::uint32_t chain, double* work,
                                         double* f_sum, double* f2_sum, double* u1_sum,
                                         double* stats) {
  const PathsShape& s = job.shape;
  const PathsDirectSettings& set = job.settings;
  PathsChain c;
  c.s = &s;
  c.sd = job.sd;
  c.g = paths_direct_layout(s);
  c.features = features;
  c.y = labels;
  c.train = set.train;
  c.temperature = set.temperature;
  const std::size_t D = c.g.dim;
  double* th = work;
  double* th1 = th + D;
  double* mom = th1 + D;
  double* grad = mom + D;
  double* grad1 = grad + D;
  c.u = grad1 + D;
  c.du = c.u + c.g.u_total;
  c.w = c.du + c.g.u_total;
  c.gw = c.w + std::size_t(s.paths) * s.n_in;
  c.r = c.gw + std::size_t(s.paths) * s.n_in;
  {
    const rng::StreamKey k = rng::make_key(job.seed, rng::Purpose::paths_direct, chain, 0, 0);
    for (std::size_t i = 0; i < D; ++i) th[i] = rng::gaussian_d(k, i);
  }
  double e = c.energy(th, grad);
  double log_step = log(set.initial_step);
  double accepted = 0, loss_sum = 0, nonfinite = 0;
  const int total = set.burn_in + set.steps;
  for (int t = 0; t < total; ++t) {
    const std::uint32_t key_step = std::uint32_t(t + 1);
    const rng::StreamKey km =
        rng::make_key(job.seed, rng::Purpose::paths_direct, chain, key_step, 1);
    double kinetic = 0;
    for (std::size_t i = 0; i < D; ++i) {
      mom[i] = rng::gaussian_d(km, i);
      kinetic += 0.5 * mom[i] * mom[i];
    }
    const double eps = exp(log_step) * (0.8 + 0.4 * paths_uniform(job.seed, chain, key_step, 3));
    for (std::size_t i = 0; i < D; ++i) {
      th1[i] = th[i];
      grad1[i] = grad[i];
    }
    double e1 = e;
    for (int k = 0; k < set.leapfrog; ++k) {
      for (std::size_t i = 0; i < D; ++i) mom[i] -= 0.5 * eps * grad1[i];
      for (std::size_t i = 0; i < D; ++i) th1[i] += eps * mom[i];
      e1 = c.energy(th1, grad1);
      for (std::size_t i = 0; i < D; ++i) mom[i] -= 0.5 * eps * grad1[i];
    }
    double kinetic1 = 0;
    for (std::size_t i = 0; i < D; ++i) kinetic1 += 0.5 * mom[i] * mom[i];
    const double dh = (e1 + kinetic1) - (e + kinetic);
    const bool finite = (dh - dh) == 0.0;  // false for NaN and +-inf
    const double alpha = finite ? (dh < 0 ? 1.0 : exp(-dh)) : 0.0;
    if (!finite && t >= set.burn_in) nonfinite += 1;  // kept steps only
    const bool accept = paths_uniform(job.seed, chain, key_step, 2) < alpha;
    if (accept) {
      for (std::size_t i = 0; i < D; ++i) {
        th[i] = th1[i];
        grad[i] = grad1[i];
      }
      e = e1;
    }
    if (t < set.burn_in) {
      log_step += (alpha - set.target_accept) / sqrt(1.0 + double(t) / 10.0);
      continue;
    }
    accepted += accept ? 1 : 0;
    c.forward(th);
    double loss = 0;
    for (int mu = 0; mu < set.train; ++mu) {
      const double d = c.f_of(mu) - labels[mu];
      loss += d * d;
    }
    loss_sum += loss / (set.train > 0 ? set.train : 1);
    for (int k = 0; k < set.test; ++k) {
      const double f = c.f_of(set.train + k);
      f_sum[k] += f;
      f2_sum[k] += f * f;
    }
    c.u1_add(u1_sum);
  }
  stats[0] = accepted;
  stats[1] = exp(log_step);
  stats[2] = set.steps > 0 ? loss_sum / set.steps : 0.0;
  stats[3] = nonfinite;
}

}  // namespace attnmc::kernels
