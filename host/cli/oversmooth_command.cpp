// `attnmc oversmooth`: one ensemble of the oversmoothing family (models.md
// section 3; include/attnmc/oversmoothing.hpp), configured like every
// command ([model] [input] [ensemble] [run], host/oversmoothing/
// oversmoothing_config.hpp). Writes summary.json (resolved configuration,
// per-record metric statistics, the eigenvalue prediction against what the
// networks did), metrics.csv (one row per record and metric: what
// scripts/plot_oversmoothing.py reads), table.txt and, with Gram statistics,
// stats.h5.
#include "host/cli/oversmooth_command.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "attnmc/oversmoothing.hpp"
#include "attnmc/version.hpp"
#include "host/cli/command.hpp"
#include "host/mpi/split_ensemble.hpp"
#include "host/oversmoothing/oversmoothing_config.hpp"
#include "host/oversmoothing/oversmoothing_state.hpp"

namespace attnmc::cli {
namespace {

// The paper's "-" model (spectrum -psi^2 clipped into [-1, 0)) with a fixed
// random A and fixed H, no normalisation: sharpening, and the prediction
// checked network by network (depth 256: most networks have settled into
// their regime). About 3 s on 2 cores.
const char* const kDefaultOversmooth = R"(
[model]
tokens = 8
width = 16
depth = 256
spectrum = "minus"
eigvecs = "orthogonal"
attention = "random"
norm = "none"
[ensemble]
members = 500
seed = 1
record_every = 16
)";

nlohmann::json scalar_json(const ScalarStatistics& st, const std::vector<double>& qs) {
  nlohmann::json j = {{"count", st.count},
                      {"nonfinite", st.nonfinite},
                      {"infinite", st.infinite},
                      {"mean", st.mean()},
                      {"sd", st.stddev()}};
  for (double q : qs) j[format("q%g", 100 * q)] = st.quantile(q);
  return j;
}

double rate(std::int64_t a, std::int64_t b) { return b > 0 ? double(a) / double(b) : std::nan(""); }

std::string os_table(const OversmoothingResult& r, bool timing) {
  const OversmoothingSpec& s = r.spec;
  std::string t = format(
      "oversmooth: m=%d n=%d depth=%d spectrum=%s eigvecs=%s%s attention=%s%s norm=%s%s "
      "gain[0]=%g\n",
      s.tokens, s.width, s.depth, spectrum_name(s.spectrum), eigvecs_name(s.eigvecs),
      s.fresh_h ? " (fresh H)" : " (fixed H)", attention_name(s.attention),
      s.attention == OsAttentionKind::softmax
          ? (s.fresh_qk ? " (fresh W_Q,W_K)" : " (fixed W_Q,W_K)")
          : "",
      norm_name(s.norm),
      s.norm == NormPlacement::none ? "" : (s.norm_kind == NormKind::layer ? " LN" : " RMS"),
      s.gain[0]);
  t += format("networks=%llu seed=%llu device=%s%s%s",
              (unsigned long long)(s.end_member() - s.member_begin), (unsigned long long)s.seed,
              r.device.c_str(), r.threads > 0 ? format(" threads=%d", r.threads).c_str() : "",
              s.rescaled() ? " (linear model: X rescaled per layer)" : "");
  t += timing ? format("  %.2f s\n", r.seconds) : "\n";
  t += format("%6s %9s %9s %9s %9s %9s %9s %9s %9s %7s\n", "layer", "cos", "cos_q10", "cos_q90",
              "ncf", "ncf_q10", "ncf_q90", "erank", "growth", "nonfin");
  for (std::size_t k = 0; k < r.layers.size(); ++k) {
    const auto& M = r.metrics[k];
    t +=
        format("%6d %9.5f %9.5f %9.5f %9.3e %9.3e %9.3e %9.4f %9.5f %7lld\n", r.layers[k],
               M[kCosine].mean(), M[kCosine].quantile(0.1), M[kCosine].quantile(0.9),
               M[kNonConstant].mean(), M[kNonConstant].quantile(0.1), M[kNonConstant].quantile(0.9),
               M[kEffectiveRank].mean(), M[kLogGrowth].mean(), (long long)r.nonfinite[k]);
  }
  if (s.predictable()) {
    t += "prediction (eigenvalues 1 + a_i h_j of I + H^T (x) A, per network, double):\n";
    t += format("  predicted: smoothing %lld, sharpening %lld, oscillating %lld, degenerate %lld\n",
                (long long)r.predicted[0], (long long)r.predicted[1], (long long)r.predicted[2],
                (long long)r.predicted[3]);
    t += format("  observed at layer %d: smoothing %lld, sharpening %lld, other %lld\n", s.depth,
                (long long)r.observed[0], (long long)r.observed[1], (long long)r.observed[3]);
    t += format("  agreement %lld / %lld = %.4f%s\n", (long long)r.agree, (long long)r.compared,
                rate(r.agree, r.compared),
                s.norm == NormPlacement::none
                    ? ""
                    : "  (normalised model: the linear theory is a heuristic)");
    if (r.cosine_error.count > 0)
      t += format("  |cos_L - predicted limit|: median %.3e, q90 %.3e\n",
                  r.cosine_error.quantile(0.5), r.cosine_error.quantile(0.9));
    if (r.growth_error.count > 0)
      t += format("  |ln growth_L - ln max|1 + a h||: median %.3e, q90 %.3e\n",
                  r.growth_error.quantile(0.5), r.growth_error.quantile(0.9));
  }
  return t;
}

std::string metrics_csv(const OversmoothingResult& r) {
  std::string c = "layer,metric,count,nonfinite,mean,sd";
  for (double q : r.spec.quantiles) c += format(",q%g", 100 * q);
  c += "\n";
  for (std::size_t k = 0; k < r.layers.size(); ++k)
    for (int q = 0; q < kMetricCount; ++q) {
      const ScalarStatistics& st = r.metrics[k][q];
      c += format("%d,%s,%lld,%lld,%.10g,%.10g", r.layers[k], metric_name(q), (long long)st.count,
                  (long long)st.nonfinite, st.mean(), st.stddev());
      for (double level : r.spec.quantiles) c += format(",%.10g", st.quantile(level));
      c += "\n";
    }
  return c;
}

EnsembleResult as_ensemble(const OversmoothingResult& r) {
  const OversmoothingSpec& s = r.spec;
  EnsembleResult e;
  e.spec.model.tokens = s.tokens;
  e.spec.model.width = s.width;
  e.spec.model.depth = s.depth;
  e.spec.members = s.members;
  e.spec.seed = s.seed;
  e.spec.record_layers = s.record_layers;
  e.spec.histogram_bins = s.histogram_bins;
  e.spec.quantile_accuracy = s.quantile_accuracy;
  e.spec.quantiles = s.quantiles;
  e.spec.member_begin = s.member_begin;
  e.spec.member_end = s.member_end;
  e.spec.device = s.device;
  e.spec.threads = s.threads;
  e.family = "oversmoothing";
  e.device = r.device;
  e.sampler = "direct";
  e.sampler_reason = "the oversmoothing family has no Gram-chain law (weights are not i.i.d.)";
  e.chunk = r.chunk;
  e.threads = r.threads;
  e.stats = r.gram;
  e.seconds_simulate = r.seconds;
  return e;
}

}  // namespace

