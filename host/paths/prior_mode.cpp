// run.mode = prior: the closed-form prior kernel K_GP over every train and
// test sequence (and, next, the Monte Carlo over random networks against it).
#include <cmath>
#include <nlohmann/json.hpp>

#include "attnmc/version.hpp"
#include "host/hdf5_file.hpp"
#include "host/paths/paths_config.hpp"
#include "host/paths/paths_modes.hpp"

namespace attnmc::paths {
namespace {

void write_kernels_h5(const std::string& path, const ModeInput& in, const std::vector<double>& G,
                      const std::vector<double>& K) {
  using h5::Id;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  Id fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose, "file creation properties");
  h5::check(H5Pset_obj_track_times(fcpl.id, false), "root group times");
  Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.id, H5P_DEFAULT), H5Fclose,
          "creating paths.h5");
  const hsize_t M = hsize_t(in.task.sequences()), Pp = hsize_t(in.spec.paths());
  h5::write_doubles(file.id, "k_gp", {M, M}, K);
  h5::write_doubles(file.id, "overlaps", {M, M, Pp, Pp}, G);
  h5::write_doubles(file.id, "labels", {M}, in.task.y);
  h5::attribute_i32(file.id, "train", in.task.train);
  h5::attribute_i32(file.id, "test", in.task.test);
  h5::attribute_string(file.id, "version", kVersion);
}

cli::CommandResult run_prior(const ModeInput& in, StagedDirectory& dir, const cli::RunContext& cx) {
  const int M = in.task.sequences();
  const std::vector<double> G = path_overlaps(in.spec, in.task);
  const std::vector<double> K = gp_kernel(in.spec, G, M);
  nlohmann::json j;
  j["version"] = kVersion;
  j["family"] = "paths";
  j["mode"] = "prior";
  j["config"] = paths_spec_json(in.spec);
  j["sequences"] = {{"train", in.task.train},
                    {"test", in.task.test},
                    {"n_in", in.task.n_in},
                    {"tokens", in.task.columns}};
  j["paths"] = in.spec.paths();
  write_kernels_h5(dir.file("paths.h5"), in, G, K);
  cli::write_summary(dir, j, cx);
  cli::CommandResult out;
  out.table =
      cli::format("paths prior: %d sequences, %d paths, K_GP written\n", M, in.spec.paths());
  dir.write_text("table.txt", out.table);
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
