// See paths_reference.hpp.
#include "reference/paths_reference.hpp"

#include <cmath>

#include "attnmc/rng.hpp"

namespace attnmc::reference {

namespace {

std::vector<double> keyed_normals(std::uint64_t seed, std::uint64_t member, std::uint32_t layer,
                                  std::uint32_t slot, std::size_t count, double sd) {
  const rng::StreamKey k =
      rng::make_key(seed, rng::Purpose::paths, std::uint32_t(member), layer, slot);
  std::vector<double> v(count);
  for (std::size_t i = 0; i < count; ++i) v[i] = sd * rng::gaussian_d(k, i);
  return v;
}

// The forward pass; `mask` (paths-free when null) keeps only head mask[l] at layer l.
std::vector<double> readout_state(const PathsSpec& s, const PathsTask& task, const PathsWeights& w,
                                  int mu, const std::vector<int>* mask) {
  const int n_in = task.n_in, C = task.columns, L = s.layers();
  const double* x = task.sequence(mu);
  int rows = s.widths[0];
  std::vector<double> z(std::size_t(rows) * C, 0.0);  // z[i * C + t]
  for (int i = 0; i < rows; ++i)
    for (int t = 0; t < C; ++t) {
      double acc = 0;
      for (int j = 0; j < n_in; ++j)
        acc += w.v0[std::size_t(i) * n_in + j] * x[std::size_t(j) * C + t];
      z[std::size_t(i) * C + t] = acc / std::sqrt(double(n_in));
    }
  for (int l = 0; l < L; ++l) {
    const int H = s.heads_in(l), out = s.widths[std::size_t(l + 1)];
    std::vector<double> next(std::size_t(out) * C, 0.0);
    for (int h = 0; h < H; ++h) {
      if (mask != nullptr && (*mask)[std::size_t(l)] != h) continue;
      const std::vector<double> om = reference_attention(task, l, h, mu);
      std::vector<double> mixed(std::size_t(rows) * C, 0.0);  // z^{l-1} Omega
      for (int i = 0; i < rows; ++i)
        for (int t = 0; t < C; ++t) {
          double acc = 0;
          for (int q = 0; q < C; ++q) acc += z[std::size_t(i) * C + q] * om[std::size_t(q) * C + t];
          mixed[std::size_t(i) * C + t] = acc;
        }
      const std::vector<double>& V = w.v[std::size_t(l)][std::size_t(h)];
      const double norm = std::sqrt(double(H) * rows);
      for (int o = 0; o < out; ++o)
        for (int t = 0; t < C; ++t) {
          double acc = 0;
          for (int i = 0; i < rows; ++i)
            acc += V[std::size_t(o) * rows + i] * mixed[std::size_t(i) * C + t];
          next[std::size_t(o) * C + t] += acc / norm;
        }
    }
    z = std::move(next);
    rows = out;
  }
  std::vector<double> r(std::size_t(rows), 0.0);
  for (int i = 0; i < rows; ++i) {
    if (s.readout == ReadoutToken::last) r[std::size_t(i)] = z[std::size_t(i) * C + C - 1];
    if (s.readout == ReadoutToken::first) r[std::size_t(i)] = z[std::size_t(i) * C];
    if (s.readout == ReadoutToken::mean) {
      double acc = 0;
      for (int t = 0; t < C; ++t) acc += z[std::size_t(i) * C + t];
      r[std::size_t(i)] = acc / C;
    }
  }
  return r;
}

std::vector<int> path_heads(const PathsSpec& s, int p) {
  std::vector<int> h(std::size_t(s.layers()));
  for (int l = s.layers() - 1; l >= 0; --l) {
    h[std::size_t(l)] = p % s.heads_in(l);
    p /= s.heads_in(l);
  }
  return h;
}

}  // namespace

PathsWeights draw_paths_weights(const PathsSpec& s, int n_in, std::uint64_t seed,
                                std::uint64_t member) {
  PathsWeights w;
  const int L = s.layers();
  w.v0 =
      keyed_normals(seed, member, 0, 0, std::size_t(s.widths[0]) * n_in, std::sqrt(s.variances[0]));
  w.v.resize(std::size_t(L));
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < s.heads_in(l); ++h)
      w.v[std::size_t(l)].push_back(
          keyed_normals(seed, member, std::uint32_t(l + 1), std::uint32_t(h),
                        std::size_t(s.widths[std::size_t(l + 1)]) * s.widths[std::size_t(l)],
                        std::sqrt(s.variances[std::size_t(l + 1)])));
  w.a = keyed_normals(seed, member, std::uint32_t(L + 1), 0, std::size_t(s.widths[std::size_t(L)]),
                      std::sqrt(s.variances[std::size_t(L + 1)]));
  return w;
}

