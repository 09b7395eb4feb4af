// Attention paths in Bayesian multi-head attention (models.md section 4;
// shared/design/attention-paths.md; Tiberi et al., NeurIPS 2024).
//
// The network (the authors' code): input x is N_in x (T+1) (columns are
// tokens, token 0 is BOS). Attention comes from the raw input with fixed
// weights W^{l,h}: Omega^{l,h}[s,t] = softmax over keys s of
// beta x_s^T W^{l,h} x_t (query t, no mask). Values are linear, Gaussian,
// and the only random weights:
//     z^0_t = V^0 x_t / sqrt(N_in),                         V^0: N_1 x N_in
//     z^l_t = sum_h V^{l,h} sum_s z^{l-1}_s Omega^{l,h}[s,t] / sqrt(H_l N_l)
//                                                           V^{l,h}: N_{l+1} x N_l
//     f(x)  = a . z^L_{t*} / sqrt(N_a),  N_a = N_{L+1}
// V^0 ~ N(0, s_0), V^{l,h} ~ N(0, s_l), a ~ N(0, s_a) entrywise (variances).
//
// A path p = (h_1, ..., h_L) picks one head per layer, packed with h_1 most
// significant: p = ((h_1 H_2 + h_2) H_3 + h_3) ... (L = 2: h_1 H_2 + h_2).
// Its mixing vector pi_p = Omega^{1,h_1} ... Omega^{L,h_L} r (a (T+1)-vector
// over tokens, r the readout: e_{t*}, or the uniform average), its feature
// xi^p(x) = x pi_p (an N_in-vector), and the overlaps
//     G[mu,nu,p,q] = xi^p(x_mu) . xi^q(x_nu) / (N_in H_1 ... H_L).
// The prior kernel, exact at every width: K_GP = s_0 s_1 ... s_L s_a sum_p G[.,.,p,p].
//
// Every random number (task, random heads, network weights) is keyed
// (include/attnmc/rng.hpp, purpose `paths`; slots below).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnmc/run_spec.hpp"

namespace attnmc {

// ---------------------------------------------------------------- the task
enum class PathsTaskKind {
  markov,  // the paper's hidden-Markov-chain task (section 4), generated
  file,    // sequences and labels from .npy files
};

// The hidden-Markov-chain task; every parameter of section 4.
struct MarkovTaskSpec {
  int train = 100;          // P training sequences: the first half class a (label +1), then b (-1)
  int test = 1000;          // test sequences, the same split into halves
  int tokens = 30;          // T real tokens (BOS is token 0, so T + 1 columns)
  int features = 200;       // N_0 (even): v_+ = sqrt(2) [1_{N0/2}, 0], v_- = sqrt(2) [0, 1_{N0/2}]
  bool positions = true;    // a one-hot position of dimension T + 1 after the features
  double stay_a = 0.7;      // probability that the hidden state stays, class a
  double stay_b = 0.3;      // class b
  double first_plus = 0.5;  // probability that the first state is +
  // Noise x += n_sum P_s g + n_diff P_d g + n_out (I - P_s - P_d) g, g ~ N(0, I_{N_0}),
  // P_s / P_d the projections on v_+ + v_- / v_+ - v_- (BOS carries no noise).
  double noise_sum = 1.0, noise_diff = 1.0, noise_out = 1.0;
};

struct PathsTaskSpec {
  PathsTaskKind kind = PathsTaskKind::markov;
  std::uint64_t seed = 1;  // the task's and the random heads' key (not the networks')
  MarkovTaskSpec markov;
  // kind == file: sequences P x N_in x (T+1) (float64/float32 .npy), labels P.
  std::string train_file, train_labels, test_file, test_labels;  // test_* optional
};

// ---------------------------------------------------------------- heads
enum class HeadKind {
  same_token,  // section 4 (Markov task only): attends to the previous token when the
               // state stayed, to BOS otherwise
  uniform,     // uniform attention (features 0, positions all ones)
  random,      // every block N(0, 1) x (1/N_0 features, 1 positions, 1/sqrt(N_0) cross)
               // x perturbation (Markov task); N(0, 1)/N_in x perturbation otherwise
  file,        // W (N_in x N_in, key index first) from a .npy or text file
};

struct HeadSpec {
  HeadKind kind = HeadKind::uniform;
  double beta = 10.0;         // softmax inverse temperature (W multiplied by beta)
  double perturbation = 1.0;  // scale of a random head
  double bos_strength = 1.5;  // same-token head: position logit of BOS for queries t >= 1
  std::string file;           // HeadKind::file (resolved path)
};

// The paper's heads for the Markov task: layer 1 (same-token, random),
// layer 2 (uniform, random); every other field at its default.
std::vector<std::vector<HeadSpec>> markov_task_heads();

enum class ReadoutToken { last, first, mean };

// ---------------------------------------------------------------- the spec
struct PathsSpec {
  PathsTaskSpec task;
  // heads[l] = the heads of layer l + 1 (L = heads.size() >= 1, H_l = heads[l].size() >= 1)
  std::vector<std::vector<HeadSpec>> heads;
  // N_1 .. N_L, N_a (L + 1 entries).
  std::vector<int> widths;
  // s_0, s_1 .. s_L, s_a (L + 2 entries).
  std::vector<double> variances;
  double temperature = 0.01;  // likelihood noise variance Temp (> 0)
  ReadoutToken readout = ReadoutToken::last;

