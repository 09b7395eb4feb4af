// The exact width-free sampler ("Gram chain", shared/design/reduced-sampler.md)
// for the models of models.md section 1, one network at a time, in double
// precision on small fixed-size arrays. Host- and device-callable: the
// Thrust functor of kernels/exact_networks.cu runs ExactNetwork<kM> once per
// network (one kernel per token bucket kM); tests call exact_network<true>
// directly (with a planted Mutation) on the host.
//
// State. Since n >= m (resolve_model), X = C B with B an m x n matrix with
// orthonormal rows and C m x m lower triangular with C C^T = X X^T (rows of C
// beyond the rank of X simply vanish; B may contain unused directions, which
// is harmless: identities 1 and 2 hold for any orthonormal B). Fresh
// rotation-invariant weights make the law of everything after a layer depend
// on X only through X X^T, so C is re-factored to lower triangular with a
// non-negative diagonal after each block (for full-rank X: C = chol(X X^T)).
//
// Attention block, per head h (D = diag of inverse row RMS of C when
// pre_norm, else I; Xin = D C B):
//  * logits Y_h = Xin W_Q W_K^T Xin^T * logit_scale. B W_Q, B W_K are m x n_k
//    i.i.d. N(0,1) (identity 1); their product Z_Q Z_K^T has the law of
//    G R_K^T with G m x p i.i.d. N(0,1), R_K m x p lower trapezoidal Bartlett
//    with n_k - i dof on the diagonal, p = min(m, n_k) (identity 3; for
//    n_k < m this is the LQ of the m x n_k matrix Z_K, still exact).
//  * A_h = attention map of Y_h (kernels::attention_row), F_h = A_h D C.
//  * value path. Z_h = B W_V^h = M_h B + G_h U with M_h = Z_h B^T (m x m),
//    U an orthonormal basis of the complement of B ((n-m) x n) and
//    G_h = Z_h U^T (m x (n-m)); all M_h, G_h i.i.d. N(0,1) and independent
//    (across heads too). The branch sum_h F_h Z_h is
//      [sum_h F_h M_h] B + [sum_h F_h G_h] U.
//    Given the F_h, the columns of sum_h F_h G_h = [F_1 .. F_H][G_1; ..; G_H]
//    are i.i.d. N(0, F F^T) with F F^T = sum_h F_h F_h^T, so the term has the
//    law of L_F G' with L_F L_F^T = F F^T and G' m x (n-m) i.i.d. N(0,1).
//    The heads' complement parts therefore merge into ONE m x (n-m)
//    Gaussian, whose LQ factor is a single Bartlett R (n - m - i dof,
//    m x min(m, n-m)): G' U = R E, E orthonormal rows orthogonal to B.
//    (Treating heads as independent splits R_h E_h with E_h mutually
//    orthogonal would be wrong: the E_h share the same (n-m)-dim space.)
//  * X' = [lambda C + s sum_h F_h M_h,  s L_F R] [B; E],  s = attn_scale;
//    C <- LQ of that m x (m + p') coefficient matrix.
// MLP block (hidden width n): the hidden pre-activations X W_pre have n
// independent columns C z_k, z_k ~ N(0, I_m); the hidden matrix
// Hd = sigma(mlp_in_scale C z_k) is drawn column by column (cost O(n m^2),
// linear in width) and only its factor L_H (L_H L_H^T = Hd Hd^T) is kept,
// by streaming LQ over blocks of m columns. Then Hd W_post = L_H N with N
// m x n i.i.d. N(0,1) independent of B, split like the value path:
// X'' = [lambda C + o L_H M', o L_H R''] [B; E], o = mlp_out_scale.
//
// Random numbers: rng::Purpose::exact_chain, keyed by (member, layer, slot);
// slot layout (ChainSlot): per head h, slot = h * kChainSlotsPerHead + k,
// per layer (not per head), slot = kChainLayerSlot + k. Matrix element
// (i, j) of an m x p draw is element i * p + j of its stream; chi-square
// number i (Bartlett diagonal i) is draw i of its chi stream
// (kernels/chi_square.hpp).
#pragma once

#include <math.h>

#include <cstdint>

#include "attnmc/hd.hpp"
#include "attnmc/rng.hpp"
#include "kernels/attention_math.hpp"
#include "kernels/chi_square.hpp"
#include "kernels/model_coefficients.hpp"

