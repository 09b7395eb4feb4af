// `attnmc run`: one ensemble of finite networks from the run configuration
// (host/config.hpp), its table against depth and its output directory.
#include <cmath>

#include "attnmc/engine.hpp"
#include "attnmc/version.hpp"
#include "host/cli/command.hpp"
#include "host/config.hpp"
#include "host/mpi/split_ensemble.hpp"

namespace attnmc::cli {
namespace {

// The default experiment: a shaped-attention ensemble that runs in about a
// minute on two CPU cores (sampler "auto" picks the exact Gram chain, whose
// cost does not grow with width; statistics stream into sketches, so memory
// does not grow with the number of networks).
const char* const kDefaultRun = R"(
[model]
preset = "shaped"
width = 256
tokens = 4
depth = 256
[input]
rho0 = 0.5
[ensemble]
members = 100000
seed = 1
chunk = 5000
)";

// About `count` record indices spread over [0, R), always the first and last.
std::vector<int> table_rows(int records, int count) {
  std::vector<int> rows;
  for (int i = 0; i < count; ++i) {
    const int r = int(std::lround(double(i) * (records - 1) / std::max(1, count - 1)));
    if (rows.empty() || rows.back() != r) rows.push_back(r);
  }
  return rows;
}

// The last record's headline numbers (cells.csv of a sweep).
nlohmann::json run_scalars(const EnsembleResult& r) {
  const EnsembleStatistics& st = r.stats;
  const int k = int(st.layers().size()) - 1;
  const LayerStatistics& L = st.per_layer()[k];
  const int m = r.spec.model.tokens;
  nlohmann::json j;
  j["layer"] = L.layer;
  j["members"] = L.members;
  j["nonfinite"] = L.nonfinite;
  j["overflow"] = L.overflow;
  if (m > 1) {
    j["rho01_mean"] = L.rho[1].mean();
    j["rho01_sd"] = L.rho[1].stddev();
    for (double q : r.spec.quantiles)
      j[format("rho01_q%g", 100 * q)] = st.quantile(k, 0, 1, q, true);
    j["rho_pairs_mean"] = mean_pair_rho(L, m);
  }
  j["V00_mean"] = L.gram[0].mean();
  for (double q : r.spec.quantiles) j[format("V00_q%g", 100 * q)] = st.quantile(k, 0, 0, q, false);
  return j;
}

CommandResult run_one(const ConfigSource& src, StagedDirectory& dir, const RunContext& cx) {
  const RunSpec spec = load_resolved_run_spec(src);
  const EnsembleResult r = mpi::run_ensemble(cx.world, spec, cx.progress, cx.scale_out);
  CommandResult out;
  out.table = run_table(r, cx.timing);
  out.scalars = run_scalars(r);
  out.failure = all_nonfinite_failure(r.stats, "networks");
  out.members = spec.end_member() - spec.member_begin;
  write_stats_h5(dir.file("stats.h5"), r);
  write_summary(dir, run_summary_json(r), cx);
  dir.write_text("table.txt", out.table);
  return out;
}

}  // namespace

double mean_pair_rho(const LayerStatistics& L, int m) {
  double sum = 0;
  int pairs = 0;
  for (int a = 0; a < m; ++a)
    for (int b = a + 1; b < m; ++b, ++pairs) sum += L.rho[std::size_t(a) * m + b].mean();
  return pairs > 0 ? sum / pairs : std::nan("");
}

std::string input_description(const RunSpec& s) {
  switch (s.input.kind) {
    case InputSpec::Kind::correlation:
      return format("rho0=%g", s.input.rho0);
    case InputSpec::Kind::gram:
      return "gram matrix";
    default:
      return "tokens from " + s.input.source;
  }
}

// The printed table: correlation rho_01 (and the mean over pairs when m > 2)
// and the diagonal V_00 at a handful of depths, with excluded-member counts.
std::string run_table(const EnsembleResult& r, bool timing) {
  const RunSpec& s = r.spec;
  const EnsembleStatistics& st = r.stats;
  const int m = s.model.tokens;
  std::string out;
  out +=
      format("attnmc %s: model %s, width n=%d, tokens m=%d, depth d=%d (T=d/n=%g), heads %d, %s\n",
             kVersion, model_kind_name(s.model).c_str(), s.model.width, m, s.model.depth,
             double(s.model.depth) / s.model.width, s.model.heads, input_description(s).c_str());
  out += format("members %llu, seed %llu, device %s, sampler %s, ",
                static_cast<unsigned long long>(s.members), static_cast<unsigned long long>(s.seed),
                r.device.c_str(), r.sampler.c_str());
  if (r.chunk == 0)  // nothing ran: the statistics of pieces, merged
    out += format("merged: members [%llu, %llu)\n", static_cast<unsigned long long>(s.member_begin),
                  static_cast<unsigned long long>(s.end_member()));
  else if (timing)
    out +=
        format("%d threads, chunk %llu; %.2f s simulate + %.2f s statistics\n", r.threads,
               static_cast<unsigned long long>(r.chunk), r.seconds_simulate, r.seconds_statistics);
  else
    out += format("%d threads, chunk %llu\n", r.threads, static_cast<unsigned long long>(r.chunk));
  const bool pairs = m > 1, many = m > 2;
  std::string head = format("%6s %7s", "layer", "t");
  if (pairs) head += format(" | %8s %8s %8s %8s %8s", "rho01", "sd", "q10", "q50", "q90");
  if (many) head += format(" | %9s", "rho(pairs)");
  head += format(" | %9s %9s %9s %9s %9s", "V00", "sd", "q10", "q50", "q90");
  head += format(" | %9s %9s\n", "nonfinite", "overflow");
  out += head;
  out += std::string(head.size() - 1, '-') + "\n";
  for (int k : table_rows(int(st.layers().size()), 9)) {
    const LayerStatistics& L = st.per_layer()[k];
    out += format("%6d %7.3f", L.layer, double(L.layer) / s.model.width);
    if (pairs) {
      const Moments& rho = L.rho[1];
      out += format(" | %8.4f %8.4f %8.4f %8.4f %8.4f", rho.mean(), rho.stddev(),
                    st.quantile(k, 0, 1, 0.1, true), st.quantile(k, 0, 1, 0.5, true),
                    st.quantile(k, 0, 1, 0.9, true));
    }
    if (many) out += format(" | %10.4f", mean_pair_rho(L, m));
    const Moments& v = L.gram[0];
    out += format(" | %9.4g %9.4g %9.4g %9.4g %9.4g", v.mean(), v.stddev(),
                  st.quantile(k, 0, 0, 0.1, false), st.quantile(k, 0, 0, 0.5, false),
                  st.quantile(k, 0, 0, 0.9, false));
    out += format(" | %9lld %9lld\n", static_cast<long long>(L.nonfinite),
                  static_cast<long long>(L.overflow));
  }
  return out;
}

Command run_command() {
  Command c;
  c.name = "run";
  c.help = "Run one ensemble of finite networks (built-in shaped-attention experiment)";
  c.default_output = "out/default";
  c.builtin = kDefaultRun;
  c.validate = [](const ConfigSource& src) {
    const RunSpec s = load_resolved_run_spec(src);
    return s.end_member() - s.member_begin;
  };
  c.run = run_one;
  c.scale_out = true;
  return c;
}

}  // namespace attnmc::cli
