// One random network of the attention-paths family, in float, as its path
// decomposition (include/attnmc/paths.hpp): the effective weights
//     w_p = V^0^T V^{1,h_1}^T ... V^{L,h_L}^T a / (sqrt(N_in) prod_l sqrt(H_l N_l))
// are built from a down, one weight row at a time (each row drawn from its
// keyed normals and applied to every suffix path at once), then
//     f_p(x_mu) = w_p . xi^p(x_mu) / sqrt(N_a).
// The same keyed normals as the double reference network
// (reference/paths_reference.cpp): purpose paths, member, layer key 0 (V^0),
// l (V^{l,h}, slot h), L + 1 (a), element row * cols + col.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "attnmc/hd.hpp"
#include "attnmc/rng.hpp"
#include "kernels/gaussian_lanes.hpp"
#include "kernels/paths/paths_prior_job.hpp"

namespace attnmc::kernels {

// Suffix vectors at the widest layer: max over l of prod_{k >= l} H_k * N_l.
ATTNMC_HD inline std::size_t paths_suffix_floats(const PathsShape& s) {
  std::size_t most = std::size_t(s.widths[s.layers]);
  std::size_t vectors = 1;
  for (int l = s.layers; l >= 1; --l) {
    vectors *= std::size_t(s.heads[l - 1]);
    const std::size_t here = vectors * std::size_t(s.widths[l - 1]);
    most = here > most ? here : most;
  }
  return most;
}

ATTNMC_HD inline std::size_t paths_work_floats(const PathsShape& s) {
  int widest = s.n_in;
  for (int l = 0; l <= s.layers; ++l) widest = s.widths[l] > widest ? s.widths[l] : widest;
  return 2 * paths_suffix_floats(s) + std::size_t(s.paths) * s.n_in + std::size_t(widest) + 4;
}

// Row `row` (length cols) of a keyed N(0, sd^2) matrix into out: on the
// host whole groups of 16 and 4 blocks across vector lanes
// (kernels/gaussian_lanes.hpp, the same bits as one block at a time).
ATTNMC_HD inline void paths_weight_row(const rng::StreamKey& k, int row, int cols, float sd,
                                       float* out) {
  const std::uint64_t e0 = std::uint64_t(row) * std::uint64_t(cols);
  const std::uint64_t e1 = e0 + std::uint64_t(cols);
  std::uint64_t b = e0 / 4;
#if !defined(__CUDA_ARCH__)
  auto groups = [&](auto lanes) {
    constexpr int L = decltype(lanes)::value;
    for (; 4 * (b + L) <= e1; b += L) {
      float z[4 * L];
      gaussian_run_f<L>(k, std::uint32_t(b), z);
      const std::uint64_t lo = 4 * b < e0 ? e0 - 4 * b : 0;
      for (std::uint64_t q = lo; q < 4 * L; ++q) out[4 * b + q - e0] = sd * z[q];
    }
  };
  groups(std::integral_constant<int, 16>{});
  groups(std::integral_constant<int, 4>{});
#endif
  for (; 4 * b < e1; ++b) {
    const rng::Gauss4f g = rng::gaussian4f(rng::philox_block(k, std::uint32_t(b)));
    for (int q = 0; q < 4; ++q) {
      const std::uint64_t e = 4 * b + std::uint64_t(q);
      if (e >= e0 && e < e1) out[e - e0] = sd * g.z[q];
    }
  }
}

// f_p(x_mu) for every sequence and path of member `member` into
// f (M x paths). work: paths_work_floats(s) floats.
ATTNMC_HD inline void paths_network(const PathsShape& s, const float* features, std::uint64_t seed,
                                    std::uint32_t member, float* work, float* f) {
  const std::size_t suffix = paths_suffix_floats(s);
  float* cur = work;
  float* next = work + suffix;
  float* w = next + suffix;  // paths x n_in
  float* row = w + std::size_t(s.paths) * s.n_in;
  const int L = s.layers;
  // a
  {
    const rng::StreamKey k =
        rng::make_key(seed, rng::Purpose::paths, member, std::uint32_t(L + 1), 0);
    paths_weight_row(k, 0, s.widths[L], s.sd[L + 1], cur);
  }
  int vectors = 1;  // suffix paths (h_l .. h_L), h_l most significant
  for (int l = L; l >= 1; --l) {
    const int H = s.heads[l - 1], in = s.widths[l - 1], out = s.widths[l];
    const float norm = float(1.0 / sqrt((s.drop_head_norm ? 1.0 : double(H)) * double(in)));
    for (std::size_t e = 0; e < std::size_t(H) * vectors * in; ++e) next[e] = 0.0f;
    for (int h = 0; h < H; ++h) {
      const rng::StreamKey k =
          rng::make_key(seed, rng::Purpose::paths, member, std::uint32_t(l), std::uint32_t(h));
      for (int i = 0; i < out; ++i) {
        paths_weight_row(k, i, in, s.sd[l], row);
        for (int r = 0; r < vectors; ++r) {
          const float c = cur[std::size_t(r) * out + i];
          float* dst = next + (std::size_t(h) * vectors + r) * in;
          for (int j = 0; j < in; ++j) dst[j] += c * row[j];
        }
      }
    }
    vectors *= H;
    for (std::size_t e = 0; e < std::size_t(vectors) * in; ++e) next[e] *= norm;
    float* t = cur;
    cur = next;
    next = t;
  }
  // V^0: w_p = V^0^T cur_p / sqrt(N_in)
  const int n1 = s.widths[0], n = s.n_in;
  for (std::size_t e = 0; e < std::size_t(s.paths) * n; ++e) w[e] = 0.0f;
  {
    const rng::StreamKey k = rng::make_key(seed, rng::Purpose::paths, member, 0, 0);
    for (int i = 0; i < n1; ++i) {
      paths_weight_row(k, i, n, s.sd[0], row);
      for (int p = 0; p < s.paths; ++p) {
        const float c = cur[std::size_t(p) * n1 + i];
        float* dst = w + std::size_t(p) * n;
        for (int j = 0; j < n; ++j) dst[j] += c * row[j];
      }
    }
  }
  const float scale = float(1.0 / sqrt(double(n) * double(s.widths[L])));
  for (int mu = 0; mu < s.sequences; ++mu)
    for (int p = 0; p < s.paths; ++p) {
      const float* x = features + (std::size_t(mu) * s.paths + p) * n;
      const float* wp = w + std::size_t(p) * n;
      float acc = 0.0f;
      for (int j = 0; j < n; ++j) acc += wp[j] * x[j];
      f[std::size_t(mu) * s.paths + p] = acc * scale;
    }
}

}  // namespace attnmc::kernels
