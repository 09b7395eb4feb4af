// Atomic output directories and the files of one ensemble run.
#include "host/output.hpp"

#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "attnmc/error.hpp"
#include "attnmc/version.hpp"
#include "host/config.hpp"
#include "host/hdf5_file.hpp"
#include "host/stats_state.hpp"

namespace attnmc {
namespace {

namespace fs = std::filesystem;

bool is_nonempty_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec) && !fs::is_empty(p, ec);
}

// Lexically absolute, so "out" and "./out/" name the same parent.
fs::path absolute_path(const std::string& dir) {
  fs::path p = fs::absolute(fs::path(dir)).lexically_normal();
  if (!p.has_filename() && p.has_parent_path()) p = p.parent_path();  // trailing '/'
  return p;
}

std::string random_suffix() {
  std::random_device rd;
  const char* hex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 8; ++i) s += hex[rd() % 16];
  return s;
}

}  // namespace

void check_output_dir(const std::string& dir, bool force) {
  if (dir.empty()) throw InputError("output", "empty path");
  const fs::path target = absolute_path(dir);
  std::error_code ec;
  const fs::file_status st = fs::status(target, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st))
      throw InputError("output", "'" + dir + "' exists and is not a directory");
    if (!force && is_nonempty_dir(target))
      throw InputError("output",
                       "'" + dir + "' exists and is not empty (use --force to replace it)");
    // --force deletes the old directory: only ever one that attnmc wrote.
    if (force && is_nonempty_dir(target) && !fs::exists(target / "summary.json", ec))
      throw InputError("output", "'" + dir +
                                     "' is not an attnmc output directory (no summary.json); "
                                     "refusing to replace it");
    const fs::path cwd = fs::current_path(ec);
    if (!ec && cwd.lexically_relative(target).string().rfind("..", 0) != 0)
      throw InputError("output", "'" + dir + "' contains the working directory");
  }
  // The staging directory is created next to the target, so the nearest
  // existing ancestor must be a writable directory.
  fs::path p = target.parent_path();
  while (!p.empty() && !fs::exists(p, ec)) {
    if (p == p.parent_path()) break;
    p = p.parent_path();
  }
  if (!fs::is_directory(p, ec))
    throw InputError("output", "'" + p.string() + "' (parent of '" + dir + "') is not a directory");
  if (::access(p.c_str(), W_OK | X_OK) != 0)
    throw InputError("output", "cannot write in '" + p.string() + "': " + std::strerror(errno));
}

StagedDirectory::StagedDirectory(std::string final_dir, bool force)
    : final_(absolute_path(final_dir).string()), force_(force) {
  check_output_dir(final_dir, force);
  // Create missing parents now (remembered, removed again on failure).
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path p = fs::path(final_).parent_path(); !fs::exists(p, ec) && p != p.parent_path();
       p = p.parent_path())
    missing.push_back(p);
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (!fs::create_directory(*it, ec) && ec)
      throw InputError("output", "cannot create '" + it->string() + "': " + ec.message());
    created_parents_.push_back(it->string());
  }
  const fs::path f(final_);
  std::string tmpl =
      (f.parent_path() / ("." + f.filename().string() + ".tmp-" + random_suffix() + "-XXXXXX"))
          .string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw InputError("output",
                     "cannot create a directory next to '" + final_ + "': " + std::strerror(errno));
  staging_ = tmpl;
  // mkdtemp makes it private (0700); the result should get the usual umask.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  fs::permissions(staging_, static_cast<fs::perms>(0777 & ~mask), ec);
}

StagedDirectory::~StagedDirectory() {
  if (committed_) return;
  std::error_code ec;
  if (!staging_.empty()) fs::remove_all(staging_, ec);
  for (auto it = created_parents_.rbegin(); it != created_parents_.rend(); ++it)
    fs::remove(*it, ec);  // only removes empty directories
}

void StagedDirectory::write_text(const std::string& name, const std::string& text) const {
  std::ofstream f(file(name), std::ios::binary);
  f << text;
  f.close();
  if (!f) throw Error("cannot write " + file(name));
}

void StagedDirectory::commit() {
  std::error_code ec;
  const fs::path target(final_);
  fs::path old;
  if (fs::exists(target, ec)) {
    if (!fs::is_directory(target, ec))
      throw InputError("output", "'" + final_ + "' exists and is not a directory");
    if (is_nonempty_dir(target)) {
      if (!force_)
        throw InputError("output", "'" + final_ + "' appeared meanwhile and is not empty");
      // Move the old result aside first: the new one replaces it in one rename.
      old = target.parent_path() / ("." + target.filename().string() + ".old-" + random_suffix());
      fs::rename(target, old, ec);
      if (ec) throw Error("cannot move '" + final_ + "' aside: " + ec.message());
    } else {
      fs::remove(target, ec);
    }
  }
  fs::rename(staging_, target, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, target, ec);
    throw Error("cannot rename '" + staging_ + "' to '" + final_ + "'");
  }
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

