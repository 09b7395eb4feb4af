// `attnmc merge`: see merge_command.hpp.
#include "host/cli/merge_command.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "attnmc/error.hpp"
#include "host/cli/command.hpp"
#include "host/cli/oversmooth_command.hpp"
#include "host/cli/sphere_command.hpp"
#include "host/config.hpp"
#include "host/output.hpp"
#include "host/oversmoothing/oversmoothing_state.hpp"
#include "host/sphere_outcomes.hpp"
#include "host/stats_state.hpp"

namespace attnmc::cli {

MergeCommand::MergeCommand(CLI::App& app) {
  sub_ = app.add_subcommand("merge",
                            "Merge pieces of one ensemble (run/sde/sphere/oversmooth --range) into "
                            "the whole, to the bit");
  sub_->add_option("pieces", inputs_, "output directories (or stats.h5 files) of the pieces")
      ->required();
  sub_->add_option("--output,-o", output_, "output directory")->required();
  sub_->add_flag("--force", force_, "replace an existing attnmc output directory");
  sub_->add_flag("--quiet,-q", quiet_, "print nothing but errors");
}

void MergeCommand::execute() const {
  const std::string text = merge_pieces(inputs_, output_, force_);
  if (!quiet_) std::printf("%s", text.c_str());
}

std::string merge_pieces(const std::vector<std::string>& inputs, const std::string& output,
                         bool force) {
  // Oversmoothing pieces keep their metric statistics in /oversmoothing_state
  // (host/oversmoothing/oversmoothing_state.hpp): the family merges them.
  std::string oversmoothing, other;
  for (const std::string& in : inputs) (has_oversmoothing_state(in) ? oversmoothing : other) = in;
  if (!oversmoothing.empty()) {
    if (!other.empty())
      throw InputError("merge", "'" + other + "' and '" + oversmoothing +
                                    "' are different families (only the latter is oversmoothing)");
    return merge_oversmoothing_outputs(inputs, output, force);
  }
  // Sphere pieces carry their outcome counts (/sphere_outcomes): the family
  // merges them with the statistics and writes its own summary and table.
  std::string sphere, not_sphere;
  for (const std::string& in : inputs) (has_sphere_outcomes(in) ? sphere : not_sphere) = in;
  if (!sphere.empty()) {
    if (!not_sphere.empty())
      throw InputError("merge", "'" + not_sphere + "' has no sphere outcomes but '" + sphere +
                                    "' has (pieces of different families or versions)");
    return merge_sphere_outputs(inputs, output, force);
  }
  check_output_dir(output, force);
  std::vector<StatisticsState> pieces;
  for (const std::string& in : inputs) pieces.push_back(read_statistics_state(in));
  const StatisticsState merged = merge_states(pieces, inputs);
  EnsembleResult r;
  r.family = merged.id.family;
  r.device = merged.id.device;
  r.sampler = merged.id.sampler;
  r.stats = merged.stats;
  nlohmann::json config = nlohmann::json::parse(merged.id.config);
  nlohmann::json family = config.contains("family") ? config["family"] : nlohmann::json(nullptr);
  config.erase("family");
  r.spec = run_spec_from_json(config);
  r.spec.record_layers = merged.stats.layers();
  r.spec.member_begin = merged.id.member_begin;
  r.spec.member_end = merged.id.member_end;
  if (r.family != "run") r.record_times = merged.t;  // SDE/sphere records are steps: keep times
  std::string table;
  if (r.family == "run") {
    r.spec = resolve_run(r.spec);
    table = run_table(r);
  }
  StagedDirectory stage(output, force);
  write_stats_h5(stage.file("stats.h5"), r, family);
  nlohmann::json j = run_summary_json(r);
  j["merged_from"] = inputs;
  j.erase("timings");
  j.erase("chunk");
  j.erase("threads");
  stage.write_text("summary.json", j.dump(2) + "\n");
  if (!table.empty()) stage.write_text("table.txt", table);
  stage.commit();
  return table + format("merged %zu pieces: members [%llu, %llu) of %llu (written to %s)\n",
                        inputs.size(), static_cast<unsigned long long>(merged.id.member_begin),
                        static_cast<unsigned long long>(merged.id.member_end),
                        static_cast<unsigned long long>(merged.id.members), output.c_str());
}

}  // namespace attnmc::cli
