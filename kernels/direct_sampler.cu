// Direct sampler: every network of a chunk draws its n x n weights afresh at
// every layer (keyed Philox), multiplies them in, and applies the fused
// attention-row and fused residual + RMS-normalisation kernels. One source,
// two backends: compiled by nvcc (namespace attnmc::cuda) and by the host
// compiler for Thrust's OpenMP device system (namespace attnmc::omp). The
// layer sequence (direct_networks) is written once; on CUDA each kernel is
// launched over the chunk and the weights are generated in place and
// multiplied with batched GEMMs; on the CPU one thread runs a whole network
// at a time and, for up to 16 tokens, multiplies each weight row segment in
// as it is drawn (KeyedWeightProduct).
//
// Layout per network (row-major): X, Xin, acc, XV are m x n; Q, K are
// m x n_k; A is m x m; W_Q, W_K are n x n_k; W_V (reused for the MLP's
// W_pre and W_post) is n x n. The CPU reference of each step is in
// reference/reference_model.cpp.
#include <cstdint>

#include "attnmc/rng.hpp"
#include "kernels/attention_math.hpp"
#include "kernels/batched_gemm.hpp"
#include "kernels/chunk_job.hpp"
#include "kernels/gaussian_lanes.hpp"
#include "kernels/launch.hpp"

