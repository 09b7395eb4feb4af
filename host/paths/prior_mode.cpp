// run.mode = prior: the Monte Carlo over random networks
// (host/paths/prior_engine.hpp) against the closed-form prior kernel K_GP.
// Writes paths.h5 (K_GP, K_MC and its standard errors over every train and
// test sequence; the path-pair kernels and the overlaps G on the first
// ensemble.path_sequences sequences), summary.json and table.txt.
#include <cmath>
#include <nlohmann/json.hpp>

#include "attnmc/version.hpp"
#include "host/hdf5_file.hpp"
#include "host/paths/paths_config.hpp"
#include "host/paths/paths_modes.hpp"
#include "host/paths/prior_engine.hpp"

namespace attnmc::paths {
namespace {

void write_paths_h5(const std::string& path, const ModeInput& in, const PathsPriorResult& r) {
  using h5::Id;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  Id fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose, "file creation properties");
  h5::check(H5Pset_obj_track_times(fcpl.id, false), "root group times");
  Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.id, H5P_DEFAULT), H5Fclose,
          "creating paths.h5");
  const hsize_t M = hsize_t(r.sequences), n = hsize_t(r.path_sequences), Pp = hsize_t(r.paths);
  h5::write_doubles(file.id, "k_gp", {M, M}, r.k_gp);
  h5::write_doubles(file.id, "k_mc", {M, M}, r.k_mc);
  h5::write_doubles(file.id, "k_mc_se", {M, M}, r.k_mc_se);
  h5::write_doubles(file.id, "f_mean", {M}, r.f_mean);
  h5::write_doubles(file.id, "f_mean_se", {M}, r.f_mean_se);
  h5::write_doubles(file.id, "path_kernel_gp", {n, n, Pp, Pp}, r.pp_gp);
  h5::write_doubles(file.id, "path_kernel_mc", {n, n, Pp, Pp}, r.pp_mc);
  h5::write_doubles(file.id, "path_kernel_mc_se", {n, n, Pp, Pp}, r.pp_mc_se);
  h5::write_doubles(file.id, "overlaps", {n, n, Pp, Pp},
                    path_overlaps(in.spec, in.task, r.path_sequences));
  h5::write_doubles(file.id, "labels", {M}, in.task.y);
  h5::attribute_i32(file.id, "train", in.task.train);
  h5::attribute_i32(file.id, "test", in.task.test);
  h5::attribute_u64(file.id, "networks", r.networks);
  h5::attribute_u64(file.id, "seed", in.spec.seed);
  h5::attribute_string(file.id, "version", kVersion);
}

nlohmann::json estimate_json(const ScalarEstimate& e, double expected) {
  return {{"mean", e.mean}, {"se", e.se}, {"expected", expected}, {"z", e.z(expected)}};
}

cli::CommandResult run_prior(const ModeInput& in, StagedDirectory& dir, const cli::RunContext& cx) {
  const PathsPriorResult r = run_paths_prior(in.spec, in.task, cx.progress);
  const double tol = in.spec.z_tolerance;
  nlohmann::json j = mode_summary("prior", in.spec);
  j["sequences"] = {{"train", in.task.train},
                    {"test", in.task.test},
                    {"n_in", in.task.n_in},
                    {"tokens", in.task.columns},
                    {"path_sequences", r.path_sequences}};
  j["paths"] = r.paths;
  j["networks"] = r.networks;
  j["nonfinite"] = r.nonfinite;
  j["device"] = r.device;
  j["threads"] = r.threads;
  j["chunk"] = r.chunk;
  j["seconds"] = r.seconds;
  nlohmann::json per_path = nlohmann::json::array(), cross = nlohmann::json::array();
  for (const ScalarEstimate& e : r.path_alignment) per_path.push_back(estimate_json(e, 1.0));
  for (const ScalarEstimate& e : r.cross_alignment) cross.push_back(estimate_json(e, 0.0));
  int worst = 0;
  double worst_z = std::fabs(r.alignment.z(1.0));
  for (const ScalarEstimate& e : r.path_alignment) worst_z = std::max(worst_z, std::fabs(e.z(1.0)));
  for (const ScalarEstimate& e : r.cross_alignment)
    worst_z = std::max(worst_z, std::fabs(e.z(0.0)));
  worst = worst_z > tol;
  j["comparison"] = {
      {"alignment", estimate_json(r.alignment, 1.0)},
      {"path_alignment", per_path},
      {"cross_alignment", cross},
      {"distance", r.distance},
      {"noise_floor", r.noise_floor},
      {"mean_z2", r.mean_z2},
      {"max_abs_z", r.max_abs_z},
      {"z_tolerance", tol},
      {"agree", worst == 0},
      {"rule",
       "alignment: per network f^T K_GP f / |K_GP|_F^2 (mean 1 exactly when E f f^T = K_GP); "
       "path_alignment: f_p^T K_p f_p / |K_p|^2 (mean 1); cross_alignment (pairs p < q, "
       "row-major, on the first path_sequences sequences): f_p^T (K_p + K_q) f_q / (|K_p|^2 + "
       "|K_q|^2) (mean 0); agree: every |z| <= z_tolerance. distance: |K_MC - K_GP|_F / "
       "|K_GP|_F; noise_floor: what Monte Carlo noise alone gives, sqrt(sum se^2) / |K_GP|_F"}};
  write_paths_h5(dir.file("paths.h5"), in, r);
  cli::write_summary(dir, j, cx);
  cli::CommandResult out;
  out.table = cli::format(
      "paths prior: %d sequences (%d train, %d test), %d paths, widths %s, %llu networks%s\n",
      r.sequences, in.task.train, in.task.test, r.paths,
      nlohmann::json(in.spec.widths).dump().c_str(), (unsigned long long)r.networks,
      cx.timing ? cli::format("  %.2f s", r.seconds).c_str() : "");
  out.table += cli::format("  alignment  E f^T K_GP f / |K_GP|^2 = %.5f +- %.5f (1)\n",
                           r.alignment.mean, r.alignment.se);
  for (std::size_t p = 0; p < r.path_alignment.size(); ++p)
    out.table += cli::format("  path %2zu    E f_p^T K_p f_p / |K_p|^2 = %.5f +- %.5f (1)\n", p,
                             r.path_alignment[p].mean, r.path_alignment[p].se);
  out.table += cli::format("  |K_MC - K_GP| / |K_GP| = %.4f (noise floor %.4f), mean z^2 %.3f\n",
                           r.distance, r.noise_floor, r.mean_z2);
  out.table += cli::format("  %s (every |z| <= %g; non-finite networks %llu)\n",
                           worst == 0 ? "agree" : "DISAGREE", tol, (unsigned long long)r.nonfinite);
  dir.write_text("table.txt", out.table);
  out.members = r.networks;
  out.scalars["alignment"] = r.alignment.mean;
  out.scalars["alignment_se"] = r.alignment.se;
  out.scalars["distance"] = r.distance;
  out.scalars["noise_floor"] = r.noise_floor;
  out.scalars["nonfinite"] = r.nonfinite;
  if (r.nonfinite == r.networks) out.failure = "every network's output is non-finite";
  return out;
}

}  // namespace

Mode prior_mode() {
  Mode m;
  m.name = "prior";
  m.help = "prior Monte Carlo over random networks against the exact K_GP";
  m.check = [](const ModeInput& in) { return in.spec.members; };
  m.run = run_prior;
  return m;
}

}  // namespace attnmc::paths