std::vector<double> reference_attention(const PathsTask& task, int layer, int head, int mu) {
  const int n = task.n_in, C = task.columns;
  const double* x = task.sequence(mu);
  const std::vector<double>& W = task.w[std::size_t(layer)][std::size_t(head)];
  std::vector<double> om(std::size_t(C) * C);
  for (int t = 0; t < C; ++t) {
    double top = -INFINITY;
    for (int s = 0; s < C; ++s) {
      double acc = 0;
      for (int i = 0; i < n; ++i) {
        const double xi = x[std::size_t(i) * C + s];
        if (xi == 0) continue;
        double inner = 0;
        for (int j = 0; j < n; ++j) inner += W[std::size_t(i) * n + j] * x[std::size_t(j) * C + t];
        acc += xi * inner;
      }
      om[std::size_t(s) * C + t] = acc;
      top = std::max(top, acc);
    }
    double sum = 0;
    for (int s = 0; s < C; ++s)
      sum += om[std::size_t(s) * C + t] = std::exp(om[std::size_t(s) * C + t] - top);
    for (int s = 0; s < C; ++s) om[std::size_t(s) * C + t] /= sum;
  }
  return om;
}

std::vector<double> paths_readout_state(const PathsSpec& s, const PathsTask& task,
                                        const PathsWeights& w, int mu) {
  return readout_state(s, task, w, mu, nullptr);
}

double paths_forward(const PathsSpec& s, const PathsTask& task, const PathsWeights& w, int mu) {
  const std::vector<double> z = readout_state(s, task, w, mu, nullptr);
  double f = 0;
  for (std::size_t i = 0; i < z.size(); ++i) f += w.a[i] * z[i];
  return f / std::sqrt(double(z.size()));
}

std::vector<double> paths_forward_per_path(const PathsSpec& s, const PathsTask& task,
                                           const PathsWeights& w, int mu) {
  std::vector<double> f(std::size_t(s.paths()));
  for (int p = 0; p < s.paths(); ++p) {
    const std::vector<int> mask = path_heads(s, p);
    const std::vector<double> z = readout_state(s, task, w, mu, &mask);
    double acc = 0;
    for (std::size_t i = 0; i < z.size(); ++i) acc += w.a[i] * z[i];
    f[std::size_t(p)] = acc / std::sqrt(double(z.size()));
  }
  return f;
}

std::vector<double> brute_force_overlaps(const PathsSpec& spec, const PathsTask& task,
                                         int sequences) {
  PathsSpec s = spec;
  const int n = task.n_in, L = s.layers(), Pp = s.paths();
  s.widths.assign(std::size_t(L + 1), n);
  PathsWeights w;
  std::vector<double> eye(std::size_t(n) * n, 0.0);
  for (int i = 0; i < n; ++i) eye[std::size_t(i) * n + i] = 1.0;
  w.v0 = eye;
  w.v.resize(std::size_t(L));
  for (int l = 0; l < L; ++l) w.v[std::size_t(l)].assign(std::size_t(s.heads_in(l)), eye);
  // z^L for path p = xi^p / sqrt(N_in prod_l (H_l N_in)); G divides by N_in prod H_l.
  double rescale = 1;
  for (int l = 0; l < L; ++l) rescale *= n;
  const std::size_t M = std::size_t(sequences);
  std::vector<std::vector<double>> z(M * Pp);
  for (std::size_t mu = 0; mu < M; ++mu)
    for (int p = 0; p < Pp; ++p) {
      const std::vector<int> mask = path_heads(s, p);
      z[mu * Pp + p] = readout_state(s, task, w, int(mu), &mask);
    }
  std::vector<double> G(M * M * Pp * Pp);
  for (std::size_t mu = 0; mu < M; ++mu)
    for (std::size_t nu = 0; nu < M; ++nu)
      for (int p = 0; p < Pp; ++p)
        for (int q = 0; q < Pp; ++q) {
          double acc = 0;
          const auto& a = z[mu * Pp + p];
          const auto& b = z[nu * Pp + q];
          for (int i = 0; i < n; ++i) acc += a[std::size_t(i)] * b[std::size_t(i)];
          G[((mu * M + nu) * Pp + p) * Pp + q] = acc * rescale;
        }
  return G;
}

}  // namespace attnmc::reference
