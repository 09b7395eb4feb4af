// Small attention-path problems for the theory and posterior tests: random
// token matrices and random column-stochastic attention maps per sequence
// and head (the reduction only needs Omega to be a fixed function of the
// input), the path overlaps G built from them, and a literal forward pass of
// whole networks for brute-force checks. Test data are drawn from the keyed
// generator (purpose `input`), so they are the same on every machine.
#pragma once

#include <Eigen/Dense>
#include <cmath>
#include <vector>

#include "attnmc/paths_theory.hpp"
#include "attnmc/rng.hpp"

namespace paths_test {

struct SmallTask {
  int n_in = 5, tokens = 4;  // tokens = T + 1; readout token t* = tokens - 1
  std::vector<int> heads{2, 2};
  int n_train = 4, n_test = 2;
  std::vector<Eigen::MatrixXd> x;                                // per sequence: n_in x tokens
  std::vector<std::vector<std::vector<Eigen::MatrixXd>>> omega;  // [seq][layer][head]
  std::vector<double> y_train, y_test;
  int n_seq() const { return n_train + n_test; }
  int n_paths() const {
    int n = 1;
    for (int h : heads) n *= h;
    return n;
  }
};

inline double gauss(std::uint64_t seed, std::uint32_t layer, std::uint32_t slot, std::uint64_t i) {
  return attnmc::rng::gaussian_d(
      attnmc::rng::make_key(seed, attnmc::rng::Purpose::input, 977, layer, slot), i);
}

// Labels: +-1 from the sign of a fixed random direction of the mean token, so
// that they depend on the input.
inline SmallTask make_task(std::uint64_t seed, int n_train, int n_test, std::vector<int> heads,
                           int n_in = 5, int tokens = 4, double logit_scale = 2.0) {
  SmallTask t;
  t.n_in = n_in, t.tokens = tokens, t.heads = heads, t.n_train = n_train, t.n_test = n_test;
  std::uint64_t k = 0;
  Eigen::VectorXd dir(n_in);
  for (int i = 0; i < n_in; ++i) dir(i) = gauss(seed, 0, 1, std::uint64_t(i));
  for (int s = 0; s < t.n_seq(); ++s) {
    Eigen::MatrixXd x(n_in, tokens);
    for (int i = 0; i < n_in; ++i)
      for (int j = 0; j < tokens; ++j) x(i, j) = gauss(seed, 1, 0, k++);
    t.x.push_back(x);
    std::vector<std::vector<Eigen::MatrixXd>> om;
    for (std::size_t l = 0; l < heads.size(); ++l) {
      std::vector<Eigen::MatrixXd> per_head;
      for (int h = 0; h < heads[l]; ++h) {
        Eigen::MatrixXd w(tokens, tokens);
        for (int a = 0; a < tokens; ++a)
          for (int b = 0; b < tokens; ++b) w(a, b) = logit_scale * gauss(seed, 2, 0, k++);
        for (int b = 0; b < tokens; ++b) {  // softmax over keys (rows) per query column
          const double m = w.col(b).maxCoeff();
          w.col(b) = (w.col(b).array() - m).exp();
          w.col(b) /= w.col(b).sum();
        }
        per_head.push_back(w);
      }
      om.push_back(per_head);
    }
    t.omega.push_back(om);
    const double label = dir.dot(x.rowwise().mean()) >= 0.0 ? 1.0 : -1.0;
    (s < n_train ? t.y_train : t.y_test).push_back(label);
  }
  return t;
}

// xi^p(x) = x pi_p, pi_p = Omega^{1,h1} ... Omega^{L,hL} e_{t*}, p packed with h1 most significant.
inline std::vector<Eigen::VectorXd> path_features(const SmallTask& t, int s) {
  std::vector<Eigen::VectorXd> xi;
  const int np = t.n_paths();
  for (int p = 0; p < np; ++p) {
    Eigen::VectorXd pi = Eigen::VectorXd::Zero(t.tokens);
    pi(t.tokens - 1) = 1.0;
    int rest = p;
    std::vector<int> hs(t.heads.size());
    for (int l = int(t.heads.size()) - 1; l >= 0; --l)
      hs[l] = rest % t.heads[l], rest /= t.heads[l];
    for (int l = int(t.heads.size()) - 1; l >= 0; --l) pi = t.omega[s][l][hs[l]] * pi;
    xi.push_back(t.x[s] * pi);
  }
  return xi;
}

inline attnmc::paths::PathOverlapData overlaps(const SmallTask& t) {
  attnmc::paths::PathOverlapData d;
  d.n_train = t.n_train, d.n_test = t.n_test, d.n_paths = t.n_paths();
  d.y_train = t.y_train, d.y_test = t.y_test;
  const int n = t.n_seq(), np = d.n_paths;
  std::vector<std::vector<Eigen::VectorXd>> xi;
  for (int s = 0; s < n; ++s) xi.push_back(path_features(t, s));
  const double norm = double(t.n_in) * np;
  d.g.resize(std::size_t(n) * n * np * np);
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < n; ++b)
      for (int p = 0; p < np; ++p)
        for (int q = 0; q < np; ++q)
          d.g[((std::size_t(a) * n + b) * np + p) * np + q] = xi[a][p].dot(xi[b][q]) / norm;
  return d;
}

inline attnmc::paths::PathsTheoryModel model_for(const SmallTask& t, long width, double temp) {
  attnmc::paths::PathsTheoryModel m;
  m.heads = t.heads;
  m.widths.assign(t.heads.size() + 1, width);
  m.variances.assign(t.heads.size() + 2, 1.0);
  m.temperature = temp;
  return m;
}

}  // namespace paths_test
