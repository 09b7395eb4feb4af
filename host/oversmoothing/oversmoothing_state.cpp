// See oversmoothing_state.hpp. The layout follows host/stats_state.cpp: one
// row per scalar statistic (record-major metrics, then growth_error and
// cosine_error), limbs canonical, sketch buckets as flat indices
// (statistic, bucket) so the bytes never depend on how counts were paged.
#include "host/oversmoothing/oversmoothing_state.hpp"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "attnmc/error.hpp"
#include "host/hdf5_file.hpp"
#include "host/oversmoothing/oversmoothing_config.hpp"
#include "host/stats_state.hpp"

namespace attnmc {
namespace {

constexpr const char* kFormat = "attnmc-oversmoothing-state-1";
constexpr const char* kGroup = "oversmoothing_state";
constexpr int kPrediction = 11;  // predicted[4], observed[4], agree, compared, degenerate

// Every scalar statistic of a result, in the state's row order.
template <typename Result>
auto scalars(Result& r) {
  std::vector<decltype(&r.growth_error)> v;
  for (auto& rec : r.metrics)
    for (auto& s : rec) v.push_back(&s);
  v.push_back(&r.growth_error);
  v.push_back(&r.cosine_error);
  return v;
}

}  // namespace

std::string oversmoothing_canonical_config(const OversmoothingSpec& s) {
  nlohmann::json c = oversmoothing_spec_json(s);
  c["ensemble"].erase("member_begin");
  c["ensemble"].erase("member_end");
  return c.dump();
}

void write_oversmoothing_state(std::int64_t file, const OversmoothingResult& r) {
  const OversmoothingSpec& s = r.spec;
  h5::Id g(h5::create_group(file, kGroup), H5Gclose, kGroup);
  h5::attribute_string(g.id, "format", kFormat);
  h5::attribute_string(g.id, "family", "oversmoothing");
  h5::attribute_string(g.id, "config", oversmoothing_canonical_config(s));
  h5::attribute_u64(g.id, "seed", s.seed);
  h5::attribute_u64(g.id, "members", s.members);
  h5::attribute_u64(g.id, "member_begin", s.member_begin);
  h5::attribute_u64(g.id, "member_end", s.end_member());
  h5::attribute_string(g.id, "device", r.device);
  h5::attribute_string(g.id, "sampler", "direct");
  h5::attribute_i32(g.id, "gram_statistics", r.has_gram ? 1 : 0);
  const hsize_t R = r.layers.size(), limbs = ExactSum::kLimbs;
  std::vector<int> layers(r.layers.begin(), r.layers.end());
  h5::write(g.id, "layers", H5T_NATIVE_INT, H5T_STD_I32LE, {R}, layers.data());
  h5::write_int64s(g.id, "record_nonfinite", {R}, r.nonfinite);
  std::vector<std::int64_t> pred(r.predicted, r.predicted + 4);
  pred.insert(pred.end(), r.observed, r.observed + 4);
  pred.insert(pred.end(), {r.agree, r.compared, r.degenerate});
  h5::write_int64s(g.id, "prediction", {hsize_t(kPrediction)}, pred);
  const auto all = scalars(r);
  const hsize_t S = all.size();
  std::vector<std::int64_t> counts, mlimbs, mover, bcount;
  std::vector<std::uint64_t> bindex;
  std::vector<double> range;
  for (hsize_t i = 0; i < S; ++i) {
    const ScalarStatistics& x = *all[i];
    counts.insert(counts.end(), {x.count, x.nonfinite, x.infinite});
    for (const ExactSum* e : {&x.sum, &x.sum_sq}) {
      const ExactSum::Limbs c = e->canonical();
      mlimbs.insert(mlimbs.end(), c.begin(), c.end());
      mover.push_back(e->overflowed() ? 1 : 0);
    }
    const std::uint64_t base = i * x.sketch.store().size();
    for (const auto& [b, c] : x.sketch.store().nonzero()) {
      bindex.push_back(base + b);
      bcount.push_back(c);
    }
    range.insert(range.end(), {x.sketch.min(), x.sketch.max()});
  }
  h5::write_int64s(g.id, "scalar_counts", {S, 3}, counts);
  h5::write_int64s(g.id, "scalar_limbs", {S, 2, limbs}, mlimbs);
  h5::write_int64s(g.id, "scalar_overflow", {S, 2}, mover);
  h5::write_uint64s(g.id, "sketch_index", bindex);
  h5::write_int64s(g.id, "sketch_count", {hsize_t(bcount.size())}, bcount);
  h5::write_doubles(g.id, "sketch_range", {S, 2}, range);
}

void write_oversmoothing_state_file(const std::string& path, const OversmoothingResult& r) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  h5::Id fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose, "file creation properties");
  h5::check(H5Pset_obj_track_times(fcpl.id, false), "root group times");
  h5::Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.id, H5P_DEFAULT), H5Fclose,
              "creating stats.h5");
  write_oversmoothing_state(file.id, r);
  h5::check(H5Fflush(file.id, H5F_SCOPE_GLOBAL), "flushing stats.h5");
}

void append_oversmoothing_state(const std::string& path, const OversmoothingResult& r) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  h5::Id file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose, "opening stats.h5");
  write_oversmoothing_state(file.id, r);
  h5::check(H5Fflush(file.id, H5F_SCOPE_GLOBAL), "flushing stats.h5");
}

bool has_oversmoothing_state(const std::string& where) {
  return stats_file_has_group(where, kGroup);
}

