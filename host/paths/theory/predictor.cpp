// The GP predictor with the renormalised kernel K_U, head scores and pruning
// (design/attention-paths.md section 3; the authors' compute_heads_score).
#include <algorithm>
#include <cmath>

#include "attnmc/error.hpp"
#include "host/paths/theory/theory_problem.hpp"

namespace attnmc::paths {

using detail::Mat;
using detail::Vec;

namespace {

double accuracy(const Vec& mean, const Vec& y) {
  if (y.size() == 0) return std::nan("");
  int right = 0;
  for (int i = 0; i < y.size(); ++i) right += (mean(i) > 0.0) == (y(i) > 0.0);
  return double(right) / double(y.size());
}

Prediction predict_problem(const detail::Problem& pb, const Mat& u1) {
  const detail::Gp gp(pb, u1);
  if (!gp.ok) throw Error("paths predictor: K_U + T I is not positive definite");
  Vec mean, var;
  detail::gp_predict(pb, u1, gp, mean, var);
  Prediction p;
  p.mean.assign(mean.data(), mean.data() + mean.size());
  p.variance.assign(var.data(), var.data() + var.size());
  p.test_accuracy = accuracy(mean, pb.y_test);
  // Training predictor: K (K + T I)^{-1} y = y - T alpha.
  p.train_error = (pb.temperature * gp.alpha).squaredNorm() / double(pb.n_train);
  return p;
}

// Head of layer `layer` on path p (first layer's head most significant).
int head_on_path(const PathsTheoryModel& m, int p, int layer) {
  return (p / m.level_dim(layer + 1)) % m.heads[std::size_t(layer)];
}

}  // namespace

Prediction predict(const PathsTheoryModel& model, const PathOverlapData& data,
                   const std::vector<double>& u1) {
  validate(model, data);
  if (u1.size() != std::size_t(data.n_paths) * std::size_t(data.n_paths))
    throw InputError("u1", "need n_paths^2 entries");
  const detail::Problem pb(model, data);
  return predict_problem(pb, detail::to_mat(u1, data.n_paths));
}

std::vector<HeadScore> head_scores(const PathsTheoryModel& model, const PathOverlapData& data,
                                   const std::vector<double>& u1) {
  validate(model, data);
  const detail::Problem pb(model, data);
  const int n = data.n_paths;
  const Mat u = detail::to_mat(u1, n);
  const double full = predict_problem(pb, u).test_accuracy;
  std::vector<HeadScore> out;
  double top = 0.0;
  for (int l = 0; l < model.depth(); ++l)
    for (int h = 0; h < model.heads[std::size_t(l)]; ++h) {
      HeadScore s;
      s.layer = l;
      s.head = h;
      Mat pruned = u;
      for (int p = 0; p < n; ++p)
        for (int q = 0; q < n; ++q)
          if (head_on_path(model, p, l) == h || head_on_path(model, q, l) == h) {
            s.score += std::abs(u(p, q));
            pruned(p, q) = 0.0;
          }
      top = std::max(top, s.score);
      // Pruning every path leaves K = 0: the predictor is 0 and no sign is right.
      s.pruned_accuracy = predict_problem(pb, pruned).test_accuracy;
      s.accuracy_drop = full - s.pruned_accuracy;
      out.push_back(s);
    }
  if (top > 0.0)
    for (auto& s : out) s.score /= top;
  return out;
}

}  // namespace attnmc::paths
