// Oversmoothing-family sampler (direct: every network draws its own
// weights): one network per functor call (Thrust for_each over a counting
// iterator), each with its own slice of a float and a double workspace. The
// per-layer math is in kernels/oversmoothing/oversmoothing_math.hpp. One
// source, two backends: compiled by nvcc (namespace attnmc::cuda) and by the
// host compiler for Thrust's OpenMP device system (namespace attnmc::omp).
//
// A network is sequential in its layers, so the parallelism is across
// networks; randomness is keyed by (seed, oversmoothing, member, layer,
// slot), so a network does not depend on which thread or chunk ran it.
#include <cstdint>

#include "kernels/launch.hpp"
#include "kernels/oversmoothing/oversmoothing_job.hpp"
#include "kernels/oversmoothing/oversmoothing_math.hpp"

namespace attnmc::ATTNMC_BACKEND_NS {
namespace {

using kernels::OsCoefficients;
using kernels::OsInputs;
using kernels::launch::for_each_index;
using kernels::launch::Index;

struct RunNetwork {
  OsCoefficients c;
  OsInputs in;  // device arrays
  std::uint64_t seed;
  std::uint64_t first_member;
  const std::int64_t* record_layers;
  int records;
  float* fwork;
  double* dwork;
  std::size_t per_float, per_double;
  float* grams;  // count x records x m x m, or null
  double* metrics;
  double* log_norm;
  float* final_tokens;  // or null

  // H of a key layer into w.hf (float); false when U is singular.
  ATTNMC_HD bool make_h(const kernels::OsWork& w, std::uint32_t member,
                        std::uint32_t layer_key) const {
    if (!kernels::os_build_h(c, in, seed, member, layer_key, w.hs, w.hd)) return false;
    for (int e = 0; e < c.n * c.n; ++e) w.hf[e] = float(w.hd[e]);
    return true;
  }

  ATTNMC_HD void record(const kernels::OsWork& w, Index t, int r, double growth) const {
    const int m = c.m;
    float* v = grams != nullptr ? grams + (std::size_t(t) * records + r) * m * m : nullptr;
    kernels::os_metrics(c, w, growth,
                        metrics + (std::size_t(t) * records + r) * kernels::kOsMetrics, v);
  }

