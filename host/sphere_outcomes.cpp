#include "host/sphere_outcomes.hpp"

#include <hdf5.h>

#include <algorithm>

#include "attnmc/error.hpp"
#include "host/hdf5_file.hpp"
#include "host/stats_state.hpp"

namespace attnmc {
namespace {
constexpr const char* kGroup = "sphere_outcomes";
}

void append_sphere_outcomes(const std::string& path, const SphereOutcomes& o) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  h5::Id file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose, "opening stats.h5");
  h5::Id g(h5::create_group(file.id, kGroup), H5Gclose, kGroup);
  h5::attribute_string(g.id, "spec", o.spec.dump());
  h5::write_int64s(g.id, "counts", {4}, {o.collapse, o.antipodal, o.other, o.nonfinite});
  h5::write_int64s(g.id, "clusters", {hsize_t(o.clusters.size())}, o.clusters);
  h5::attribute_f64(g.id, "max_norm_error", o.max_norm_error);
  h5::check(H5Fflush(file.id, H5F_SCOPE_GLOBAL), "flushing stats.h5");
}

bool has_sphere_outcomes(const std::string& where) { return stats_file_has_group(where, kGroup); }

SphereOutcomes read_sphere_outcomes(const std::string& where) {
  std::string path;
  const h5::Id file = open_stats_file(where, &path);
  h5::Id g(H5Gopen2(file.id, kGroup, H5P_DEFAULT), H5Gclose, path + ": " + kGroup);
  SphereOutcomes o;
  o.spec = nlohmann::json::parse(h5::read_attribute_string(g.id, "spec"));
  const std::vector<std::int64_t> c = h5::read_int64s(g.id, "counts");
  if (c.size() != 4) throw InputError("merge", path + ": /sphere_outcomes/counts is not 4 counts");
  o.collapse = c[0], o.antipodal = c[1], o.other = c[2], o.nonfinite = c[3];
  o.clusters = h5::read_int64s(g.id, "clusters");
  o.max_norm_error = h5::read_attribute_f64(g.id, "max_norm_error");
  return o;
}

SphereOutcomes merge_sphere_outcomes(const std::vector<SphereOutcomes>& pieces,
                                     std::uint64_t member_begin, std::uint64_t member_end) {
  SphereOutcomes out;
  auto without_range = [](nlohmann::json s) {
    s.erase("member_begin");
    s.erase("member_end");
    return s;
  };
  for (const SphereOutcomes& p : pieces) {
    if (without_range(p.spec) != without_range(pieces.front().spec))
      throw InputError("merge", "the sphere pieces' specs differ: " + p.spec.dump() + " vs " +
                                    pieces.front().spec.dump());
    out.collapse += p.collapse, out.antipodal += p.antipodal, out.other += p.other;
    out.nonfinite += p.nonfinite;
    out.clusters.resize(std::max(out.clusters.size(), p.clusters.size()), 0);
    for (std::size_t k = 0; k < p.clusters.size(); ++k) out.clusters[k] += p.clusters[k];
    out.max_norm_error = std::max(out.max_norm_error, p.max_norm_error);
  }
  out.spec = pieces.front().spec;
  out.spec["member_begin"] = member_begin;
  out.spec["member_end"] = member_end;
  return out;
}

SphereSpec sphere_spec_from_summary(const nlohmann::json& j) {
  SphereSpec s;
  s.tokens = j.at("tokens").get<int>();
  s.dim = j.at("dim").get<int>();
  s.scheme = parse_scheme(j.at("scheme").get<std::string>());
  s.noise =
      j.at("noise").get<std::string>() == "matrix" ? SphereNoise::matrix : SphereNoise::reduced;
  s.beta = j.at("beta").get<double>();
  s.sigma = j.at("sigma").get<double>();
  s.horizon = j.at("horizon").get<double>();
  s.steps = j.at("steps").get<std::int64_t>();
  s.dt = j.at("dt").get<double>();
  s.trajectories = j.at("trajectories").get<std::uint64_t>();
  s.member_begin = j.at("member_begin").get<std::uint64_t>();
  s.member_end = j.at("member_end").get<std::uint64_t>();
  s.seed = j.at("seed").get<std::uint64_t>();
  s.eps = j.at("eps").get<double>();
  const std::string init = j.at("init").get<std::string>();
  s.init = init == "uniform"  ? SphereInit::uniform
           : init == "tokens" ? SphereInit::tokens
                              : SphereInit::rho0;
  s.rho0 = j.at("rho0").get<double>();
  s.qk = j.at("qk").get<std::vector<double>>();
  return s;
}

}  // namespace attnmc