nlohmann::json canonical_config(const EnsembleResult& r, const nlohmann::json& family_config) {
  nlohmann::json c = run_spec_json(r.spec);
  // How a run was executed does not change its statistics: leave it out.
  for (const char* k : {"chunk", "memory_cap", "member_begin", "member_end"})
    c["ensemble"].erase(k);
  c.erase("run");
  if (!family_config.is_null()) c["family"] = family_config;
  return c;
}

void write_stats_h5(const std::string& path, const EnsembleResult& r,
                    const nlohmann::json& family_config) {
  using h5::Id;
  const EnsembleStatistics& st = r.stats;
  const RunSpec& spec = r.spec;
  const hsize_t R = st.layers().size(), m = hsize_t(st.tokens()), Q = spec.quantiles.size();
  const hsize_t pairs = hsize_t(st.pairs()), bins = hsize_t(st.histogram_bins());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become exceptions, not stack dumps
  Id fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose, "file creation properties");
  h5::check(H5Pset_obj_track_times(fcpl.id, false), "root group times");
  Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.id, H5P_DEFAULT), H5Fclose,
          "creating stats.h5");

  std::vector<int> layers(st.layers().begin(), st.layers().end());
  h5::write(file.id, "layers", H5T_NATIVE_INT, H5T_STD_I32LE, {R}, layers.data());
  std::vector<double> t(R);
  for (hsize_t k = 0; k < R; ++k) t[k] = double(layers[k]) / spec.model.width;
  if (!r.record_times.empty()) t = r.record_times;
  h5::write_doubles(file.id, "t", {R}, t);

  std::vector<std::int64_t> members(R), nonfinite(R), overflow(R), blowup(R);
  const hsize_t mm = m * m;
  std::vector<double> gmean(R * mm), gvar(R * mm), rmean(R * mm), rvar(R * mm);
  for (hsize_t k = 0; k < R; ++k) {
    const LayerStatistics& L = st.per_layer()[k];
    members[k] = L.members;
    nonfinite[k] = L.nonfinite;
    overflow[k] = L.overflow;
    blowup[k] = L.blowup;
    for (hsize_t e = 0; e < mm; ++e) {
      gmean[k * mm + e] = L.gram[e].mean();
      gvar[k * mm + e] = L.gram[e].variance();
      rmean[k * mm + e] = L.rho[e].mean();
      rvar[k * mm + e] = L.rho[e].variance();
    }
  }
  h5::write_int64s(file.id, "members", {R}, members);
  h5::write_int64s(file.id, "nonfinite", {R}, nonfinite);
  h5::write_int64s(file.id, "overflow", {R}, overflow);
  h5::write_int64s(file.id, "blowup", {R}, blowup);
  h5::write_doubles(file.id, "gram_mean", {R, m, m}, gmean);
  h5::write_doubles(file.id, "gram_var", {R, m, m}, gvar);
  h5::write_doubles(file.id, "rho_mean", {R, m, m}, rmean);
  h5::write_doubles(file.id, "rho_var", {R, m, m}, rvar);

  // Quantiles over finite members (overflowing ones included: a quantile is
  // still meaningful for them). Symmetric, so each a <= b is computed once.
  std::vector<double> gq(R * Q * mm), rq(R * Q * mm);
  for (hsize_t k = 0; k < R; ++k)
    for (hsize_t q = 0; q < Q; ++q)
      for (hsize_t a = 0; a < m; ++a)
        for (hsize_t b = a; b < m; ++b) {
          const double level = spec.quantiles[q];
          const double g = st.quantile(int(k), int(a), int(b), level, false);
          const double c = a == b ? 1.0 : st.quantile(int(k), int(a), int(b), level, true);
          const hsize_t base = (k * Q + q) * mm;
          gq[base + a * m + b] = gq[base + b * m + a] = g;
          rq[base + a * m + b] = rq[base + b * m + a] = c;
        }
  h5::write_doubles(file.id, "gram_quantiles", {R, Q, m, m}, gq);
  h5::write_doubles(file.id, "rho_quantiles", {R, Q, m, m}, rq);
  h5::write_doubles(file.id, "quantile_levels", {Q}, spec.quantiles);
  for (const char* name : {"gram_quantiles", "rho_quantiles"}) {
    Id set(H5Dopen2(file.id, name, H5P_DEFAULT), H5Dclose, name);
    h5::attribute_doubles(set.id, "quantile_levels", spec.quantiles);
    // The stated error bound of sketch quantiles (0: exact quantiles).
    const bool exact = st.options().exact_quantiles;
    if (std::string(name) == "rho_quantiles")
      h5::attribute_f64(set.id, "max_abs_error", exact ? 0.0 : st.rho_quantile_error());
    else
      h5::attribute_f64(set.id, "max_rel_error", exact ? 0.0 : st.gram_quantile_error());
  }

  std::vector<std::int64_t> hist;
  hist.reserve(R * pairs * bins);
  for (hsize_t k = 0; k < R; ++k) {
    const auto& h = st.per_layer()[k].rho_histogram;
    hist.insert(hist.end(), h.begin(), h.end());
  }
  if (hist.size() != R * pairs * bins) throw Error("rho histogram has an unexpected size");
  h5::write_int64s(file.id, "rho_histogram", {R, pairs, bins}, hist);
  std::vector<double> edges(bins + 1);
  for (hsize_t i = 0; i <= bins; ++i) edges[i] = -1.0 + 2.0 * double(i) / double(bins);
  h5::write_doubles(file.id, "rho_histogram_edges", {bins + 1}, edges);

  h5::attribute_string(file.id, "version", kVersion);
  h5::attribute_u64(file.id, "seed", spec.seed);
  h5::attribute_u64(file.id, "ensemble_members", spec.members);
  h5::attribute_u64(file.id, "member_begin", spec.member_begin);
  h5::attribute_u64(file.id, "member_end", spec.end_member());
  h5::attribute_i32(file.id, "width", spec.model.width);
  h5::attribute_i32(file.id, "tokens", spec.model.tokens);
  h5::attribute_i32(file.id, "depth", spec.model.depth);
  h5::attribute_string(file.id, "model", model_kind_name(spec.model));
  h5::attribute_string(file.id, "device", r.device);
  h5::attribute_string(file.id, "sampler", r.sampler);

  StatsIdentity id;
  id.family = r.family;
  id.config = canonical_config(r, family_config).dump();
  id.seed = spec.seed;
  id.members = spec.members;
  id.member_begin = spec.member_begin;
  id.member_end = spec.end_member();
  id.device = r.device;
  id.sampler = r.sampler;
  write_statistics_state(file.id, id, st);
  h5::check(H5Fflush(file.id, H5F_SCOPE_GLOBAL), "flushing stats.h5");
}