namespace attnmc::kernels {

// Most tokens the exact sampler supports (its arrays are kM x 2 kM doubles).
constexpr int kExactMaxTokens = 16;

// Slots of the exact chain's streams (see the header comment).
enum class ChainSlot : std::uint32_t {
  // per head
  logit_gauss = 0,  // G (m x p)
  key_gauss = 1,    // Bartlett R_K off-diagonal (element i * p + j)
  key_chi = 2,      // Bartlett R_K diagonal
  value_proj = 3,   // M_h (m x m)
  // per layer (added to kChainLayerSlot)
  value_gauss = 0,  // Bartlett R off-diagonal
  value_chi = 1,    // Bartlett R diagonal
  mlp_hidden = 2,   // z_k: column k is elements k * m .. k * m + m - 1
  mlp_proj = 3,     // M' (m x m)
  mlp_gauss = 4,    // Bartlett R'' off-diagonal
  mlp_chi = 5,      // Bartlett R'' diagonal
};
constexpr std::uint32_t kChainSlotsPerHead = 4;
constexpr std::uint32_t kChainLayerSlot = 1u << 19;  // heads < 2^17

ATTNMC_HD inline std::uint32_t head_slot(int head, ChainSlot k) {
  return std::uint32_t(head) * kChainSlotsPerHead + static_cast<std::uint32_t>(k);
}
ATTNMC_HD inline std::uint32_t layer_slot(ChainSlot k) {
  return kChainLayerSlot + static_cast<std::uint32_t>(k);
}

// Test-only planted errors, each the size of a typical bug; the statistical
// equivalence tests must reject every one of them. Read only by
// ExactNetwork<kM, true> (tests): the production kernels compile them out.
enum class ChainMutation : int {
  none = 0,
  bartlett_dof_n,         // value/MLP Bartlett with n - i dof instead of n - m - i
  missing_head_scale,     // branch weight gamma/sqrt(n) instead of gamma/sqrt(H)/sqrt(n)
  transposed_key_factor,  // logits from G R_K instead of G R_K^T (needs n_k >= m)
  transposed_attention,   // values mixed by A_h^T instead of A_h
};

struct ChainParams {
  ModelCoefficients model;
  std::uint64_t seed = 0;
  ChainMutation mutation = ChainMutation::none;
};

// In-place LQ of the m x q row-major matrix a (leading dimension lda),
// q >= m, by Householder reflections applied from the right. Afterwards
// a[:, 0..m) holds L (lower triangular, non-negative diagonal) with
// L L^T = a a^T (the input's), and a[:, m..q) is zero.
ATTNMC_HD inline void lq_in_place(double* a, int m, int q, int lda) {
  for (int i = 0; i < m; ++i) {
    double* ai = a + i * lda;
    double norm2 = 0.0;
    for (int j = i; j < q; ++j) norm2 += ai[j] * ai[j];
    if (norm2 == 0.0) continue;
    const double norm = sqrt(norm2);
    const double alpha = ai[i] > 0.0 ? -norm : norm;
    // v = row_i[i..q) - alpha e_i, stored in place; v.v = 2 norm (norm + |a_ii|).
    ai[i] -= alpha;
    const double beta = 1.0 / (norm * (norm + fabs(ai[i] + alpha)));
    for (int k = i + 1; k < m; ++k) {
      double* ak = a + k * lda;
      double s = 0.0;
      for (int j = i; j < q; ++j) s += ak[j] * ai[j];
      s *= beta;
      for (int j = i; j < q; ++j) ak[j] -= s * ai[j];
    }
    ai[i] = alpha;
    for (int j = i + 1; j < q; ++j) ai[j] = 0.0;
  }
  // Unique factor: flip columns to a non-negative diagonal.
  for (int j = 0; j < m; ++j)
    if (a[j * lda + j] < 0.0)
      for (int k = j; k < m; ++k) a[k * lda + j] = -a[k * lda + j];
}

// Sequential keyed standard normals of one stream, one Philox block at a time.
struct GaussianStream {
  rng::StreamKey key;
  std::uint32_t block = 0xffffffffu;
  rng::Gauss4d g;
  ATTNMC_HD explicit GaussianStream(const rng::StreamKey& k) : key(k), g() {}
  ATTNMC_HD double at(std::uint64_t e) {
    const std::uint32_t b = std::uint32_t(e >> 2);
    if (b != block) {
      g = rng::gaussian4d(rng::philox_block(key, b));
      block = b;
    }
    return g.z[e & 3];
  }
};

// rows x cols i.i.d. N(0,1) into out (leading dimension ld).
ATTNMC_HD inline void gaussian_matrix(const rng::StreamKey& key, int rows, int cols, double* out,
                                      int ld) {
  GaussianStream s(key);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) out[i * ld + j] = s.at(std::uint64_t(i) * cols + j);
}