namespace attnmc::ATTNMC_BACKEND_NS {
namespace {

using kernels::ExecContext;
using kernels::ModelCoefficients;
using kernels::launch::for_each_index;
using kernels::launch::for_each_row;
using kernels::launch::Index;

// One rows x cols standard-normal matrix per network, element e of network c
// keyed by (seed, weights, member first + c, layer, slot, e). One call
// handles a group of kFillBlocks Philox blocks of one matrix: on the CPU 16
// blocks computed across SIMD lanes (kernels/gaussian_lanes.hpp), on CUDA one
// block per thread. Every element is a function of its own key, so the bits
// do not depend on the grouping.
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
constexpr int kFillBlocks = 1;
#else
constexpr int kFillBlocks = kernels::kGaussLanes;
#endif

struct FillGaussian {
  float* out;
  Index size;  // rows * cols
  Index groups_per_matrix;
  std::uint64_t seed;
  std::uint64_t first_member;
  std::uint32_t layer;
  std::uint32_t slot;
  ATTNMC_HD void operator()(Index k) const {
    const Index c = k / groups_per_matrix;
    const Index e = (k % groups_per_matrix) * (4 * kFillBlocks);
    const rng::StreamKey key =
        rng::make_key(seed, rng::Purpose::weights, std::uint32_t(first_member + c), layer, slot);
    float* o = out + c * size + e;
    if (e + 4 * kFillBlocks <= size) {
      kernels::gaussian_run_f<kFillBlocks>(key, std::uint32_t(e / 4), o);
      return;
    }
    float z[4 * kFillBlocks];  // the matrix's last, partial group
    kernels::gaussian_run_f<kFillBlocks>(key, std::uint32_t(e / 4), z);
    for (Index q = 0; e + q < size; ++q) o[q] = z[q];
  }
};

// On the CPU, for up to kFusedTokens tokens, a weight matrix is never
// stored: out_c = alpha Xin_c W_c is accumulated while W_c is generated, a
// row segment at a time, so each normal is used once from L1 (storing W and
// letting OpenBLAS pack it cost as much as drawing it). One item per
// (network, segment of kSegment output columns); every output entry sums its
// rows in the order k = 0, 1, ..., so the bits depend neither on the
// segmenting nor on the threads. More tokens: the store-and-GEMM path.
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
constexpr int kFusedTokens = 0;
#else
constexpr int kFusedTokens = 16;

// With m = 0 it draws the same normals and multiplies nothing: the RNG
// roofline of the fused path (direct_weights_only).
struct KeyedWeightProduct {
  static constexpr int kSegment = 256;  // columns per item (a multiple of 4 kFillBlocks)
  static constexpr int kRun = 4 * kFillBlocks;
  const float* xin;  // count x m x rows
  float* out;        // count x m x cols
  Index rows, cols, segments;
  int m;
  float alpha;
  std::uint64_t seed;
  std::uint64_t first_member;
  std::uint32_t layer;
  std::uint32_t slot;
  void operator()(Index item) const {
    const Index c = item / segments;
    const Index j0 = (item % segments) * kSegment;
    const int width = int(cols - j0 < kSegment ? cols - j0 : kSegment);
    const rng::StreamKey key =
        rng::make_key(seed, rng::Purpose::weights, std::uint32_t(first_member + c), layer, slot);
    const float* xc = xin + c * m * rows;
    float acc[kFusedTokens][kSegment];  // the m rows in use are zeroed: not all 16 KB
    for (int a = 0; a < m; ++a)
      for (int t = 0; t < width; ++t) acc[a][t] = 0.0f;
    // The segment's elements start at offset e0 % 4 of their first block and
    // span at most kSegment + 3 elements: whole runs of kRun cover them.
    alignas(64) float z[kSegment + kRun];
    for (Index k = 0; k < rows; ++k) {
      const Index e0 = k * cols + j0;
      const std::uint32_t b0 = std::uint32_t(e0 / 4);
      const int off = int(e0 % 4);
      for (int r = 0; r * kRun < off + width; ++r)
        kernels::gaussian_run_f<kFillBlocks>(key, b0 + std::uint32_t(r * kFillBlocks),
                                             z + r * kRun);
      for (int a = 0; a < m; ++a) {
        const float xa = xc[a * rows + k];
        float* acc_a = acc[a];
        const float* zk = z + off;
        for (int t = 0; t < width; ++t) acc_a[t] += xa * zk[t];
      }
    }
    float* oc = out + c * m * cols + j0;
    for (int a = 0; a < m; ++a)
      for (int t = 0; t < width; ++t) oc[a * cols + t] = alpha * acc[a][t];
  }
};
#endif

constexpr bool fused_product(const ModelCoefficients& p) { return p.m <= kFusedTokens; }

// Fused attention row of one (network, query token): logits from Q and K,
// scaled, stable softmax, shaped centring (+ I - 1/m) in one pass.
struct AttentionRows {
  const float* q;  // count x m x nk
  const float* k;
  float* attn;  // count x m x m
  int m, nk;
  double scale;
  bool shaped;
  ATTNMC_HD void operator()(Index idx) const {
    const Index c = idx / m;
    const int a = int(idx % m);
    const float* qa = q + (c * m + a) * nk;
    const float* kc = k + c * m * nk;
    double y[kernels::kMaxTokens], out[kernels::kMaxTokens];
    for (int b = 0; b < m; ++b) {
      double s = 0.0;
      for (int i = 0; i < nk; ++i) s += double(qa[i]) * double(kc[b * nk + i]);
      y[b] = s;
    }
    kernels::attention_row<double>(y, m, scale, shaped, a, out);
    for (int b = 0; b < m; ++b) attn[(c * m + a) * m + b] = float(out[b]);
  }
};

// acc (+)= A_h (Xin W_V^h) for one (network, token, column).
struct AccumulateHead {
  const float* attn;  // count x m x m
  const float* xv;    // count x m x n
  float* acc;         // count x m x n
  int m, n;
  bool first_head;
  ATTNMC_HD void operator()(Index idx) const {
    const Index j = idx % n;
    const Index row = idx / n;  // c * m + a
    const Index c = row / m;
    const float* arow = attn + row * m;
    const float* xvc = xv + c * m * n;
    float s = 0.0f;
    for (int b = 0; b < m; ++b) s += arow[b] * xvc[b * n + j];
    acc[idx] = first_head ? s : acc[idx] + s;
  }
};

// Fused residual + normalisation of one (network, token) row, the lanes
// of the row sharing its columns (kernels/launch.hpp, for_each_row):
//   X <- lambda X + scale * branch          (branch may be null: X unchanged)
//   Xin <- X / rms(X)                        (when xin is not null), or with
//   layer: Xin <- (X - mean X) / sqrt(var X + eps) (LayerNorm, gain 1, bias 0)
// Each lane reads back only the columns it wrote, so no barrier is needed.
struct ResidualNorm {
  float* x;
  const float* branch;
  float* xin;
  int n;
  float lambda, scale;
  bool layer = false;
  double eps = 0.0;
  ATTNMC_HD void operator()(Index row, int lane) const {
    using kernels::launch::kRowLanes;
    float* xr = x + row * n;
    if (branch != nullptr) {
      const float* br = branch + row * n;
      for (int j = lane; j < n; j += kRowLanes) xr[j] = lambda * xr[j] + scale * br[j];
    }
    if (xin == nullptr) return;
    float* out = xin + row * n;
    if (layer) {
      // Two passes (mean, then the centred variance), each summed in lane order.
      double s = 0.0;
      for (int j = lane; j < n; j += kRowLanes) s += double(xr[j]);
      const double mean = kernels::launch::row_sum(s) / double(n);
      double v = 0.0;
      for (int j = lane; j < n; j += kRowLanes)
        v += (double(xr[j]) - mean) * (double(xr[j]) - mean);
      const double inv = 1.0 / sqrt(kernels::launch::row_sum(v) / double(n) + eps);
      for (int j = lane; j < n; j += kRowLanes) out[j] = float((double(xr[j]) - mean) * inv);
      return;
    }
    double s = 0.0;
    for (int j = lane; j < n; j += kRowLanes) s += double(xr[j]) * double(xr[j]);
    s = kernels::launch::row_sum(s);
    // = kernels::inverse_rms(xr, n) (summed in lane order).
    const float inv = float(s > 0.0 ? 1.0 / sqrt(s / double(n)) : 0.0);
    for (int j = lane; j < n; j += kRowLanes) out[j] = xr[j] * inv;
  }
};

struct ShapedReluInPlace {
  float* h;
  float s_plus, s_minus;
  ATTNMC_HD void operator()(Index i) const { h[i] = kernels::shaped_relu(h[i], s_plus, s_minus); }
};

// V_ab = X_a . X_b / n of one (network, a, b), accumulated in double by
// the lanes of the entry (kernels/launch.hpp, for_each_row).
struct GramEntries {
  const float* x;
  float* grams;  // count x records x m x m
  int m, n, records, record;
  ATTNMC_HD void operator()(Index idx, int lane) const {
    const Index c = idx / (m * m);
    const int a = int(idx % (m * m)) / m, b = int(idx % m);
    const float* xa = x + (c * m + a) * n;
    const float* xb = x + (c * m + b) * n;
    double s = 0.0;
    for (int i = lane; i < n; i += kernels::launch::kRowLanes) s += double(xa[i]) * double(xb[i]);
    s = kernels::launch::row_sum(s);
    if (lane == 0) grams[((c * records + record) * m + a) * m + b] = float(s / double(n));
  }
};

// Broadcast the m x n input tokens (double) to every network of the chunk,
// rounded to float.
struct BroadcastInput {
  const double* x0;
  float* x;
  Index per_network;
  ATTNMC_HD void operator()(Index i) const { x[i] = float(x0[i % per_network]); }
};

// How the layer sequence (direct_networks) is launched. ChunkLaunch: every
// kernel over the whole chunk (CUDA; and the CPU's weights-only roofline).
// NetworkLaunch (CPU): one network c, each kernel's indices of that network
// run in order on the calling thread, inside one parallel region per chunk
// over the networks: the same functors on the same indices, so the same
// bits, with one barrier per chunk instead of about ten per layer (each a
// wait on a loaded machine) and a network's buffers kept in cache.
// each(k, f): f(i) for i over the k indices of each network (i = c k + j);
// rows(k, f): the row kernels likewise; gemm: the stored-weights product.
struct ChunkLaunch {
  const ExecContext& cx;
  Index count;  // networks of the chunk
  template <typename F>
  void each(Index per_network, F f) const {
    for_each_index(cx, count * per_network, f);
  }
  template <typename F>
  void rows(Index per_network, F f) const {
    for_each_row(cx, count * per_network, f);
  }
  void gemm(int M, int N, int K, float alpha, const float* a, Index sa, const float* b, Index sb,
            float* c, Index sc) const {
    kernels::batched_gemm(cx, M, N, K, alpha, a, sa, b, sb, c, sc, count);
  }
};

#if THRUST_DEVICE_SYSTEM != THRUST_DEVICE_SYSTEM_CUDA
struct NetworkLaunch {
  const ExecContext& cx;
  Index c;  // the network
  template <typename F>
  void each(Index per_network, F f) const {
    for (Index i = c * per_network; i < (c + 1) * per_network; ++i) f(i);
  }
  template <typename F>
  void rows(Index per_network, F f) const {
    for (Index i = c * per_network; i < (c + 1) * per_network; ++i) f(i, 0);
  }
  void gemm(int M, int N, int K, float alpha, const float* a, Index sa, const float* b, Index sb,
            float* out, Index sc) const {
    kernels::batched_gemm(cx, M, N, K, alpha, a + c * sa, sa, b + c * sb, sb, out + c * sc, sc, 1);
  }
};
#endif

template <typename Launch>
void fill_gaussian(const Launch& launch, float* buf, Index rows, Index cols,
                   const kernels::ChunkJob& job, int layer, std::uint32_t slot) {
  const Index size = rows * cols, groups = (size + 4 * kFillBlocks - 1) / (4 * kFillBlocks);
  launch.each(groups, FillGaussian{buf, size, groups, job.seed, job.first_member,
                                   std::uint32_t(layer), slot});
}

// out_c = alpha Xin_c W_c for every network c of the chunk, W_c the keyed
// standard-normal rows x cols matrix of (layer, slot): fused on the CPU for
// few tokens, else stored in w and multiplied with a batched GEMM.
template <typename Launch>
void keyed_weight_product(const Launch& launch, const kernels::ChunkJob& job, int layer,
                          std::uint32_t slot, Index rows, Index cols, float alpha, const float* xin,
                          float* w, float* out) {
  const Index m = job.model.m;
#if THRUST_DEVICE_SYSTEM != THRUST_DEVICE_SYSTEM_CUDA
  if (fused_product(job.model)) {
    const Index segments = (cols + KeyedWeightProduct::kSegment - 1) / KeyedWeightProduct::kSegment;
    launch.each(segments,
                KeyedWeightProduct{xin, out, rows, cols, segments, int(m), alpha, job.seed,
                                   job.first_member, std::uint32_t(layer), slot});
    return;
  }
#endif
  fill_gaussian(launch, w, rows, cols, job, layer, slot);
  launch.gemm(int(m), int(cols), int(rows), alpha, xin, m * rows, w, rows * cols, out, m * cols);
}

// The chunk's buffers (layout at the top of the file).
struct DirectBuffers {
  float *x, *acc, *xv, *xin, *q, *k, *attn, *wq, *wk, *w, *out;
};

// The model, layer by layer, for the networks `launch` covers.
template <typename Launch>
void direct_networks(const Launch& launch, const kernels::ChunkJob& job, const double* x0,
                     const DirectBuffers& b) {
  const ModelCoefficients& p = job.model;
  const Index m = p.m, n = p.n, nk = p.head_dim, mn = m * n;
  float *x = b.x, *acc = b.acc, *xv = b.xv, *xin = b.xin, *q = b.q, *k = b.k, *attn = b.attn;
  launch.each(mn, BroadcastInput{x0, x, mn});
  if (p.pre_norm)
    launch.rows(m, ResidualNorm{x, nullptr, xin, int(n), 1.0f, 0.0f, p.layer_norm, p.norm_eps});

  int record = 0;
  auto record_if_due = [&](int layer) {
    if (record < job.records && job.record_layers[record] == layer) {
      launch.rows(m * m, GramEntries{x, b.out, int(m), int(n), job.records, record});
      ++record;
    }
  };
  record_if_due(0);

  for (int layer = 1; layer <= p.depth; ++layer) {
    for (int h = 0; h < p.heads; ++h) {
      keyed_weight_product(launch, job, layer, rng::slot_of(h, rng::Matrix::query), n, nk, 1.0f,
                           xin, b.wq, q);
      keyed_weight_product(launch, job, layer, rng::slot_of(h, rng::Matrix::key), n, nk, 1.0f, xin,
                           b.wk, k);
      keyed_weight_product(launch, job, layer, rng::slot_of(h, rng::Matrix::value), n, n, 1.0f, xin,
                           b.w, xv);
      launch.each(m, AttentionRows{q, k, attn, int(m), int(nk), p.logit_scale, p.shaped});
      launch.each(mn, AccumulateHead{attn, xv, acc, int(m), int(n), h == 0});
    }
    // The next layer's pre-normalised input is fused into the last residual.
    // Post-norm: the same fused kernel normalises x in place (xin = x).
    float* next_xin = (p.pre_norm && !p.mlp) ? xin : p.post_norm ? x : nullptr;
    launch.rows(m, ResidualNorm{x, acc, next_xin, int(n), float(p.lambda), float(p.attn_scale),
                                p.layer_norm, p.norm_eps});
    if (p.mlp) {
      keyed_weight_product(launch, job, layer, rng::slot_of(0, rng::Matrix::mlp_pre), n, n,
                           float(p.mlp_in_scale), x, b.w, xv);
      launch.each(mn, ShapedReluInPlace{xv, float(p.s_plus), float(p.s_minus)});
      keyed_weight_product(launch, job, layer, rng::slot_of(0, rng::Matrix::mlp_post), n, n, 1.0f,
                           xv, b.w, acc);
      float* normalised = p.pre_norm ? xin : (p.post_norm ? x : nullptr);
      launch.rows(m, ResidualNorm{x, acc, normalised, int(n), float(p.lambda),
                                  float(p.mlp_out_scale), p.layer_norm, p.norm_eps});
    }
    record_if_due(layer);
  }
}

}  // namespace

std::size_t direct_bytes_per_network(const ModelCoefficients& p, int records) {
  const std::size_t n = p.n, m = p.m, nk = p.head_dim;
  const std::size_t weights = fused_product(p) ? 0 : 2 * n * nk + n * n;
  const std::size_t floats =
      m * n * (p.pre_norm ? 4 : 3) + 2 * m * nk + m * m + weights + m * m * std::size_t(records);
  return floats * sizeof(float);
}

std::size_t direct_fixed_bytes(const ModelCoefficients& p, int) {
  return std::size_t(p.m) * std::size_t(p.n) * sizeof(double);  // the input tokens
}

void direct_weights_only(const ExecContext& cx, const kernels::ChunkJob& job) {
  const kernels::launch::Scope scope(cx);
  const ModelCoefficients& p = job.model;
  const Index count = Index(job.count), n = p.n, nk = p.head_dim;
  const bool fused = fused_product(p);
  auto buffers = cx.arena->frame();
  float* wq = buffers.take<float>(fused ? 0 : count * n * nk);
  float* wk = buffers.take<float>(fused ? 0 : count * n * nk);
  float* w = buffers.take<float>(fused ? 0 : count * n * n);
  // The draws of keyed_weight_product without its products.
  const ChunkLaunch launch{cx, count};
  auto draw = [&](float* buf, Index rows, Index cols, int layer, std::uint32_t slot) {
#if THRUST_DEVICE_SYSTEM != THRUST_DEVICE_SYSTEM_CUDA
    if (fused) {
      const Index segments =
          (cols + KeyedWeightProduct::kSegment - 1) / KeyedWeightProduct::kSegment;
      for_each_index(cx, count * segments,
                     KeyedWeightProduct{nullptr, nullptr, rows, cols, segments, 0, 1.0f, job.seed,
                                        job.first_member, std::uint32_t(layer), slot});
      return;
    }
#endif
    fill_gaussian(launch, buf, rows, cols, job, layer, slot);
  };
  for (int layer = 1; layer <= p.depth; ++layer) {
    for (int h = 0; h < p.heads; ++h) {
      draw(wq, n, nk, layer, rng::slot_of(h, rng::Matrix::query));
      draw(wk, n, nk, layer, rng::slot_of(h, rng::Matrix::key));
      draw(w, n, n, layer, rng::slot_of(h, rng::Matrix::value));
    }
    if (p.mlp) {
      draw(w, n, n, layer, rng::slot_of(0, rng::Matrix::mlp_pre));
      draw(w, n, n, layer, rng::slot_of(0, rng::Matrix::mlp_post));
    }
  }
  kernels::launch::synchronize(cx);
}

void direct_chunk(const ExecContext& cx, const kernels::ChunkJob& job,
                  const kernels::GramChunkOutput& output) {
  const kernels::launch::Scope scope(cx);
  const kernels::SingleThreadedBlas blas_scope;
  const ModelCoefficients& p = job.model;
  const Index count = Index(job.count), m = p.m, n = p.n, nk = p.head_dim;
  const Index mn = m * n;

  // Buffers from the arena, in a fixed order (kept across chunks, never
  // zero-filled: every one is written before it is read).
  auto buffers = cx.arena->frame();
  double* x0 = buffers.take<double>(mn);
  float* x = buffers.take<float>(count * mn);
  float* acc = buffers.take<float>(count * mn);
  float* xv = buffers.take<float>(count * mn);
  float* xin_buf = buffers.take<float>(p.pre_norm ? count * mn : 0);
  float* q = buffers.take<float>(count * m * nk);
  float* k = buffers.take<float>(count * m * nk);
  float* attn = buffers.take<float>(count * m * m);
  const Index stored = fused_product(p) ? 0 : count;  // networks whose weights are stored
  float* wq = buffers.take<float>(stored * n * nk);
  float* wk = buffers.take<float>(stored * n * nk);
  float* w = buffers.take<float>(stored * n * n);
  float* out = buffers.take<float>(count * job.records * m * m);

  kernels::launch::copy_to_device(cx, x0, job.x0, std::size_t(mn));
  const DirectBuffers b{x, acc, xv, p.pre_norm ? xin_buf : x, q, k, attn, wq, wk, w, out};
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  direct_networks(ChunkLaunch{cx, count}, job, x0, b);
#else
#pragma omp parallel for schedule(dynamic, 1)
  for (Index c = 0; c < count; ++c) direct_networks(NetworkLaunch{cx, c}, job, x0, b);
#endif
  deliver_grams(cx, buffers, output, out, nullptr, nullptr, job.count, int(p.m), job.records);
}

}  // namespace attnmc::ATTNMC_BACKEND_NS
