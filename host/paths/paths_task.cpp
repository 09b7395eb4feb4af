// The attention-paths task: resolve_paths checks a spec, make_paths_task
// builds the sequences (the hidden-Markov-chain task of section 4, keyed, or
// .npy files) and the heads' attention weights.
#include <cmath>
#include <numeric>

#include "attnmc/error.hpp"
#include "attnmc/paths.hpp"
#include "attnmc/rng.hpp"
#include "host/config.hpp"

namespace attnmc {

int PathsSpec::paths() const {
  int p = 1;
  for (const auto& layer : heads) p *= int(layer.size());
  return p;
}

const char* head_kind_name(HeadKind k) {
  static const char* const names[] = {"same_token", "uniform", "random", "file"};
  return names[int(k)];
}
const char* readout_name(ReadoutToken r) {
  static const char* const names[] = {"last", "first", "mean"};
  return names[int(r)];
}

std::string heads_description(const PathsSpec& s) {
  std::string d;
  for (std::size_t l = 0; l < s.heads.size(); ++l) {
    d += l ? " | " : "";
    for (std::size_t h = 0; h < s.heads[l].size(); ++h)
      d += std::string(h ? "," : "") + head_kind_name(s.heads[l][h].kind);
  }
  return d;
}

namespace {

void positive(double v, const std::string& key) {
  if (!(v > 0) || !std::isfinite(v)) throw InputError(key, "must be positive and finite");
}
void probability(double v, const std::string& key) {
  if (!(v >= 0 && v <= 1)) throw InputError(key, "must be a probability in [0, 1]");
}

}  // namespace

PathsSpec resolve_paths(PathsSpec s) {
  if (s.mode != "prior" && s.mode != "theory" && s.mode != "posterior" && s.mode != "direct")
    throw InputError("run.mode",
                     "expected prior, theory, posterior or direct, got '" + s.mode + "'");
  if (s.heads.empty()) throw InputError("heads.layers", "needs at least one layer of heads");
  for (std::size_t l = 0; l < s.heads.size(); ++l) {
    const std::string key = "heads.layers";
    if (s.heads[l].empty())
      throw InputError(key, "layer " + std::to_string(l + 1) + " has no heads");
    for (const HeadSpec& h : s.heads[l]) {
      if (!std::isfinite(h.beta)) throw InputError("heads.beta", "must be finite");
      if (!(h.perturbation >= 0) || !std::isfinite(h.perturbation))
        throw InputError("heads.perturbation", "must be >= 0 and finite");
      if (!std::isfinite(h.bos_strength)) throw InputError("heads.bos_strength", "must be finite");
      if (h.kind == HeadKind::same_token && s.task.kind != PathsTaskKind::markov)
        throw InputError(key, "a same_token head needs the Markov task (task.kind = \"markov\")");
    }
  }
  if (s.paths() > 4096) throw InputError("heads.layers", "more than 4096 paths");
  const int L = s.layers();
  if (s.widths.size() == 1) s.widths.assign(std::size_t(L + 1), s.widths[0]);
  if (int(s.widths.size()) != L + 1)
    throw InputError("model.widths", "expected " + std::to_string(L + 1) +
                                         " widths (N_1 .. N_L, N_a) for " + std::to_string(L) +
                                         " layers, got " + std::to_string(s.widths.size()));
  for (int n : s.widths)
    if (n < 1 || n > (1 << 20))
      throw InputError("model.widths", "every width must be in [1, 2^20]");
  if (s.variances.size() == 1) s.variances.assign(std::size_t(L + 2), s.variances[0]);
  if (int(s.variances.size()) != L + 2)
    throw InputError("model.variances", "expected " + std::to_string(L + 2) +
                                            " variances (s_0, s_1 .. s_L, s_a), got " +
                                            std::to_string(s.variances.size()));
  for (double v : s.variances) positive(v, "model.variances");
  positive(s.temperature, "model.temperature");
  const PathsTaskSpec& t = s.task;
  if (t.kind == PathsTaskKind::markov) {
    const MarkovTaskSpec& m = t.markov;
    if (m.train < 1 || m.train > (1 << 24)) throw InputError("task.train", "must be in [1, 2^24]");
    if (m.test < 0 || m.test > (1 << 24)) throw InputError("task.test", "must be in [0, 2^24]");
    if (m.tokens < 1 || m.tokens > 4096) throw InputError("task.tokens", "must be in [1, 4096]");
    if (m.features < 2 || m.features % 2 != 0 || m.features > (1 << 16))
      throw InputError("task.features", "must be even and in [2, 65536]");
    probability(m.stay_a, "task.stay_a");
    probability(m.stay_b, "task.stay_b");
    probability(m.first_plus, "task.first_plus");
    for (auto [v, k] :
         {std::pair{m.noise_sum, "task.noise_sum"}, std::pair{m.noise_diff, "task.noise_diff"},
          std::pair{m.noise_out, "task.noise_out"}})
      if (!(v >= 0) || !std::isfinite(v)) throw InputError(k, "must be >= 0 and finite");
  } else {
    if (t.train_file.empty()) throw InputError("task.train_file", "a file task needs it");
    if (t.train_labels.empty()) throw InputError("task.train_labels", "a file task needs it");
    if (t.test_file.empty() != t.test_labels.empty())
      throw InputError(t.test_file.empty() ? "task.test_file" : "task.test_labels",
                       "task.test_file and task.test_labels go together");
  }
  if (s.path_sequences < 0) throw InputError("ensemble.path_sequences", "must be >= 0");
  positive(s.z_tolerance, "ensemble.z_tolerance");
  if (s.threads < 0) throw InputError("run.threads", "must be >= 0");
  return s;
}

namespace {

using rng::Purpose;

// Sequences of one split of the Markov task: label +1 (stay_a) for the first
// half, -1 (stay_b) for the rest. Columns: BOS (features 0) then T tokens.
void markov_split(const PathsSpec& s, int count, int first, std::uint32_t state_slot,
                  std::uint32_t noise_slot, PathsTask& task) {
  const MarkovTaskSpec& m = s.task.markov;
  const int n0 = m.features, half = n0 / 2, T = m.tokens, C = task.columns;
  const double r2 = std::sqrt(2.0);
  // Unit vectors along v_+ + v_- (all ones / sqrt(N0)) and v_+ - v_- (+-1 / sqrt(N0)).
  const double e = 1.0 / std::sqrt(double(n0));
  std::vector<double> g(static_cast<std::size_t>(n0));
  for (int i = 0; i < count; ++i) {
    const int mu = first + i;
    const bool class_a = i < (count + 1) / 2;
    const double stay = class_a ? s.task.markov.stay_a : s.task.markov.stay_b;
    task.y[std::size_t(mu)] = class_a ? 1.0 : -1.0;
    double* x = task.x.data() + std::size_t(mu) * task.n_in * C;
    if (m.positions) x[std::size_t(n0) * C + 0] = 1.0;  // BOS position
    const rng::StreamKey ks =
        rng::make_key(s.task.seed, Purpose::paths, std::uint32_t(i), 0, state_slot);
    const rng::StreamKey kn =
        rng::make_key(s.task.seed, Purpose::paths, std::uint32_t(i), 0, noise_slot);
    int state = 0;
    for (int t = 1; t <= T; ++t) {
      const double u = rng::uniform_open_d(rng::philox_block(ks, std::uint32_t(t - 1)).w[0]);
      if (t == 1)
        state = u < m.first_plus ? 1 : -1;
      else if (!(u < stay))
        state = -state;
      task.states[std::size_t(mu) * T + std::size_t(t - 1)] = state;
      const std::uint64_t base = std::uint64_t(t - 1) * std::uint64_t(n0);
      double gs = 0, gd = 0;
      for (int f = 0; f < n0; ++f) {
        g[std::size_t(f)] = rng::gaussian_d(kn, base + std::uint64_t(f));
        gs += g[std::size_t(f)] * e;
        gd += g[std::size_t(f)] * (f < half ? e : -e);
      }
      for (int f = 0; f < n0; ++f) {
        const double ps = gs * e, pd = gd * (f < half ? e : -e);
        const double noise =
            m.noise_sum * ps + m.noise_diff * pd + m.noise_out * (g[std::size_t(f)] - ps - pd);
        const double v = (state > 0) == (f < half) ? r2 : 0.0;
        x[std::size_t(f) * C + std::size_t(t)] = v + noise;
      }
      if (m.positions) x[std::size_t(n0 + t) * C + std::size_t(t)] = 1.0;
    }
  }
}

void load_file_split(const std::string& file, const std::string& labels, const char* file_key,
                     const char* labels_key, std::vector<double>& x, std::vector<double>& y,
                     int& count, int& n_in, int& columns) {
  NpyArray a = read_npy_array(file, file_key);
  if (a.shape.size() != 3)
    throw InputError(file_key, "'" + file + "': expected a 3-D array P x N_in x (T+1), got " +
                                   std::to_string(a.shape.size()) + "-D");
  if (a.shape[0] < 1 || a.shape[1] < 1 || a.shape[2] < 1)
    throw InputError(file_key, "'" + file + "': empty extent");
  if (n_in > 0 && (a.shape[1] != n_in || a.shape[2] != columns))
    throw InputError(file_key, "'" + file + "': sequences of shape " + std::to_string(a.shape[1]) +
                                   " x " + std::to_string(a.shape[2]) + ", the training set has " +
                                   std::to_string(n_in) + " x " + std::to_string(columns));
  count = int(a.shape[0]);
  n_in = int(a.shape[1]);
  columns = int(a.shape[2]);
  NpyArray b = read_npy_array(labels, labels_key);
  if (b.shape.size() != 1 && !(b.shape.size() == 2 && b.shape[1] == 1))
    throw InputError(labels_key, "'" + labels + "': expected a 1-D array of labels");
  if (b.shape[0] != a.shape[0])
    throw InputError(labels_key, "'" + labels + "': " + std::to_string(b.shape[0]) +
                                     " labels for " + std::to_string(a.shape[0]) +
                                     " sequences in " + file);
  x.insert(x.end(), a.data.begin(), a.data.end());
  y.insert(y.end(), b.data.begin(), b.data.end());
}

// W of one head (before beta), N_in x N_in, key feature first.
std::vector<double> head_weights(const PathsSpec& s, const PathsTask& task, int l, int h) {
  const HeadSpec& hs = s.heads[std::size_t(l)][std::size_t(h)];
  const int n = task.n_in;
  std::vector<double> w(std::size_t(n) * n, 0.0);
  const bool markov = s.task.kind == PathsTaskKind::markov;
  const int n0 = markov ? s.task.markov.features : n;
  const int C = task.columns;
  const bool pos = markov && s.task.markov.positions;
  auto at = [&](int r, int c) -> double& { return w[std::size_t(r) * n + std::size_t(c)]; };
  switch (hs.kind) {
    case HeadKind::same_token: {
      // features q q^T, q = (v_+ - v_-) / N_0 (q.v_+ = 1, q.v_- = -1)
      const double qv = std::sqrt(2.0) / n0;
      for (int i = 0; i < n0; ++i)
        for (int j = 0; j < n0; ++j) at(i, j) = ((i < n0 / 2) == (j < n0 / 2) ? 1 : -1) * qv * qv;
      if (pos) {
        for (int j = 1; j + 1 < C; ++j) at(n0 + j, n0 + j + 1) = 1.0;  // key j, query j + 1
        for (int t = 1; t < C; ++t) at(n0, n0 + t) = hs.bos_strength;  // key BOS, query t >= 1
      }
      break;
    }
    case HeadKind::uniform:
      if (pos)
        for (int i = 0; i < C; ++i)
          for (int j = 0; j < C; ++j) at(n0 + i, n0 + j) = 1.0;
      break;
    case HeadKind::random: {
      const rng::StreamKey k = rng::make_key(s.task.seed, Purpose::paths, std::uint32_t(h),
                                             std::uint32_t(l), paths_keys::kRandomHead);
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
          double scale;
          if (!markov)
            scale = 1.0 / n;
          else if (i < n0 && j < n0)
            scale = 1.0 / n0;
          else if (i >= n0 && j >= n0)
            scale = 1.0;
          else
            scale = 1.0 / std::sqrt(double(n0));
          at(i, j) = hs.perturbation * scale *
                     rng::gaussian_d(k, std::uint64_t(i) * std::uint64_t(n) + std::uint64_t(j));
        }
      break;
    }
    case HeadKind::file:
      w = read_matrix_file(hs.file, n, n, "heads.layers", "N_in", "N_in");
      break;
  }
  for (double& v : w) v *= hs.beta;
  return w;
}

}  // namespace