// Bartlett factor: rows x p lower trapezoidal, R_ij ~ N(0,1) for j < i,
// R_ii = sqrt(chi^2(dof0 - i)) for i < p (dof0 - i >= 1), zero above.
// R R^T ~ Wishart_rows(dof0, I) (singular when dof0 < rows, p = min(rows, dof0)).
ATTNMC_HD inline void bartlett(const rng::StreamKey& gauss, const rng::StreamKey& chi, int rows,
                               int p, double dof0, double* out, int ld) {
  GaussianStream s(gauss);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < p; ++j) {
      if (j < i)
        out[i * ld + j] = s.at(std::uint64_t(i) * p + j);
      else if (j == i)
        out[i * ld + j] = sqrt(chi_square_draw(chi, std::uint32_t(i), dof0 - i));
      else
        out[i * ld + j] = 0.0;
    }
}

// Inverse RMS of row a of the m x m factor C over width n (0 for a zero row,
// as the direct model's kernels::inverse_rms).
ATTNMC_HD inline double factor_inverse_rms(const double* c, int m, int ld, int a, int n) {
  double s = 0.0;
  for (int j = 0; j < m; ++j) s += c[a * ld + j] * c[a * ld + j];
  return s > 0.0 ? 1.0 / sqrt(s / double(n)) : 0.0;
}

// One network's chain. kM >= m is the compile-time array size (the stack
// frame is a few kM x 2kM arrays, so the kernels instantiate one kM per
// token bucket, chosen on the host). kPlanted: whether prm.mutation is read
// at all; production kernels use false, so no test-only branch is compiled
// into them.
template <int kM, bool kPlanted = false>
struct ExactNetwork {
  static constexpr int kW = 2 * kM;  // row stride of the coefficient work arrays
  double c[kM * kM];                 // current factor C (ld kM)

  ATTNMC_HD static bool planted(const ChainParams& prm, ChainMutation bug) {
    if constexpr (kPlanted) {
      return prm.mutation == bug;
    } else {
      (void)prm;
      (void)bug;
      return false;
    }
  }

  // Attention block of `layer` (1-based).
  ATTNMC_HD void attention(const ChainParams& prm, std::uint32_t member, int layer) {
    const ModelCoefficients& p = prm.model;
    const int m = p.m;
    double xin[kM * kM], kb[kM * kW], lf[kM * kW];
    for (int a = 0; a < m; ++a) {
      const double d = p.pre_norm ? factor_inverse_rms(c, m, kM, a, p.n) : 1.0;
      for (int j = 0; j < m; ++j) {
        xin[a * kM + j] = d * c[a * kM + j];
        kb[a * kW + j] = p.lambda * c[a * kM + j];
        lf[a * kW + j] = 0.0;
      }
    }
    double s = p.attn_scale;
    if (planted(prm, ChainMutation::missing_head_scale)) s *= sqrt(double(p.heads));
    const int pk = p.head_dim < m ? p.head_dim : m;
    for (int h = 0; h < p.heads; ++h) {
      auto key = [&](ChainSlot k) {
        return rng::make_key(prm.seed, rng::Purpose::exact_chain, member, std::uint32_t(layer),
                             head_slot(h, k));
      };
      double g[kM * kM], rk[kM * kM], qc[kM * kM], kc[kM * kM];
      gaussian_matrix(key(ChainSlot::logit_gauss), m, pk, g, kM);
      bartlett(key(ChainSlot::key_gauss), key(ChainSlot::key_chi), m, pk, double(p.head_dim), rk,
               kM);
      const bool transpose = planted(prm, ChainMutation::transposed_key_factor) && pk == m;
      for (int a = 0; a < m; ++a)
        for (int j = 0; j < pk; ++j) {
          double sq = 0.0, sk = 0.0;
          for (int i = 0; i < m; ++i) {
            sq += xin[a * kM + i] * g[i * kM + j];
            sk += xin[a * kM + i] * (transpose ? rk[j * kM + i] : rk[i * kM + j]);
          }
          qc[a * kM + j] = sq;
          kc[a * kM + j] = sk;
        }
      // F_h = A_h Xin, one attention row at a time.
      double f[kM * kM], mh[kM * kM];
      const bool transpose_a = planted(prm, ChainMutation::transposed_attention);
      if (transpose_a)
        for (int e = 0; e < m * kM; ++e) f[e] = 0.0;
      for (int a = 0; a < m; ++a) {
        double y[kM], row[kM];
        for (int b = 0; b < m; ++b) {
          double dot = 0.0;
          for (int j = 0; j < pk; ++j) dot += qc[a * kM + j] * kc[b * kM + j];
          y[b] = dot;
        }
        attention_row<double>(y, m, p.logit_scale, p.shaped, a, row);
        for (int j = 0; j < m; ++j) {
          if (transpose_a) {  // planted bug: F += A^T column a
            for (int b = 0; b < m; ++b) f[b * kM + j] += row[b] * xin[a * kM + j];
            continue;
          }
          double v = 0.0;
          for (int b = 0; b < m; ++b) v += row[b] * xin[b * kM + j];
          f[a * kM + j] = v;
        }
      }
      // kb += s F_h M_h;  lf <- LQ([lf, F_h]).
      gaussian_matrix(key(ChainSlot::value_proj), m, m, mh, kM);
      for (int a = 0; a < m; ++a)
        for (int j = 0; j < m; ++j) {
          double v = 0.0;
          for (int i = 0; i < m; ++i) v += f[a * kM + i] * mh[i * kM + j];
          kb[a * kW + j] += s * v;
          lf[a * kW + m + j] = f[a * kM + j];
        }
      lq_in_place(lf, m, 2 * m, kW);
    }
    complement_and_refactor(prm, member, layer, kb, lf, s, ChainSlot::value_gauss,
                            ChainSlot::value_chi);
  }

