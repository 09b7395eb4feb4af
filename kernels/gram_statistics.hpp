// Per-chunk reduction of the recorded Gram matrices into the statistics'
// integer state (attnmc/statistics.hpp), run where the samples are produced:
// one source (kernels/gram_statistics.cu) for CUDA and for the CPU's OpenMP
// device system. A chunk hands the host a small aggregate instead of every
// member's matrices:
//  - counts: sorted (key, count) pairs, key = (record, slot, bucket), for
//    the V sketch buckets, rho sketch buckets, rho histogram bins and the
//    member status of every record (sort + reduce_by_key);
//  - per (record, kind, entry) segment: the moments' exact fixed-point sums
//    (kernels/exact_sum_math.hpp) and the sketched range (min, max).
// Integer addition is associative, so the aggregate, and the statistics the
// host adds it into (EnsembleStatistics::add_aggregate), are the same bits
// as the host reference (EnsembleStatistics::add_members) for any chunking,
// thread count or reduction order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "attnmc/hd.hpp"
#include "kernels/exact_sum_math.hpp"
#include "kernels/exec_context.hpp"
#include "kernels/sketch_buckets.hpp"

namespace attnmc::kernels {

// What each (member, record) is to the statistics.
enum class MemberStatus : unsigned char {
  ok = 0,         // in sketches, moments and histograms
  overflow = 1,   // finite, some |V_ab| > threshold: sketches only
  nonfinite = 2,  // a NaN/inf entry or V_aa <= 0: counted, nothing else
  blown = 3,      // SDE path blown up by this record: +inf in the sketches
};

struct GramStatisticsJob {
  int m = 0, records = 0;
  double overflow_threshold = 0.0;
  int histogram_bins = 0;
  GridBuckets rho;           // rho sketches (pairs a < b)
  LogBuckets v;              // V sketches (entries a <= b)
  bool keep_status = false;  // hand back every member's status (stored samples need it)
};

// Moments and range of one (record, kind, entry) over a chunk's members.
// kind 0: V_ab; kind 1: rho_ab. Limbs are raw (ExactSum::merge_limbs).
struct SegmentSums {
  std::int64_t count = 0;  // members added to the moments (status ok)
  std::int64_t sum[kExactLimbs] = {};
  std::int64_t sum_sq[kExactLimbs] = {};
  std::int32_t sum_overflow = 0, sum_sq_overflow = 0;
  double min = INFINITY, max = -INFINITY;  // over sketched members (ok, overflow, blown = +inf)
};

struct GramAggregate {
  std::vector<std::uint64_t> keys;    // ascending
  std::vector<std::int64_t> counts;   // of each key
  std::vector<SegmentSums> segments;  // records x 2 x m x m
  std::vector<unsigned char> status;  // count x records (MemberStatus), only with keep_status
};

// What a chunk function delivers of its recorded Gram matrices: a host copy
// (simulate_*, stored samples), the device reduction, or both.
struct GramChunkOutput {
  float* grams = nullptr;                         // host, count x records x m x m, or null
  const GramStatisticsJob* statistics = nullptr;  // reduce into *aggregate, or null
  GramAggregate* aggregate = nullptr;
};

// The output of a chunk whose host buffers are `grams` (used when
// host_grams) and `aggregate` (used when reduction is not null).
inline GramChunkOutput gram_output(bool host_grams, float* grams,
                                   const GramStatisticsJob* reduction, GramAggregate& aggregate) {
  return {host_grams ? grams : nullptr, reduction, reduction != nullptr ? &aggregate : nullptr};
}

// Slots of one record's keys: V sketches (upper entries), rho sketches
// (pairs), rho histogram bins (pairs), the member status.
struct GramSlots {
  int upper = 0, pairs = 0;
  ATTNMC_HD explicit GramSlots(int m) : upper(m * (m + 1) / 2), pairs(m * (m - 1) / 2) {}
  ATTNMC_HD int per_record() const { return upper + 2 * pairs + 1; }
  ATTNMC_HD int rho_sketch(int p) const { return upper + p; }
  ATTNMC_HD int histogram(int p) const { return upper + pairs + p; }
  ATTNMC_HD int status() const { return upper + 2 * pairs; }
};
constexpr std::uint64_t kNoKey = ~std::uint64_t(0);  // a skipped increment (sorts last)
ATTNMC_HD inline std::uint64_t gram_key(std::uint64_t record_slot, std::uint32_t bucket) {
  return (record_slot << 32) | bucket;
}

// rho_ab = V_ab / sqrt(V_aa V_bb) in double, clipped to [-1, 1] (the one
// definition: attnmc::correlation calls it).
ATTNMC_HD inline double gram_correlation(const float* g, int m, int a, int b) {
  const double r = double(g[a * m + b]) / sqrt(double(g[a * m + a]) * double(g[b * m + b]));
  return r < -1.0 ? -1.0 : r > 1.0 ? 1.0 : r;
}

ATTNMC_HD inline MemberStatus gram_status(const float* g, int m, double threshold, bool blown) {
  if (blown) return MemberStatus::blown;
  bool overflow = false;
  for (int e = 0; e < m * m; ++e) {
    const double x = double(g[e]);
    if (!(fabs(x) < INFINITY)) return MemberStatus::nonfinite;  // also NaN
    if (fabs(x) > threshold) overflow = true;
  }
  for (int a = 0; a < m; ++a)
    if (!(g[a * m + a] > 0)) return MemberStatus::nonfinite;  // rho undefined
  return overflow ? MemberStatus::overflow : MemberStatus::ok;
}

}  // namespace attnmc::kernels

// The reduction of one backend namespace. grams: device, count x records x
// m x m; blowup_step (device, per member, < 0 when none) and record_steps
// (device, per record) mark SDE blow-ups, both null otherwise. Buffers come
// from `frame` (after the caller's own). *_bytes_per_member and
// *_fixed_bytes are its memory rule.
#define ATTNMC_DECLARE_GRAM_STATISTICS_BACKEND(NS)                                                 \
  namespace attnmc::NS {                                                                           \
  void reduce_grams(const attnmc::kernels::ExecContext& cx, attnmc::kernels::Arena::Frame& frame,  \
                    const attnmc::kernels::GramStatisticsJob& job, const float* grams,             \
                    const std::int64_t* blowup_step, const std::int64_t* record_steps,             \
                    std::uint64_t count, attnmc::kernels::GramAggregate& out);                     \
  /* The chunk's device grams (count x records x m x m) as `output` asks. */                       \
  void deliver_grams(const attnmc::kernels::ExecContext& cx, attnmc::kernels::Arena::Frame& frame, \
                     const attnmc::kernels::GramChunkOutput& output, const float* grams,           \
                     const std::int64_t* blowup_step, const std::int64_t* record_steps,            \
                     std::uint64_t count, int m, int records);                                     \
  std::size_t gram_statistics_bytes_per_member(int m, int records);                                \
  std::size_t gram_statistics_fixed_bytes(int m, int records);                                     \
  }

ATTNMC_DECLARE_GRAM_STATISTICS_BACKEND(omp)
ATTNMC_DECLARE_GRAM_STATISTICS_BACKEND(cuda)
