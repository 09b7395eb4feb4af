// Statistics state in HDF5 and the merge of pieces.
#include "host/stats_state.hpp"

#include <algorithm>
#include <filesystem>

#include "attnmc/error.hpp"
#include "host/hdf5_file.hpp"

namespace attnmc {
namespace {

constexpr const char* kFormat = "attnmc-statistics-state-1";
constexpr int kCounters = 4;  // members, nonfinite, overflow, blowup

// The non-zero buckets of one kind of sketch, every record: flat index
// (record, entry, bucket), canonical whatever the paging, and count, as two
// datasets written sketch by sketch. Gathered whole, these lists grew with
// the buckets the data reached, which made the peak memory of a large run
// grow with its size at the moment stats.h5 was written.
template <typename SketchesOf>
void write_buckets(hid_t g, const char* index_name, const char* count_name,
                   const std::vector<LayerStatistics>& L, SketchesOf sketches_of) {
  hsize_t total = 0;
  for (const LayerStatistics& s : L)
    for (const auto& k : sketches_of(s)) total += k.store().nonzero_count();
  for (int pass = 0; pass < 2; ++pass) {  // the indices, then the counts
    h5::Slices out(g, pass == 0 ? index_name : count_name,
                   pass == 0 ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64,
                   pass == 0 ? H5T_STD_U64LE : H5T_STD_I64LE, total);
    std::vector<std::uint64_t> slice;  // one sketch's (int64 counts as their bits)
    for (std::size_t r = 0; r < L.size(); ++r) {
      const auto& sketches = sketches_of(L[r]);
      for (std::size_t u = 0; u < sketches.size(); ++u) {
        const std::uint64_t base = (r * sketches.size() + u) * sketches[u].store().size();
        slice.clear();
        for (const auto& [b, c] : sketches[u].store().nonzero())
          slice.push_back(pass == 0 ? base + b : std::uint64_t(c));
        out.append(slice.data(), slice.size());
      }
    }
  }
}

}  // namespace

static_assert(sizeof(hid_t) == sizeof(std::int64_t), "hid_t is a 64-bit id");

void write_statistics_state(std::int64_t file, const StatsIdentity& id,
                            const EnsembleStatistics& st) {
  h5::Id g(h5::create_group(file, "state"), H5Gclose, "state group");
  const StatisticsOptions& o = st.options();
  h5::attribute_string(g.id, "format", kFormat);
  h5::attribute_string(g.id, "family", id.family);
  h5::attribute_string(g.id, "config", id.config);
  h5::attribute_u64(g.id, "seed", id.seed);
  h5::attribute_u64(g.id, "members", id.members);
  h5::attribute_u64(g.id, "member_begin", id.member_begin);
  h5::attribute_u64(g.id, "member_end", id.member_end);
  h5::attribute_string(g.id, "device", id.device);
  h5::attribute_string(g.id, "sampler", id.sampler);
  h5::attribute_i32(g.id, "tokens", st.tokens());
  h5::attribute_i32(g.id, "histogram_bins", o.histogram_bins);
  h5::attribute_f64(g.id, "overflow_threshold", o.overflow_threshold);
  h5::attribute_f64(g.id, "quantile_accuracy", o.quantile_accuracy);
  h5::attribute_i32(g.id, "rho_quantile_bins", o.rho_quantile_bins);
  h5::attribute_i32(g.id, "exact_quantiles", o.exact_quantiles ? 1 : 0);

  const auto& L = st.per_layer();
  const hsize_t R = L.size(), m = hsize_t(st.tokens()), mm = m * m;
  const hsize_t limbs = ExactSum::kLimbs;
  std::vector<int> layers(st.layers().begin(), st.layers().end());
  h5::write(g.id, "layers", H5T_NATIVE_INT, H5T_STD_I32LE, {R}, layers.data());
  std::vector<std::int64_t> counters, mcount, mlimbs, mover;
  std::vector<std::uint64_t> soff{0};
  std::vector<float> samples;
  std::vector<double> grange, rrange;  // exact min and max of every sketch
  for (hsize_t r = 0; r < R; ++r) {
    const LayerStatistics& s = L[r];
    counters.insert(counters.end(), {s.members, s.nonfinite, s.overflow, s.blowup});
    for (const std::vector<Moments>* v : {&s.gram, &s.rho})
      for (const Moments& x : *v) {
        mcount.push_back(x.count);
        for (const ExactSum* e : {&x.sum, &x.sum_sq}) {
          const ExactSum::Limbs c = e->canonical();
          mlimbs.insert(mlimbs.end(), c.begin(), c.end());
          mover.push_back(e->overflowed() ? 1 : 0);
        }
      }
    for (const LogSketch& k : s.gram_sketch) grange.insert(grange.end(), {k.min(), k.max()});
    for (const GridSketch& k : s.rho_sketch) rrange.insert(rrange.end(), {k.min(), k.max()});
    samples.insert(samples.end(), s.samples.begin(), s.samples.end());
    soff.push_back(samples.size());
  }
  h5::write_int64s(g.id, "counters", {R, kCounters}, counters);
  h5::write_int64s(g.id, "moment_count", {R, 2, mm}, mcount);
  h5::write_int64s(g.id, "moment_limbs", {R, 2, mm, 2, limbs}, mlimbs);
  h5::write_int64s(g.id, "moment_overflow", {R, 2, mm, 2}, mover);
  write_buckets(
      g.id, "gram_sketch_index", "gram_sketch_count", L,
      [](const LayerStatistics& s) -> const auto& { return s.gram_sketch; });
  h5::write_doubles(g.id, "gram_sketch_range", {hsize_t(grange.size())}, grange);
  h5::write_doubles(g.id, "rho_sketch_range", {hsize_t(rrange.size())}, rrange);
  write_buckets(
      g.id, "rho_sketch_index", "rho_sketch_count", L,
      [](const LayerStatistics& s) -> const auto& { return s.rho_sketch; });
  std::vector<std::int64_t> hist;
  for (const LayerStatistics& s : L)
    hist.insert(hist.end(), s.rho_histogram.begin(), s.rho_histogram.end());
  h5::write_int64s(g.id, "rho_histogram", {R, hsize_t(st.pairs()), hsize_t(o.histogram_bins)},
                   hist);
  h5::write(g.id, "samples", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {hsize_t(samples.size())},
            samples.data());
  h5::write_uint64s(g.id, "sample_offsets", soff);
}

std::string stats_file_path(const std::string& where) {
  std::error_code ec;
  return std::filesystem::is_directory(where, ec) ? where + "/stats.h5" : where;
}

bool stats_file_has_group(const std::string& where, const char* name) {
  const std::string path = stats_file_path(where);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t fid = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (fid < 0) return false;
  h5::Id file(fid, H5Fclose, path);
  return h5::exists(file.id, name);
}

h5::Id open_stats_file(const std::string& where, std::string* path) {
  *path = stats_file_path(where);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(*path, ec))
    throw InputError("merge",
                     "'" + where + "' is not a stats.h5 file or an output directory holding one");
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t fid = H5Fopen(path->c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (fid < 0) throw InputError("merge", "cannot open '" + *path + "' as HDF5");
  return h5::Id(fid, H5Fclose, *path);
}

StatisticsState read_statistics_state(const std::string& where) {
  std::string path;
  const h5::Id file = open_stats_file(where, &path);
  return read_statistics_state_at(file.id, path);
}

StatisticsState read_statistics_state_at(std::int64_t fid, const std::string& path) {
  if (!h5::exists(fid, "state"))
    throw InputError("merge",
                     "'" + path + "' holds no statistics state (written by an older attnmc?)");
  try {
    h5::Id g(H5Gopen2(fid, "state", H5P_DEFAULT), H5Gclose, "state group");
    if (h5::read_attribute_string(g.id, "format") != kFormat)
      throw InputError("merge", "'" + path + "': unknown state format");
    StatisticsState out;
    out.t = h5::read_doubles(fid, "t");
    StatsIdentity& id = out.id;
    id.family = h5::read_attribute_string(g.id, "family");
    id.config = h5::read_attribute_string(g.id, "config");
    id.seed = h5::read_attribute_u64(g.id, "seed");
    id.members = h5::read_attribute_u64(g.id, "members");
    id.member_begin = h5::read_attribute_u64(g.id, "member_begin");
    id.member_end = h5::read_attribute_u64(g.id, "member_end");
    id.device = h5::read_attribute_string(g.id, "device");
    id.sampler = h5::read_attribute_string(g.id, "sampler");
    StatisticsOptions o;
    o.histogram_bins = h5::read_attribute_i32(g.id, "histogram_bins");
    o.overflow_threshold = h5::read_attribute_f64(g.id, "overflow_threshold");
    o.quantile_accuracy = h5::read_attribute_f64(g.id, "quantile_accuracy");
    o.rho_quantile_bins = h5::read_attribute_i32(g.id, "rho_quantile_bins");
    o.exact_quantiles = h5::read_attribute_i32(g.id, "exact_quantiles") != 0;
    const int m = h5::read_attribute_i32(g.id, "tokens");
    const std::vector<int> layers = h5::read_ints(g.id, "layers");
    out.stats = EnsembleStatistics(m, layers, o);
    auto& L = out.stats.mutable_per_layer();
    const std::size_t R = L.size(), mm = std::size_t(m) * m, limbs = ExactSum::kLimbs;
    const auto counters = h5::read_int64s(g.id, "counters");
    const auto mcount = h5::read_int64s(g.id, "moment_count");
    const auto mlimbs = h5::read_int64s(g.id, "moment_limbs");
    const auto mover = h5::read_int64s(g.id, "moment_overflow");
    const auto hist = h5::read_int64s(g.id, "rho_histogram");
    const std::size_t hsize = std::size_t(out.stats.pairs()) * o.histogram_bins;
    if (counters.size() != R * kCounters || mcount.size() != R * 2 * mm ||
        mlimbs.size() != R * 2 * mm * 2 * limbs || mover.size() != R * 2 * mm * 2 ||
        hist.size() != R * hsize)
      throw InputError("merge", "'" + path + "': state arrays have inconsistent shapes");
    for (std::size_t r = 0; r < R; ++r) {
      LayerStatistics& s = L[r];
      s.members = counters[r * kCounters];
      s.nonfinite = counters[r * kCounters + 1];
      s.overflow = counters[r * kCounters + 2];
      s.blowup = counters[r * kCounters + 3];
      std::size_t k = r * 2 * mm;
      for (std::vector<Moments>* v : {&s.gram, &s.rho})
        for (Moments& x : *v) {
          x.count = mcount[k];
          for (int w = 0; w < 2; ++w) {
            ExactSum::Limbs c;
            std::copy_n(mlimbs.begin() + std::ptrdiff_t((k * 2 + w) * limbs), limbs, c.begin());
            (w == 0 ? x.sum : x.sum_sq) = ExactSum::from_canonical(c, mover[k * 2 + w] != 0);
          }
          ++k;
        }
      std::copy_n(hist.begin() + std::ptrdiff_t(r * hsize), hsize, s.rho_histogram.begin());
    }
    auto fill = [&](const char* idx_name, const char* cnt_name, auto member) {
      const auto idx = h5::read_uint64s(g.id, idx_name);
      const auto cnt = h5::read_int64s(g.id, cnt_name);
      if (idx.size() != cnt.size()) throw InputError("merge", "'" + path + "': bad sketch arrays");
      for (std::size_t i = 0; i < idx.size(); ++i) {
        auto& sketches = L[0].*member;
        const std::size_t per = sketches.size(), size = sketches.front().store().size();
        const std::size_t r = idx[i] / (per * size), e = (idx[i] / size) % per;
        if (r >= R || cnt[i] <= 0) throw InputError("merge", "'" + path + "': bad sketch bucket");
        (L[r].*member)[e].store().add(idx[i] % size, cnt[i]);
      }
    };
    if (!L.empty() && !L[0].gram_sketch.empty())
      fill("gram_sketch_index", "gram_sketch_count", &LayerStatistics::gram_sketch);
    if (!L.empty() && !L[0].rho_sketch.empty())
      fill("rho_sketch_index", "rho_sketch_count", &LayerStatistics::rho_sketch);
    const auto grange = h5::read_doubles(g.id, "gram_sketch_range");
    const auto rrange = h5::read_doubles(g.id, "rho_sketch_range");
    std::size_t gi = 0, ri = 0;
    for (LayerStatistics& s : L) {
      if (grange.size() < 2 * (gi + s.gram_sketch.size()) ||
          rrange.size() < 2 * (ri + s.rho_sketch.size()))
        throw InputError("merge", "'" + path + "': bad sketch ranges");
      for (LogSketch& k : s.gram_sketch) k.set_range(grange[2 * gi], grange[2 * gi + 1]), ++gi;
      for (GridSketch& k : s.rho_sketch) k.set_range(rrange[2 * ri], rrange[2 * ri + 1]), ++ri;
    }
    const auto samples = h5::read_floats(g.id, "samples");
    const auto soff = h5::read_uint64s(g.id, "sample_offsets");
    if (soff.size() != R + 1 || soff.back() != samples.size())
      throw InputError("merge", "'" + path + "': bad sample offsets");
    for (std::size_t r = 0; r < R; ++r)
      L[r].samples.assign(samples.begin() + std::ptrdiff_t(soff[r]),
                          samples.begin() + std::ptrdiff_t(soff[r + 1]));
    return out;
  } catch (const InputError&) {
    throw;
  } catch (const Error& e) {
    throw InputError("merge", "'" + path + "': " + e.what());
  }
}

StatisticsState merge_states(std::vector<StatisticsState> pieces,
                             const std::vector<std::string>& names) {
  if (pieces.empty()) throw InputError("merge", "no pieces given");
  std::vector<std::size_t> order(pieces.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return pieces[a].id.member_begin < pieces[b].id.member_begin;
  });
  auto name = [&](std::size_t i) { return "'" + names.at(i) + "'"; };
  auto range = [&](std::size_t i) {
    return "[" + std::to_string(pieces[i].id.member_begin) + ", " +
           std::to_string(pieces[i].id.member_end) + ")";
  };
  const StatsIdentity& first = pieces[order[0]].id;
  for (std::size_t k = 1; k < order.size(); ++k) {
    const std::size_t i = order[k];
    const StatsIdentity& id = pieces[i].id;
    const std::string vs = name(i) + " and " + name(order[0]);
    if (id.family != first.family)
      throw InputError("merge",
                       vs + " are different families (" + id.family + ", " + first.family + ")");
    if (id.seed != first.seed)
      throw InputError("merge", vs + " have different seeds (" + std::to_string(id.seed) + ", " +
                                    std::to_string(first.seed) + ")");
    if (id.members != first.members)
      throw InputError("merge", vs + " are pieces of ensembles of different sizes");
    if (id.device != first.device)
      throw InputError("merge", vs + " ran on different devices (" + id.device + ", " +
                                    first.device + "): their bits differ");
    if (id.sampler != first.sampler)
      throw InputError("merge",
                       vs + " used different samplers (" + id.sampler + ", " + first.sampler + ")");
    if (id.config != first.config)
      throw InputError("merge",
                       vs + " have different configurations (compare their summary.json 'config')");
    const std::size_t prev = order[k - 1];
    if (id.member_begin < pieces[prev].id.member_end)
      throw InputError("merge",
                       name(i) + " " + range(i) + " overlaps " + name(prev) + " " + range(prev));
    if (id.member_begin > pieces[prev].id.member_end)
      throw InputError("merge", "members [" + std::to_string(pieces[prev].id.member_end) + ", " +
                                    std::to_string(id.member_begin) + ") are missing between " +
                                    name(prev) + " and " + name(i));
  }
  // Member order, so stored samples (exact quantiles) come out as in one run.
  StatisticsState out = pieces[order[0]];
  for (std::size_t k = 1; k < order.size(); ++k) {
    out.stats.merge(pieces[order[k]].stats);
    out.id.member_end = pieces[order[k]].id.member_end;
  }
  return out;
}

}  // namespace attnmc