  // Shaped-ReLU MLP block of `layer`.
  ATTNMC_HD void mlp(const ChainParams& prm, std::uint32_t member, int layer) {
    const ModelCoefficients& p = prm.model;
    const int m = p.m, n = p.n;
    auto key = [&](ChainSlot k) {
      return rng::make_key(prm.seed, rng::Purpose::exact_chain, member, std::uint32_t(layer),
                           layer_slot(k));
    };
    // lh = [L_H, block of up to m hidden columns], streamed LQ.
    double lh[kM * kW], kb[kM * kW];
    for (int a = 0; a < m; ++a)
      for (int j = 0; j < 2 * m; ++j) lh[a * kW + j] = 0.0;
    GaussianStream z(key(ChainSlot::mlp_hidden));
    int filled = 0;
    for (int k = 0; k < n; ++k) {
      double zk[kM];
      for (int i = 0; i < m; ++i) zk[i] = z.at(std::uint64_t(k) * m + i);
      for (int a = 0; a < m; ++a) {
        double v = 0.0;
        for (int i = 0; i <= a; ++i) v += c[a * kM + i] * zk[i];  // C lower triangular
        lh[a * kW + m + filled] = shaped_relu(p.mlp_in_scale * v, p.s_plus, p.s_minus);
      }
      if (++filled == m || k == n - 1) {
        lq_in_place(lh, m, m + filled, kW);
        filled = 0;
      }
    }
    double mp[kM * kM];
    gaussian_matrix(key(ChainSlot::mlp_proj), m, m, mp, kM);
    for (int a = 0; a < m; ++a)
      for (int j = 0; j < m; ++j) {
        double v = 0.0;
        for (int i = 0; i < m; ++i) v += lh[a * kW + i] * mp[i * kM + j];
        kb[a * kW + j] = p.lambda * c[a * kM + j] + p.mlp_out_scale * v;
      }
    complement_and_refactor(prm, member, layer, kb, lh, p.mlp_out_scale, ChainSlot::mlp_gauss,
                            ChainSlot::mlp_chi);
  }