std::vector<std::vector<HeadSpec>> markov_task_heads() {
  HeadSpec same_token, uniform, random;
  same_token.kind = HeadKind::same_token;
  uniform.kind = HeadKind::uniform;
  random.kind = HeadKind::random;
  return {{same_token, random}, {uniform, random}};
}

PathsTask make_paths_task(const PathsSpec& unresolved) {
  const PathsSpec s = resolve_paths(unresolved);
  PathsTask task;
  if (s.task.kind == PathsTaskKind::markov) {
    const MarkovTaskSpec& m = s.task.markov;
    task.n_in = m.features + (m.positions ? m.tokens + 1 : 0);
    task.columns = m.tokens + 1;
    task.train = m.train;
    task.test = m.test;
    const std::size_t M = std::size_t(task.sequences());
    task.x.assign(M * task.n_in * task.columns, 0.0);
    task.y.assign(M, 0.0);
    task.states.assign(M * std::size_t(m.tokens), 0);
    markov_split(s, m.train, 0, paths_keys::kTrainStates, paths_keys::kTrainNoise, task);
    markov_split(s, m.test, m.train, paths_keys::kTestStates, paths_keys::kTestNoise, task);
  } else {
    int n_in = 0, columns = 0;
    load_file_split(s.task.train_file, s.task.train_labels, "task.train_file", "task.train_labels",
                    task.x, task.y, task.train, n_in, columns);
    if (!s.task.test_file.empty())
      load_file_split(s.task.test_file, s.task.test_labels, "task.test_file", "task.test_labels",
                      task.x, task.y, task.test, n_in, columns);
    task.n_in = n_in;
    task.columns = columns;
  }
  task.w.resize(std::size_t(s.layers()));
  for (int l = 0; l < s.layers(); ++l)
    for (int h = 0; h < s.heads_in(l); ++h)
      task.w[std::size_t(l)].push_back(head_weights(s, task, l, h));
  return task;
}

}  // namespace attnmc