CommandResult write_oversmoothing_outputs(const OversmoothingResult& r, StagedDirectory& dir,
                                          const RunContext& cx, const nlohmann::json& extra) {
  const OversmoothingSpec& s = r.spec;
  nlohmann::json j;
  j["version"] = kVersion;
  j["family"] = "oversmoothing";
  j["sampler"] = "direct";
  j["config"] = oversmoothing_spec_json(s);
  j["device"] = r.device;
  j["threads"] = r.threads;
  j["chunk"] = r.chunk;
  j["seconds"] = r.seconds;
  j["rescaled_linear_model"] = s.rescaled();
  j["eigendecomposition"] = "host, double precision (Eigen), one network at a time";
  nlohmann::json recs = nlohmann::json::array();
  for (std::size_t k = 0; k < r.layers.size(); ++k) {
    nlohmann::json rec = {{"layer", r.layers[k]}, {"nonfinite", r.nonfinite[k]}};
    for (int q = 0; q < kMetricCount; ++q)
      rec[metric_name(q)] = scalar_json(r.metrics[k][q], s.quantiles);
    recs.push_back(rec);
  }
  j["records"] = recs;
  CommandResult out;
  if (s.predictable()) {
    j["prediction"] = {
        {"predicted",
         {{"smoothing", r.predicted[0]},
          {"sharpening", r.predicted[1]},
          {"oscillating", r.predicted[2]},
          {"degenerate", r.predicted[3]}}},
        {"observed",
         {{"smoothing", r.observed[0]}, {"sharpening", r.observed[1]}, {"other", r.observed[3]}}},
        {"agree", r.agree},
        {"compared", r.compared},
        {"agreement_rate", rate(r.agree, r.compared)},
        {"exact_theory", s.norm == NormPlacement::none},
        {"cosine_error", scalar_json(r.cosine_error, s.quantiles)},
        {"growth_error", scalar_json(r.growth_error, s.quantiles)},
        {"rule",
         "observed: smoothing if ncf_L < smooth_tol, sharpening if not and effective rank < 1 + "
         "rank_tol, else other; oscillating/degenerate predictions expect other"}};
    out.scalars["agreement_rate"] = rate(r.agree, r.compared);
    out.scalars["predicted_smoothing"] = r.predicted[0];
    out.scalars["predicted_sharpening"] = r.predicted[1];
    out.scalars["observed_smoothing"] = r.observed[0];
    out.scalars["observed_sharpening"] = r.observed[1];
  }
  out.table = os_table(r, cx.timing);
  const auto& last = r.metrics.back();
  out.scalars["cosine_L"] = last[kCosine].mean();
  out.scalars["nonconstant_L"] = last[kNonConstant].mean();
  out.scalars["nonconstant_q50_L"] = last[kNonConstant].quantile(0.5);
  out.scalars["effective_rank_L"] = last[kEffectiveRank].mean();
  out.scalars["nonfinite_L"] = r.nonfinite.back();
  out.members = s.end_member() - s.member_begin;
  // stats.h5: the Gram statistics (when kept) and the mergeable state.
  if (r.has_gram) {
    write_stats_h5(dir.file("stats.h5"), as_ensemble(r), j["config"]["model"]);
    append_oversmoothing_state(dir.file("stats.h5"), r);
  } else {
    write_oversmoothing_state_file(dir.file("stats.h5"), r);
  }
  for (const auto& [key, value] : extra.items()) {
    if (value.is_null())
      j.erase(key);
    else
      j[key] = value;
  }
  write_summary(dir, j, cx);
  dir.write_text("metrics.csv", metrics_csv(r));
  dir.write_text("table.txt", out.table);
  if (last[kCosine].count == 0)
    out.failure = format("every one of the %llu networks is non-finite at layer %d",
                         (unsigned long long)out.members, s.depth);
  return out;
}

