// Per-chunk reduction of Gram matrices into the statistics' integer state
// (kernels/gram_statistics.hpp). One source, two device systems: nvcc
// (attnmc::cuda) and the host compiler with Thrust's OpenMP system
// (attnmc::omp). Three passes and a count:
//  1. per (member, record): its status and one key per slot (sketch
//     bucket, histogram bin or status; kNoKey for nothing);
//  2. per (segment, block of members): exact sums, count and range;
//  3. per segment: the blocks' partial sums added (integers: any order);
//  then (key, count) pairs: on CUDA by sort + reduce_by_key, on the CPU per
//  (record, slot) by a dense count or a sort of its members' buckets
//  (linear where the sort of every key was most of the statistics' time).
#include <thrust/iterator/constant_iterator.h>
#include <thrust/reduce.h>
#include <thrust/sort.h>

#include <algorithm>
#include <string>
#if THRUST_DEVICE_SYSTEM != THRUST_DEVICE_SYSTEM_CUDA
#include <omp.h>
#endif

#include "attnmc/error.hpp"
#include "kernels/gram_statistics.hpp"
#include "kernels/launch.hpp"

namespace attnmc::ATTNMC_BACKEND_NS {
namespace {

using kernels::GramSlots;
using kernels::GramStatisticsJob;
using kernels::MemberStatus;
using kernels::SegmentSums;
using kernels::launch::for_each_index;
using kernels::launch::Index;

// Partial sums per chunk: enough blocks of members to fill the device.
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
constexpr Index kTargetPartials = 1 << 16;
#else
constexpr Index kTargetPartials = 1 << 11;
#endif
constexpr Index kMinBlock = 256;  // members per block at least

Index segments_of(int m, int records) { return Index(records) * 2 * m * m; }

// Pass 1: status and (slot, bucket) pairs of member i = idx / records,
// record r = idx % records, handed to put(slot, bucket); a slot not handed
// over counts nothing (nonfinite members, histograms of non-ok members).
template <typename Put>
ATTNMC_HD void member_slots(const GramStatisticsJob& job, const float* g, MemberStatus st,
                            Put& put) {
  const int m = job.m;
  const GramSlots slots(m);
  put(slots.status(), std::uint32_t(st));
  if (st == MemberStatus::nonfinite) return;
  const double inf = INFINITY;
  for (int a = 0, u = 0, p = 0; a < m; ++a)
    for (int b = a; b < m; ++b, ++u) {
      const double x = st == MemberStatus::blown ? inf : double(g[a * m + b]);
      put(u, job.v.bucket(x));
      if (b == a) continue;
      const double c = st == MemberStatus::blown ? inf : kernels::gram_correlation(g, m, a, b);
      put(slots.rho_sketch(p), job.rho.bucket(c));
      if (st == MemberStatus::ok) {
        const int bins = job.histogram_bins;
        int bin = int((c + 1.0) * 0.5 * bins);
        bin = bin < 0 ? 0 : bin > bins - 1 ? bins - 1 : bin;
        put(slots.histogram(p), std::uint32_t(bin));
      }
      ++p;
    }
}

ATTNMC_HD inline MemberStatus member_status(const GramStatisticsJob& job, const float* g, Index i,
                                            Index r, const std::int64_t* blowup_step,
                                            const std::int64_t* record_steps) {
  const bool blown =
      blowup_step != nullptr && blowup_step[i] >= 0 && record_steps[r] >= blowup_step[i];
  return kernels::gram_status(g, job.m, job.overflow_threshold, blown);
}

// Pass 1 as 64-bit keys (record, slot, bucket), member-major, for the sort.
struct MemberKeys {
  GramStatisticsJob job;
  const float* grams;
  const std::int64_t* blowup_step;   // null: no blow-ups
  const std::int64_t* record_steps;  // with blowup_step
  unsigned char* status;
  std::uint64_t* keys;
  struct Put {
    std::uint64_t base;
    std::uint64_t* k;
    ATTNMC_HD void operator()(int slot, std::uint32_t bucket) const {
      k[slot] = kernels::gram_key(base + std::uint64_t(slot), bucket);
    }
  };
  ATTNMC_HD void operator()(Index idx) const {
    const int R = job.records;
    const Index i = idx / R, r = idx % R;
    const float* g = grams + idx * Index(job.m) * job.m;
    const MemberStatus st = member_status(job, g, i, r, blowup_step, record_steps);
    status[idx] = static_cast<unsigned char>(st);
    const GramSlots slots(job.m);
    Put put{std::uint64_t(r) * std::uint64_t(slots.per_record()),
            keys + idx * Index(slots.per_record())};
    for (int s = 0; s < slots.per_record(); ++s) put.k[s] = kernels::kNoKey;
    member_slots(job, g, st, put);
  }
};

#if THRUST_DEVICE_SYSTEM != THRUST_DEVICE_SYSTEM_CUDA
// On the CPU the counts come without a sort: pass 1 writes each member's
// buckets slot-major (the `count` buckets of segment (record, slot) side by
// side), and each segment is counted on its own, by a dense table over its
// bucket range where that is small, by sorting its buckets where not. The
// result is the same ascending (key, count) list as sort + reduce_by_key.
constexpr std::uint32_t kNoBucket = ~std::uint32_t(0);  // a skipped increment

struct MemberBuckets {
  GramStatisticsJob job;
  const float* grams;
  const std::int64_t* blowup_step;
  const std::int64_t* record_steps;
  unsigned char* status;
  std::uint32_t* buckets;  // (record x slot) x count
  Index count;
  struct Put {
    std::uint32_t* b;  // slot 0 of this member and record
    Index stride;      // count: from one slot's segment to the next
    void operator()(int slot, std::uint32_t bucket) const { b[Index(slot) * stride] = bucket; }
  };
  void operator()(Index idx) const {
    const int R = job.records;
    const Index i = idx / R, r = idx % R;
    const float* g = grams + idx * Index(job.m) * job.m;
    const MemberStatus st = member_status(job, g, i, r, blowup_step, record_steps);
    status[idx] = static_cast<unsigned char>(st);
    const int per = GramSlots(job.m).per_record();
    Put put{buckets + r * per * count + i, count};
    for (int s = 0; s < per; ++s) put(s, kNoBucket);
    member_slots(job, g, st, put);
  }
};

// Segment seg's distinct buckets, ascending, as keys into unique[0, n) with
// their counts. b (its `count` buckets) is reordered; table: `table_size`
// counters of this thread (zeroed here as far as used).
Index count_segment(Index seg, std::uint32_t* b, Index count, std::uint32_t* table,
                    Index table_size, std::uint64_t* unique, std::int64_t* counts) {
  std::uint32_t lo = kNoBucket, hi = 0;
  Index valid = 0;
  for (Index i = 0; i < count; ++i) {
    const std::uint32_t v = b[i];
    if (v == kNoBucket) continue;
    ++valid;
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  if (valid == 0) return 0;
  const std::uint64_t key0 = std::uint64_t(seg) << 32;
  const Index range = Index(hi - lo) + 1;
  Index n = 0;
  // Dense (a pass over the members and one over the range) unless the range
  // is much wider than a sort of the members costs.
  if (range <= table_size && range <= 16 * valid + 1024) {
    std::fill(table, table + range, 0u);
    for (Index i = 0; i < count; ++i)
      if (b[i] != kNoBucket) ++table[b[i] - lo];
    for (Index j = 0; j < range; ++j)
      if (table[j] != 0) {
        unique[n] = key0 | (lo + std::uint32_t(j));
        counts[n++] = table[j];
      }
    return n;
  }
  std::sort(b, b + count);  // kNoBucket last
  for (Index i = 0; i < valid;) {
    Index j = i + 1;
    while (j < valid && b[j] == b[i]) ++j;
    unique[n] = key0 | b[i];
    counts[n++] = j - i;
    i = j;
  }
  return n;
}

// Counters per thread for the dense path: 256 KiB each, less with more than
// 4 threads, so that all fit in the 1 MiB gram_statistics_fixed_bytes
// counted for the sort's scratch (a wider segment takes the sort).
Index table_size(int threads) {
  return std::clamp<Index>((Index(1) << 20) / (Index(sizeof(std::uint32_t)) * threads), 256,
                           Index(1) << 16);
}
#endif

// Pass 2: segment seg = idx % segments over block blk = idx / segments.
// Two kinds of segment need no sums of their own (the same bits, cheaper):
// rho_aa is 1 for every member, so its sums are the count times those of 1;
// an entry below the diagonal whose every member has V_ab and V_ba equal to
// the bit (Gram matrices are symmetric in practice) has the values, so the
// partials, of its mirror above, which pass 3 reads instead (mirrored[idx]).
struct SegmentBlock {
  int m, records;
  Index count, segments, block;
  const float* grams;
  const unsigned char* status;
  SegmentSums* partials;
  unsigned char* mirrored;
  ATTNMC_HD void operator()(Index idx) const {
    const Index blk = idx / segments, seg = idx % segments, mm = Index(m) * m;
    const Index r = seg / (2 * mm), kind = (seg / mm) % 2, e = seg % mm;
    const int a = int(e / m), b = int(e % m);
    const Index begin = blk * block;
    const Index end = (blk + 1) * block < count ? (blk + 1) * block : count;
    mirrored[idx] = 0;
    if (a > b && symmetric(r, a, b, begin, end)) {
      mirrored[idx] = 1;
      return;
    }
    partials[idx] =
        kind == 1 && a == b ? unit_sums(r, begin, end) : sums(r, kind, a, b, begin, end);
  }
  // V_ab and V_ba equal to the bit for every member whose value counts.
  ATTNMC_HD bool symmetric(Index r, int a, int b, Index begin, Index end) const {
    for (Index i = begin; i < end; ++i) {
      const Index row = i * records + r;
      const MemberStatus st = static_cast<MemberStatus>(status[row]);
      if (st == MemberStatus::nonfinite || st == MemberStatus::blown) continue;
      const float* g = grams + row * Index(m) * m;
      std::uint32_t x, y;
      memcpy(&x, &g[a * m + b], sizeof x);
      memcpy(&y, &g[b * m + a], sizeof y);
      if (x != y) return false;
    }
    return true;
  }
  // rho_aa: 1 for each member in the sketches, in the moments for ok ones.
  ATTNMC_HD SegmentSums unit_sums(Index r, Index begin, Index end) const {
    std::int64_t ok = 0;
    bool sketched = false, blown = false;
    for (Index i = begin; i < end; ++i) {
      const MemberStatus st = static_cast<MemberStatus>(status[i * records + r]);
      blown = blown || st == MemberStatus::blown;
      sketched = sketched || st == MemberStatus::ok || st == MemberStatus::overflow;
      ok += st == MemberStatus::ok ? 1 : 0;
    }
    SegmentSums acc, one;
    kernels::exact_add(one.sum, 1.0);  // raw limbs: n adds of 1 are n times these
    kernels::exact_add_square(one.sum_sq, 1.0);
    acc.count = ok;
    for (int k = 0; k < kernels::kExactLimbs; ++k) {
      acc.sum[k] = one.sum[k] * ok;
      acc.sum_sq[k] = one.sum_sq[k] * ok;
    }
    acc.min = sketched ? 1.0 : INFINITY;
    acc.max = blown ? INFINITY : sketched ? 1.0 : -INFINITY;
    return acc;
  }
  ATTNMC_HD SegmentSums sums(Index r, Index kind, int a, int b, Index begin, Index end) const {
    const Index mm = Index(m) * m, e = Index(a) * m + b;
    SegmentSums acc;
    for (Index i = begin; i < end; ++i) {
      const Index row = i * records + r;
      const MemberStatus st = static_cast<MemberStatus>(status[row]);
      if (st == MemberStatus::nonfinite) continue;
      if (st == MemberStatus::blown) {
        acc.max = INFINITY;
        continue;
      }
      const float* g = grams + row * mm;
      const double x = kind == 0 ? double(g[e])
                       : a == b  ? 1.0
                                 : kernels::gram_correlation(g, m, a, b);
      acc.min = x < acc.min ? x : acc.min;
      acc.max = x > acc.max ? x : acc.max;
      if (st != MemberStatus::ok) continue;
      ++acc.count;
      if (!kernels::exact_add(acc.sum, x)) acc.sum_overflow = 1;
      if (!kernels::exact_add_square(acc.sum_sq, x)) acc.sum_sq_overflow = 1;
    }
    return acc;
  }
};

// Pass 3: segment seg's blocks added (a mirrored block: its mirror's partials).
struct SegmentTotal {
  int m;
  Index segments, blocks;
  const SegmentSums* partials;
  const unsigned char* mirrored;
  SegmentSums* totals;
  ATTNMC_HD void operator()(Index seg) const {
    const Index mm = Index(m) * m, e = seg % mm;
    const Index mirror = seg - e + (e % m) * m + e / m;  // (a, b) -> (b, a)
    SegmentSums t;
    for (Index blk = 0; blk < blocks; ++blk) {
      const Index at = blk * segments;
      const SegmentSums& p = partials[at + (mirrored[at + seg] ? mirror : seg)];
      t.count += p.count;
      for (int k = 0; k < kernels::kExactLimbs; ++k) {
        t.sum[k] += p.sum[k];
        t.sum_sq[k] += p.sum_sq[k];
      }
      t.sum_overflow |= p.sum_overflow;
      t.sum_sq_overflow |= p.sum_sq_overflow;
      t.min = p.min < t.min ? p.min : t.min;
      t.max = p.max > t.max ? p.max : t.max;
    }
    totals[seg] = t;
  }
};

Index blocks_for(Index count, Index segments) {
  const Index by_size = (count + kMinBlock - 1) / kMinBlock;
  return std::max<Index>(1, std::min(by_size, kTargetPartials / std::max<Index>(1, segments)));
}

}  // namespace

std::size_t gram_statistics_bytes_per_member(int m, int records) {
  // Status, keys, unique keys and counts, and the sort's temporary keys (the
  // CPU's count takes less: 4-byte buckets and no sort; the rule is kept).
  const std::size_t keys = std::size_t(records) * std::size_t(GramSlots(m).per_record());
  return std::size_t(records) + keys * 4 * sizeof(std::uint64_t) + 64;
}

std::size_t gram_statistics_fixed_bytes(int m, int records) {
  const Index segments = segments_of(m, records);
  const Index partials = std::max(segments, kTargetPartials) + segments;
  return std::size_t(partials) * (sizeof(SegmentSums) + 1) + (1 << 20);  // + the sort's scratch
}

void reduce_grams(const kernels::ExecContext& cx, kernels::Arena::Frame& frame,
                  const GramStatisticsJob& job, const float* grams, const std::int64_t* blowup_step,
                  const std::int64_t* record_steps, std::uint64_t count,
                  kernels::GramAggregate& out) {
  // Raw limbs of up to 2^30 values per segment stay below 2^62 (merge_limbs).
  if (count >= (std::uint64_t(1) << 30))
    throw Error("reduce_grams: a chunk of " + std::to_string(count) +
                " members is beyond the exact reduction's 2^30");
  const Index rows = Index(count) * job.records, per = GramSlots(job.m).per_record();
  const Index n_keys = rows * per, segments = segments_of(job.m, job.records);
  const Index blocks = blocks_for(Index(count), segments);
  const Index block = (Index(count) + blocks - 1) / blocks;
  unsigned char* status = frame.take<unsigned char>(std::size_t(rows));
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  std::uint64_t* keys = frame.take<std::uint64_t>(std::size_t(n_keys));
  std::uint64_t* unique = frame.take<std::uint64_t>(std::size_t(n_keys));
  std::int64_t* counts = frame.take<std::int64_t>(std::size_t(n_keys));
#else
  std::uint32_t* buckets = frame.take<std::uint32_t>(std::size_t(n_keys));
  std::uint64_t* unique = frame.take<std::uint64_t>(std::size_t(n_keys));
  std::int64_t* counts = frame.take<std::int64_t>(std::size_t(n_keys));
  const int threads = omp_get_max_threads();
  const Index table = table_size(threads);
  std::uint32_t* tables = frame.take<std::uint32_t>(std::size_t(threads) * std::size_t(table));
  Index* run_begin = frame.take<Index>(std::size_t(threads));
  Index* run_end = frame.take<Index>(std::size_t(threads));
#endif
  SegmentSums* partials = frame.take<SegmentSums>(std::size_t(blocks * segments));
  unsigned char* mirrored = frame.take<unsigned char>(std::size_t(blocks * segments));
  SegmentSums* totals = frame.take<SegmentSums>(std::size_t(segments));

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  for_each_index(cx, rows, MemberKeys{job, grams, blowup_step, record_steps, status, keys});
#else
  for_each_index(
      cx, rows,
      MemberBuckets{job, grams, blowup_step, record_steps, status, buckets, Index(count)});
#endif
  for_each_index(cx, blocks * segments,
                 SegmentBlock{job.m, job.records, Index(count), segments, block, grams, status,
                              partials, mirrored});
  for_each_index(cx, segments, SegmentTotal{job.m, segments, blocks, partials, mirrored, totals});

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  kernels::launch::FrameAllocator scratch{&frame};
  Index n_unique = 0;
  if (n_keys > 0) {
    thrust::sort(kernels::launch::policy(cx, scratch), keys, keys + n_keys);
    const auto ends =
        thrust::reduce_by_key(kernels::launch::policy(cx, scratch), keys, keys + n_keys,
                              thrust::constant_iterator<std::int64_t>(1), unique, counts);
    n_unique = Index(ends.first - unique);
  }
  // Capacity for every key at once, so that a later chunk with more distinct
  // keys never doubles the vectors (untouched capacity costs no memory).
  out.keys.reserve(std::size_t(n_keys));
  out.counts.reserve(std::size_t(n_keys));
  out.keys.resize(std::size_t(n_unique));
  out.counts.resize(std::size_t(n_unique));
  kernels::launch::copy_to_host(cx, out.keys.data(), unique, std::size_t(n_unique));
  kernels::launch::copy_to_host(cx, out.counts.data(), counts, std::size_t(n_unique));
  if (!out.keys.empty() && out.keys.back() == kernels::kNoKey) {  // the skipped increments
    out.keys.pop_back();
    out.counts.pop_back();
  }
#else
  // Thread t of the team counts the segments [lo, hi) of an even split, in
  // order, and packs their (key, count) pairs from unique/counts[lo * count]
  // on (those segments have at most (hi - lo) * count of them); the threads'
  // runs, in thread order, are the list in segment order. Packed, the pairs
  // touch only as much of the buffers as there are distinct keys.
  const Index n_segments = Index(job.records) * per, c = Index(count);
  int team = 1;
#pragma omp parallel if (n_keys >= 4096)  // small chunks: one thread
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    if (t == 0) team = nt;
    const Index lo = n_segments * t / nt, hi = n_segments * (t + 1) / nt;
    Index at = lo * c;
    for (Index k = lo; k < hi; ++k)
      at += count_segment(k, buckets + k * c, c, tables + Index(t) * table, table, unique + at,
                          counts + at);
    run_begin[t] = lo * c;
    run_end[t] = at;
  }
  Index n_unique = 0;
  for (int t = 0; t < team; ++t) n_unique += run_end[t] - run_begin[t];
  out.keys.reserve(std::size_t(n_keys));  // as on CUDA: never reallocated by a later chunk
  out.counts.reserve(std::size_t(n_keys));
  out.keys.resize(std::size_t(n_unique));
  out.counts.resize(std::size_t(n_unique));
  Index at = 0;
  for (int t = 0; t < team; ++t) {
    const Index n = run_end[t] - run_begin[t];
    std::copy_n(unique + run_begin[t], n, out.keys.begin() + at);
    std::copy_n(counts + run_begin[t], n, out.counts.begin() + at);
    at += n;
  }
#endif
  out.segments.resize(std::size_t(segments));
  kernels::launch::copy_to_host(cx, out.segments.data(), totals, std::size_t(segments));
  out.status.resize(job.keep_status ? std::size_t(rows) : 0);
  if (job.keep_status)
    kernels::launch::copy_to_host(cx, out.status.data(), status, out.status.size());
}

void deliver_grams(const kernels::ExecContext& cx, kernels::Arena::Frame& frame,
                   const kernels::GramChunkOutput& output, const float* grams,
                   const std::int64_t* blowup_step, const std::int64_t* record_steps,
                   std::uint64_t count, int m, int records) {
  if (output.aggregate != nullptr)
    reduce_grams(cx, frame, *output.statistics, grams, blowup_step, record_steps, count,
                 *output.aggregate);
  if (output.grams != nullptr)
    kernels::launch::copy_to_host(cx, output.grams, grams,
                                  std::size_t(count) * std::size_t(records) * std::size_t(m) * m);
}

}  // namespace attnmc::ATTNMC_BACKEND_NS