nlohmann::json run_summary_json(const EnsembleResult& r) {
  using nlohmann::json;
  json j;
  j["version"] = kVersion;
  j["seed"] = r.spec.seed;
  j["config"] = run_spec_json(r.spec);
  j["device"] = r.device;
  j["sampler"] = r.sampler;
  if (!r.sampler_reason.empty()) j["sampler_reason"] = r.sampler_reason;
  j["chunk"] = r.chunk;
  j["threads"] = r.threads;
  j["timings"] = {{"simulate_s", r.seconds_simulate}, {"statistics_s", r.seconds_statistics}};
  j["members_range"] = {r.spec.member_begin, r.spec.end_member()};
  const EnsembleStatistics& st = r.stats;
  j["statistics_bytes"] = st.bytes();  // held at the end; the cap counts the worst case
  j["quantile_error_bound"] =
      st.options().exact_quantiles
          ? json{{"method", "exact (stored samples)"}}
          : json{{"method", "sketch"},
                 {"rho_max_abs_error", st.rho_quantile_error()},
                 {"gram_max_rel_error", st.gram_quantile_error()},
                 {"note",
                  "rho: grid of rho_quantile_bins cells on [-1, 1], error <= half a cell; V: "
                  "DDSketch, error <= quantile_accuracy * max(|x_lo|, |x_hi|) of the neighbouring "
                  "order statistics; |V| outside [2^-64, 2^64] reads as 0 / +-inf"}};
  json layers = json::array();
  std::int64_t nonfinite = 0, overflow = 0;
  for (const LayerStatistics& L : r.stats.per_layer()) {
    layers.push_back({{"layer", L.layer},
                      {"members", L.members},
                      {"nonfinite", L.nonfinite},
                      {"overflow", L.overflow}});
    nonfinite = std::max(nonfinite, L.nonfinite);
    overflow = std::max(overflow, L.overflow);
  }
  j["layers"] = layers;
  j["max_nonfinite"] = nonfinite;
  j["max_overflow"] = overflow;
  return j;
}

void write_run_output(const std::string& dir, bool force, const EnsembleResult& result,
                      const std::string& table) {
  StagedDirectory stage(dir, force);
  write_stats_h5(stage.file("stats.h5"), result);
  stage.write_text("summary.json", run_summary_json(result).dump(2) + "\n");
  stage.write_text("table.txt", table);
  stage.commit();
}

}  // namespace attnmc
