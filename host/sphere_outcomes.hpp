// The sphere family's outcome counts in stats.h5 (group /sphere_outcomes):
// collapse / antipodal / other / non-finite trajectories, the cluster-count
// histogram, the largest norm error, and the resolved spec as summary.json
// gives it. They are sums (and a max) over trajectories, so pieces of one
// ensemble (`attnmc sphere --range`) add up to the whole: `attnmc merge`
// sums them beside the inner-product statistics and writes the whole run's
// summary.json and table.txt.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attnmc/sphere.hpp"

namespace attnmc {

struct SphereOutcomes {
  nlohmann::json spec;  // summary.json's "spec" of the piece
  std::int64_t collapse = 0, antipodal = 0, other = 0, nonfinite = 0;
  std::vector<std::int64_t> clusters;
  double max_norm_error = 0.0;
};

// Appends /sphere_outcomes to the stats.h5 at `path`.
void append_sphere_outcomes(const std::string& path, const SphereOutcomes& o);

// Whether `where` (an output directory or a stats.h5) has the group.
bool has_sphere_outcomes(const std::string& where);

SphereOutcomes read_sphere_outcomes(const std::string& where);

// The pieces' counts summed (clusters bin by bin, the norm error's max) and
// the spec of the whole: the member range the pieces cover together.
// Throws InputError("merge") when the specs differ other than in the range.
SphereOutcomes merge_sphere_outcomes(const std::vector<SphereOutcomes>& pieces,
                                     std::uint64_t member_begin, std::uint64_t member_end);

// A SphereSpec with the fields summary.json and table.txt print, from "spec".
SphereSpec sphere_spec_from_summary(const nlohmann::json& spec);

}  // namespace attnmc