namespace {

CommandResult oversmooth_one(const ConfigSource& src, StagedDirectory& dir, const RunContext& cx) {
  return write_oversmoothing_outputs(
      mpi::run_oversmoothing(cx.world, load_oversmoothing_spec(src), cx.progress, cx.scale_out),
      dir, cx);
}

}  // namespace

std::string merge_oversmoothing_outputs(const std::vector<std::string>& inputs,
                                        const std::string& output, bool force) {
  check_output_dir(output, force);
  std::vector<OversmoothingPiece> pieces;
  for (const std::string& in : inputs) pieces.push_back(read_oversmoothing_state(in));
  OversmoothingResult r = merge_oversmoothing_pieces(std::move(pieces), inputs);
  r.threads = 0;  // how the pieces ran is not part of the result
  r.seconds = 0;
  RunContext cx;
  cx.timing = false;
  StagedDirectory stage(output, force);
  const CommandResult out = write_oversmoothing_outputs(
      r, stage, cx, {{"merged_from", inputs}, {"threads", nullptr}, {"chunk", nullptr}});
  stage.commit();
  return out.table + format(
                         "merged %zu oversmoothing pieces: members [%llu, %llu) of %llu "
                         "(written to %s)\n",
                         inputs.size(), (unsigned long long)r.spec.member_begin,
                         (unsigned long long)r.spec.end_member(),
                         (unsigned long long)r.spec.members, output.c_str());
}

Command oversmooth_command() {
  Command c;
  c.name = "oversmooth";
  c.help =
      "Oversmoothing vs sharpening: residual attention with a prescribed value spectrum "
      "(models.md section 3)";
  c.default_output = "out/oversmooth";
  c.builtin = kDefaultOversmooth;
  c.aliases = {
      {"--tokens,-m", "model.tokens", "tokens m"},
      {"--width,-n", "model.width", "width n"},
      {"--depth,-L", "model.depth", "layers"},
      {"--spectrum", "model.spectrum", "list | range | uniform | minus | plus | file"},
      {"--lambdas", "model.lambdas", "eigenvalues of H (spectrum = list): one or n values",
       FlagAlias::Kind::list},
      {"--eigvecs", "model.eigvecs", "orthogonal (H symmetric) | gaussian | file"},
      {"--attention", "model.attention", "softmax | random | circulant | file"},
      {"--norm", "model.norm", "none | post | pre"},
      {"--gain", "model.gain", "normalisation gain (one value for all features)"},
      {"--fresh-h", "model.fresh_h", "H afresh at every layer", FlagAlias::Kind::flag},
      {"--fresh-qk", "model.fresh_qk", "W_Q, W_K afresh at every layer", FlagAlias::Kind::flag},
      {"--chunk", "ensemble.chunk", "networks per chunk (0: fit the memory cap)"},
  };
  c.validate = [](const ConfigSource& src) {
    const OversmoothingSpec s = resolve_oversmoothing(load_oversmoothing_spec(src));
    return s.end_member() - s.member_begin;
  };
  c.run = oversmooth_one;
  c.scale_out = true;  // split over the ranks of mpirun (host/mpi/split_ensemble.hpp)
  return c;
}

}  // namespace attnmc::cli