OversmoothingPiece read_oversmoothing_state(const std::string& where) {
  std::string path;
  const h5::Id file = open_stats_file(where, &path);
  return read_oversmoothing_state_at(file.id, path);
}

OversmoothingPiece read_oversmoothing_state_at(std::int64_t fid, const std::string& path) {
  if (!h5::exists(fid, kGroup))
    throw InputError("merge", "'" + path + "' is not an oversmoothing piece (no /" + kGroup + ")");
  try {
    h5::Id g(H5Gopen2(fid, kGroup, H5P_DEFAULT), H5Gclose, kGroup);
    if (h5::read_attribute_string(g.id, "format") != kFormat)
      throw InputError("merge", "'" + path + "': unknown oversmoothing state format");
    OversmoothingPiece piece;
    StatsIdentity& id = piece.id;
    id.family = h5::read_attribute_string(g.id, "family");
    id.config = h5::read_attribute_string(g.id, "config");
    id.seed = h5::read_attribute_u64(g.id, "seed");
    id.members = h5::read_attribute_u64(g.id, "members");
    id.member_begin = h5::read_attribute_u64(g.id, "member_begin");
    id.member_end = h5::read_attribute_u64(g.id, "member_end");
    id.device = h5::read_attribute_string(g.id, "device");
    id.sampler = h5::read_attribute_string(g.id, "sampler");
    OversmoothingResult& r = piece.result;
    r.spec = oversmoothing_spec_from_json(nlohmann::json::parse(id.config));
    r.spec.member_begin = id.member_begin;
    r.spec.member_end = id.member_end;
    r.device = id.device;
    r.has_gram = h5::read_attribute_i32(g.id, "gram_statistics") != 0;
    r.layers = h5::read_ints(g.id, "layers");
    if (r.layers != r.spec.record_layers)
      throw InputError("merge", "'" + path + "': recorded layers differ from the configuration's");
    const std::size_t R = r.layers.size(), limbs = ExactSum::kLimbs;
    const double accuracy = r.spec.quantile_accuracy;
    r.metrics.assign(R, std::vector<ScalarStatistics>(kMetricCount, ScalarStatistics(accuracy)));
    r.growth_error = ScalarStatistics(accuracy);
    r.cosine_error = ScalarStatistics(accuracy);
    r.nonfinite = h5::read_int64s(g.id, "record_nonfinite");
    const auto pred = h5::read_int64s(g.id, "prediction");
    const auto all = scalars(r);
    const std::size_t S = all.size();
    const auto counts = h5::read_int64s(g.id, "scalar_counts");
    const auto mlimbs = h5::read_int64s(g.id, "scalar_limbs");
    const auto mover = h5::read_int64s(g.id, "scalar_overflow");
    const auto range = h5::read_doubles(g.id, "sketch_range");
    const auto bindex = h5::read_uint64s(g.id, "sketch_index");
    const auto bcount = h5::read_int64s(g.id, "sketch_count");
    if (r.nonfinite.size() != R || pred.size() != std::size_t(kPrediction) ||
        counts.size() != S * 3 || mlimbs.size() != S * 2 * limbs || mover.size() != S * 2 ||
        range.size() != S * 2 || bindex.size() != bcount.size())
      throw InputError("merge",
                       "'" + path + "': oversmoothing state arrays have inconsistent shapes");
    std::copy_n(pred.begin(), 4, r.predicted);
    std::copy_n(pred.begin() + 4, 4, r.observed);
    r.agree = pred[8], r.compared = pred[9], r.degenerate = pred[10];
    for (std::size_t i = 0; i < S; ++i) {
      ScalarStatistics& x = *all[i];
      x.count = counts[3 * i], x.nonfinite = counts[3 * i + 1], x.infinite = counts[3 * i + 2];
      for (int w = 0; w < 2; ++w) {
        ExactSum::Limbs c;
        std::copy_n(mlimbs.begin() + std::ptrdiff_t((i * 2 + w) * limbs), limbs, c.begin());
        (w == 0 ? x.sum : x.sum_sq) = ExactSum::from_canonical(c, mover[i * 2 + w] != 0);
      }
      x.sketch.set_range(range[2 * i], range[2 * i + 1]);
    }
    const std::size_t size = all.front()->sketch.store().size();
    for (std::size_t k = 0; k < bindex.size(); ++k) {
      const std::size_t i = bindex[k] / size;
      if (i >= S || bcount[k] <= 0)
        throw InputError("merge", "'" + path + "': bad oversmoothing sketch bucket");
      all[i]->sketch.store().add(bindex[k] % size, bcount[k]);
    }
    if (r.has_gram) r.gram = read_statistics_state_at(fid, path).stats;
    return piece;
  } catch (const InputError&) {
    throw;
  } catch (const Error& e) {
    throw InputError("merge", "'" + path + "': " + e.what());
  }
}

OversmoothingResult merge_oversmoothing_pieces(std::vector<OversmoothingPiece> pieces,
                                               const std::vector<std::string>& names) {
  // The identity checks (family, configuration, seed, size, device, ranges) of merge_states.
  std::vector<StatisticsState> ids(pieces.size());
  for (std::size_t i = 0; i < pieces.size(); ++i) ids[i].id = pieces[i].id;
  (void)merge_states(ids, names);
  std::sort(pieces.begin(), pieces.end(),
            [](const auto& a, const auto& b) { return a.id.member_begin < b.id.member_begin; });
  OversmoothingResult out = std::move(pieces.front().result);
  for (std::size_t k = 1; k < pieces.size(); ++k) merge_oversmoothing(out, pieces[k].result);
  return out;
}

}  // namespace attnmc