  // [ensemble] and [run] (the prior Monte Carlo; every mode reads seed/threads/device)
  std::string mode = "prior";                     // run.mode: prior | theory | posterior | direct
  std::uint64_t members = 10000;                  // networks (prior), chains (direct)
  std::uint64_t seed = 1;                         // networks' key
  std::uint64_t chunk = 0;                        // networks per chunk (0: automatic)
  std::size_t memory_cap = std::size_t(2) << 30;  // bytes the run may use
  int threads = 0;                                // 0: all
  Device device = Device::automatic;
  // Path-pair kernels of the prior Monte Carlo on the first `path_sequences`
  // sequences (train then test; 0: min(all, 64)).
  int path_sequences = 0;
  // Error bars: z beyond this many standard errors counts as a disagreement.
  double z_tolerance = 5.0;

  int layers() const { return int(heads.size()); }
  int heads_in(int l) const { return int(heads[std::size_t(l)].size()); }  // l = 0 .. L-1
  int paths() const;                                                       // prod H_l
};

// ---------------------------------------------------------------- task data
// Sequences and labels, train then test, and the heads' W per layer.
// All arrays double, row-major.
struct PathsTask {
  int n_in = 0;     // N_in
  int columns = 0;  // T + 1
  int train = 0;    // P
  int test = 0;
  // x[mu] is N_in x (T+1) at x.data() + mu * n_in * columns, mu in [0, train + test):
  // train first, then test.
  std::vector<double> x;
  std::vector<double> y;  // labels, train + test (test labels NaN when a file task gives none)
  // Markov task: the hidden states (+1/-1) of every real token, (train + test) x T
  // (empty for file tasks).
  std::vector<int> states;
  // w[l][h] = beta W^{l,h} (N_in x N_in, row = key feature, column = query feature).
  std::vector<std::vector<std::vector<double>>> w;

  int sequences() const { return train + test; }
  const double* sequence(int mu) const { return x.data() + std::size_t(mu) * n_in * columns; }
};

// The Markov-chain task (keyed by spec.task.seed) or the loaded files, and
// the heads. Throws InputError naming the key on bad input.
PathsTask make_paths_task(const PathsSpec& spec);

// Checks the spec (variances, temperature, widths, heads against the task...)
// and fills defaults (widths and variances given as one value are repeated).
// Throws InputError naming the dotted key. make_paths_task calls it.
PathsSpec resolve_paths(PathsSpec spec);

// ---------------------------------------------------------------- overlaps
// Omega^{l,h} of sequence mu: (T+1) x (T+1), [s, t] = key s, query t (double).
std::vector<double> attention_matrix(const PathsTask& task, int layer, int head, int mu);
// pi_p of sequence mu for every path: paths x (T+1).
std::vector<double> path_mixing(const PathsSpec& spec, const PathsTask& task, int mu);
// xi^p(x_mu) for every sequence and path: sequences x paths x N_in.
std::vector<double> path_features(const PathsSpec& spec, const PathsTask& task);

// G[mu,nu,p,q] over all train + test sequences (M = task.sequences(),
// Pp = spec.paths()), double, at index ((mu * M + nu) * Pp + p) * Pp + q.
std::vector<double> path_overlaps(const PathsSpec& spec, const PathsTask& task);
// The same restricted to the first `sequences` sequences (M = sequences).
std::vector<double> path_overlaps(const PathsSpec& spec, const PathsTask& task, int sequences);

// The same from the path features (path_features), over their first `sequences`.
std::vector<double> path_overlaps_from_features(const PathsSpec& spec, int n_in,
                                                const std::vector<double>& xi, int sequences);

// prod of spec.variances (s_0 s_1 ... s_L s_a).
double prior_scale(const PathsSpec& spec);
// K_GP[mu, nu] = prior_scale sum_p G[mu, nu, p, p], M x M (M = G's sequence count).
std::vector<double> gp_kernel(const PathsSpec& spec, const std::vector<double>& G, int sequences);
// The same from the path features (path_features) without forming G, over
// the first `sequences` sequences.
std::vector<double> gp_kernel_from_features(const PathsSpec& spec, int n_in,
                                            const std::vector<double>& xi, int sequences);

// Names (config values, summaries).
const char* head_kind_name(HeadKind k);
const char* readout_name(ReadoutToken r);
// "same_token,random | uniform,random"
std::string heads_description(const PathsSpec& spec);

// Keyed randomness of the family (purpose rng::Purpose::paths): slots.
namespace paths_keys {
inline constexpr std::uint32_t kWeightSlotBase = 0;  // + head (< 1024): layer = 0 (V^0),
                                                     // l (V^{l,h}), L + 1 (a)
inline constexpr std::uint32_t kTrainStates = 1024;  // member = sequence, element = token
inline constexpr std::uint32_t kTrainNoise = 1025;   // member = sequence, element = token * N0 + i
inline constexpr std::uint32_t kTestStates = 1026;
inline constexpr std::uint32_t kTestNoise = 1027;
inline constexpr std::uint32_t kRandomHead = 1028;  // member = head, layer = l
}  // namespace paths_keys

}  // namespace attnmc