  ATTNMC_HD void operator()(Index t) const {
    const kernels::OsWork w = kernels::os_work(fwork + t * per_float, dwork + t * per_double, c);
    const std::uint32_t member = std::uint32_t(first_member + std::uint64_t(t));
    const int m = c.m, n = c.n;
    // X_0
    if (c.random_input) {
      const rng::StreamKey k = kernels::os_key(seed, member, 0, kernels::kOsSlotInput);
      const std::size_t count = std::size_t(m) * n;
      for (std::size_t b = 0; 4 * b < count; ++b) {
        const rng::Gauss4f g = rng::gaussian4f(rng::philox_block(k, std::uint32_t(b)));
        for (std::size_t q = 0; q < 4 && 4 * b + q < count; ++q) w.x[4 * b + q] = g.z[q];
      }
    } else {
      for (int e = 0; e < m * n; ++e) w.x[e] = float(in.x0[e]);
    }
    bool ok = true;
    if (c.attention != kernels::kOsSoftmax) {
      kernels::os_fixed_a(c, in, seed, member, w.hd);  // hd as scratch before H exists
      for (int e = 0; e < m * m; ++e) w.a[e] = float(w.hd[e]);
    }
    if (!c.fresh_h) ok = make_h(w, member, 0);
    double log_norm_x = log(kernels::os_frobenius(w.x, m, n));
    if (c.rescale) {
      const double f0 = kernels::os_frobenius(w.x, m, n);
      const float f = float(sqrt(double(m) * n) / f0);
      for (int e = 0; e < m * n; ++e) w.x[e] *= f;
    }
    int r = 0;
    if (r < records && record_layers[r] == 0) record(w, t, r++, 1.0);
    for (int l = 0; l < c.depth; ++l) {
      if (c.fresh_h && ok) ok = make_h(w, member, kernels::os_layer_key(true, l));
      if (c.attention == kernels::kOsSoftmax && (c.fresh_qk || l == 0)) {
        const std::uint32_t lk = kernels::os_layer_key(c.fresh_qk, l);
        kernels::os_draw_projection(c, seed, member, lk, kernels::kOsSlotQuery, w.wq);
        kernels::os_draw_projection(c, seed, member, lk, kernels::kOsSlotKey, w.wk);
      }
      if (!ok)
        for (int e = 0; e < m * n; ++e) w.x[e] = NAN;  // singular U: counted as non-finite
      const double growth = kernels::os_layer(c, w, in.gain);
      log_norm_x += log(growth);
      if (r < records && record_layers[r] == l + 1) record(w, t, r++, growth);
    }
    log_norm[t] = log_norm_x;
    if (final_tokens != nullptr)
      for (int e = 0; e < m * n; ++e) final_tokens[std::size_t(t) * m * n + e] = w.x[e];
  }
};

}  // namespace

std::size_t oversmoothing_bytes_per_network(const OsCoefficients& c) {
  return kernels::os_work_floats(c) * sizeof(float) + kernels::os_work_doubles(c) * sizeof(double) +
         std::size_t(c.m) * c.n * sizeof(float) + sizeof(double);
}

void oversmoothing_chunk(const kernels::ExecContext& cx, const kernels::OsJob& job,
                         const kernels::OsChunkOut& out) {
  const kernels::launch::Scope scope(cx);
  const OsCoefficients& c = job.model;
  const std::size_t count = job.count, m = c.m, n = c.n;
  const std::size_t per_float = kernels::os_work_floats(c);
  const std::size_t per_double = kernels::os_work_doubles(c);
  const std::size_t rec_metrics = count * job.records * kernels::kOsMetrics;
  auto buffers = job.inputs;  // host pointers; replaced by device copies below
  auto frame = cx.arena->frame();
  auto upload = [&](const double* host, std::size_t size) -> const double* {
    if (host == nullptr) {
      (void)frame.take<double>(0);  // keep the frame's block order fixed
      return nullptr;
    }
    double* d = frame.take<double>(size);
    kernels::launch::copy_to_device(cx, d, host, size);
    return d;
  };
  OsInputs in;
  in.lambdas = upload(buffers.lambdas, n);
  in.h = upload(buffers.h, n * n);
  in.u = upload(buffers.u, n * n);
  in.u_inv = upload(buffers.u_inv, n * n);
  in.a = upload(buffers.a, m * m);
  in.x0 = upload(buffers.x0, m * n);
  in.gain = upload(buffers.gain, n);
  std::int64_t* rec = frame.take<std::int64_t>(std::size_t(job.records));
  kernels::launch::copy_to_device(cx, rec, job.record_layers, std::size_t(job.records));
  float* fwork = frame.take<float>(count * per_float);
  double* dwork = frame.take<double>(count * per_double);
  float* grams = frame.take<float>(out.want_grams ? count * job.records * m * m : 0);
  double* metrics = frame.take<double>(rec_metrics);
  double* log_norm = frame.take<double>(count);
  float* final_tokens = frame.take<float>(out.final_tokens != nullptr ? count * m * n : 0);

  RunNetwork f{c,
               in,
               job.seed,
               job.first_member,
               rec,
               job.records,
               fwork,
               dwork,
               per_float,
               per_double,
               out.want_grams ? grams : nullptr,
               metrics,
               log_norm,
               out.final_tokens != nullptr ? final_tokens : nullptr};
  for_each_index(cx, Index(count), f);
  if (out.want_grams)
    deliver_grams(cx, frame, out.gram, grams, nullptr, nullptr, count, c.m, job.records);
  kernels::launch::copy_to_host(cx, out.metrics, metrics, rec_metrics);
  kernels::launch::copy_to_host(cx, out.log_norm, log_norm, count);
  if (out.final_tokens != nullptr)
    kernels::launch::copy_to_host(cx, out.final_tokens, final_tokens, count * m * n);
}

}  // namespace attnmc::ATTNMC_BACKEND_NS