  // C <- LQ([kb, s L R]) with R the m x min(m, n - m) Bartlett factor of the
  // complement (n - m - i dof; n - i under the planted dof mutation).
  ATTNMC_HD void complement_and_refactor(const ChainParams& prm, std::uint32_t member, int layer,
                                         double* kb, const double* l, double s, ChainSlot gauss,
                                         ChainSlot chi) {
    const ModelCoefficients& p = prm.model;
    const int m = p.m;
    const int rest = p.n - m;
    const int pc = rest < m ? rest : m;
    if (pc > 0) {
      const double dof0 = planted(prm, ChainMutation::bartlett_dof_n) ? double(p.n) : double(rest);
      double r[kM * kM];
      bartlett(rng::make_key(prm.seed, rng::Purpose::exact_chain, member, std::uint32_t(layer),
                             layer_slot(gauss)),
               rng::make_key(prm.seed, rng::Purpose::exact_chain, member, std::uint32_t(layer),
                             layer_slot(chi)),
               m, pc, dof0, r, kM);
      for (int a = 0; a < m; ++a)
        for (int j = 0; j < pc; ++j) {
          double v = 0.0;
          for (int i = j; i <= a; ++i) v += l[a * kW + i] * r[i * kM + j];  // both lower
          kb[a * kW + m + j] = s * v;
        }
    }
    lq_in_place(kb, m, m + pc, kW);
    for (int a = 0; a < m; ++a)
      for (int j = 0; j < m; ++j) c[a * kM + j] = kb[a * kW + j];
    // Post-norm: token a of X = C B has norm |c_a| (B has orthonormal rows), so
    // RMS normalisation scales row a of C; C stays lower triangular: exact.
    if (p.post_norm)
      for (int a = 0; a < m; ++a) {
        const double d = factor_inverse_rms(c, m, kM, a, p.n);
        for (int j = 0; j < m; ++j) c[a * kM + j] *= d;
      }
  }

  // V = C C^T / n into out (m x m, float).
  ATTNMC_HD void gram(int m, int n, float* out) const {
    for (int a = 0; a < m; ++a)
      for (int b = 0; b < m; ++b) {
        double v = 0.0;
        const int k = a < b ? a : b;
        for (int j = 0; j <= k; ++j) v += c[a * kM + j] * c[b * kM + j];
        out[a * m + b] = float(v / double(n));
      }
  }

  // Whole network: start from c0 (m x m, ld m), write `records` Grams at
  // the sorted record_layers into out (records x m x m).
  ATTNMC_HD void run(const ChainParams& prm, std::uint32_t member, const double* c0,
                     const int* record_layers, int records, float* out) {
    const ModelCoefficients& p = prm.model;
    const int m = p.m;
    for (int a = 0; a < m; ++a)
      for (int j = 0; j < m; ++j) c[a * kM + j] = c0[a * m + j];
    int rec = 0;
    if (rec < records && record_layers[rec] == 0) gram(m, p.n, out + m * m * rec++);
    for (int layer = 1; layer <= p.depth; ++layer) {
      attention(prm, member, layer);
      if (p.mlp) mlp(prm, member, layer);
      if (rec < records && record_layers[rec] == layer) gram(m, p.n, out + m * m * rec++);
    }
  }
};

// The token bucket of m: the smallest compile-time array size that holds m
// tokens (4, 8 or kExactMaxTokens).
ATTNMC_HD inline int exact_bucket(int m) { return m <= 4 ? 4 : m <= 8 ? 8 : kExactMaxTokens; }

// Runs one network with the array size of its token bucket. For tests on
// the host (kPlanted = true reads prm.mutation); the kernels pick the
// bucket on the host and launch ExactNetwork<kM> directly, so a device
// thread never carries the frame of a larger bucket.
template <bool kPlanted = false>
inline void exact_network(const ChainParams& prm, std::uint32_t member, const double* c0,
                          const int* record_layers, int records, float* out) {
  switch (exact_bucket(prm.model.m)) {
    case 4: {
      ExactNetwork<4, kPlanted> net;
      net.run(prm, member, c0, record_layers, records, out);
      break;
    }
    case 8: {
      ExactNetwork<8, kPlanted> net;
      net.run(prm, member, c0, record_layers, records, out);
      break;
    }
    default: {
      ExactNetwork<kExactMaxTokens, kPlanted> net;
      net.run(prm, member, c0, record_layers, records, out);
    }
  }
}

// Initial factor: C0 (m x m, row-major) lower triangular with C0 C0^T =
// X0 X0^T for the m x n tokens x0 (n >= m), by streamed LQ over blocks of m
// columns (no Gram is formed, so rank-deficient inputs are fine). Host only.
inline void initial_factor(const double* x0, int m, int n, double* c0) {
  constexpr int kW = 2 * kExactMaxTokens;
  double work[kExactMaxTokens * kW] = {};
  for (int start = 0; start < n; start += m) {
    const int cols = (n - start) < m ? (n - start) : m;
    for (int a = 0; a < m; ++a) {
      for (int j = 0; j < cols; ++j) work[a * kW + m + j] = x0[a * n + start + j];
      for (int j = cols; j < m; ++j) work[a * kW + m + j] = 0.0;
    }
    lq_in_place(work, m, 2 * m, kW);
  }
  for (int a = 0; a < m; ++a)
    for (int j = 0; j < m; ++j) c0[a * m + j] = work[a * kW + j];
}

}  // namespace attnmc::kernels
