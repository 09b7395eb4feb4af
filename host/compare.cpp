// Finite networks vs the SDE (see compare.hpp).
#include "host/compare.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <limits>

#include "attnmc/error.hpp"

namespace attnmc {

double ks_distance(std::vector<double> a, std::vector<double> b) {
  if (a.empty() || b.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  const double na = double(a.size()), nb = double(b.size());
  std::size_t i = 0, j = 0;
  double d = 0.0;
  while (i < a.size() && j < b.size()) {
    const double x = std::min(a[i], b[j]);
    if (std::isinf(x)) break;  // the +inf tails: both CDFs jump to 1 there
    while (i < a.size() && a[i] == x) ++i;
    while (j < b.size() && b[j] == x) ++j;
    d = std::max(d, std::abs(double(i) / na - double(j) / nb));
  }
  // Finite mass left in one sample only.
  while (i < a.size() && std::isfinite(a[i])) ++i;
  while (j < b.size() && std::isfinite(b[j])) ++j;
  return std::max(d, std::abs(double(i) / na - double(j) / nb));
}

// W1 = integral |F_a - F_b| dx, by a merge of the sorted samples.
double wasserstein1(std::vector<double> a, std::vector<double> b) {
  if (a.empty() || b.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  const double na = double(a.size()), nb = double(b.size());
  std::size_t i = 0, j = 0;
  double w = 0.0, prev = std::min(a[0], b[0]);
  while (i < a.size() || j < b.size()) {
    const double x = j == b.size() || (i < a.size() && a[i] <= b[j]) ? a[i] : b[j];
    if (std::isinf(x)) break;
    w += std::abs(double(i) / na - double(j) / nb) * (x - prev);
    prev = x;
    while (i < a.size() && a[i] == x) ++i;
    while (j < b.size() && b[j] == x) ++j;
  }
  if (std::abs(double(i) / na - double(j) / nb) > 0) return std::numeric_limits<double>::infinity();
  return w;
}

namespace {

using Clock = std::chrono::steady_clock;

void require(bool ok, const char* parameter, const std::string& message) {
  if (!ok) throw InputError(parameter, message);
}

double slope(const std::vector<int>& widths, const std::vector<double>& d) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int k = 0;
  for (std::size_t i = 0; i < widths.size(); ++i) {
    if (!(d[i] > 0) || !std::isfinite(d[i])) continue;
    const double x = std::log(double(widths[i])), y = std::log(d[i]);
    sx += x, sy += y, sxx += x * x, sxy += x * y, ++k;
  }
  if (k < 2) return std::numeric_limits<double>::quiet_NaN();
  return (k * sxy - sx * sy) / (k * sxx - sx * sx);
}

// Quantiles of rho_ab / V_aa at every record, and the terminal rho samples.
void summarise(const EnsembleStatistics& st, const CompareSpec& s, CompareSeries& out) {
  const int R = int(st.layers().size());
  for (int r = 0; r < R; ++r) {
    std::vector<double> qr, qv;
    for (double q : s.quantiles) {
      qr.push_back(st.quantile(r, s.a, s.b, q, true));
      qv.push_back(st.quantile(r, s.a, s.a, q, false));
    }
    out.rho_q.push_back(qr);
    out.vaa_q.push_back(qv);
  }
  const LayerStatistics& last = st.per_layer().back();
  const int m = st.tokens();
  const std::size_t mm = std::size_t(m) * m;
  for (std::size_t i = 0; i < last.samples.size() / mm; ++i) {
    const float* g = last.samples.data() + i * mm;
    out.terminal_rho.push_back(std::isinf(g[0]) ? std::numeric_limits<double>::infinity()
                                                : correlation(g, m, s.a, s.b));
  }
  out.nonfinite = last.nonfinite;
  out.blowups = last.blowup;
}

}  // namespace

void validate_compare(const CompareSpec& s) {
  require(!s.widths.empty(), "compare.widths", "give at least one width");
  require(s.records >= 1, "compare.records", "must be >= 1");
  require(std::isfinite(s.horizon) && s.horizon > 0, "compare.horizon", "must be positive");
  require(s.sde_steps >= 0, "compare.sde_steps",
          "must be >= 0 (0: 4 steps per layer of the widest network), got " +
              std::to_string(s.sde_steps));
  // Checked before any network runs (0: 4 per layer, a multiple of records).
  require(s.sde_steps % s.records == 0, "compare.sde_steps",
          "must be a multiple of compare.records = " + std::to_string(s.records) + " (got " +
              std::to_string(s.sde_steps) + ")");
  const int m = s.model.tokens;
  require(m >= 2, "model.tokens",
          "compare needs at least two tokens (the correlation rho_ab of a pair), got m = " +
              std::to_string(m));
  for (int t : {s.a, s.b})
    require(
        t >= 0 && t < m, "compare.pair",
        "token " + std::to_string(t) + " is out of range for m = " + std::to_string(m) + " tokens");
  require(s.a != s.b, "compare.pair",
          "must name two different tokens (got " + std::to_string(s.a) + " twice)");
  for (std::size_t i = 0; i < s.widths.size(); ++i) {
    const int n = s.widths[i];
    require(n >= 2, "compare.widths", "widths must be >= 2 (got " + std::to_string(n) + ")");
    if (i > 0)
      require(n > s.widths[i - 1], "compare.widths",
              "entry " + std::to_string(i) + " (n = " + std::to_string(n) +
                  ") does not follow entry " + std::to_string(i - 1) +
                  " (n = " + std::to_string(s.widths[i - 1]) +
                  "): list the widths strictly increasing, without repeats");
    const double layers = s.horizon * n, per = layers / s.records;
    require(std::abs(per - std::round(per)) < 1e-9 && per >= 1, "compare.widths",
            "T n / records must be a whole number of layers for every width (n = " +
                std::to_string(n) + ")");
  }
}

SdeSpec compare_sde_spec(const CompareSpec& s) {
  SdeSpec sde;
  sde.model = s.model;
  sde.model.width = s.widths.back();
  sde.model.depth = int(std::llround(s.horizon * s.widths.back()));
  sde.input = s.input;
  sde.horizon = s.horizon;
  sde.steps = s.sde_steps > 0 ? s.sde_steps : 4 * std::int64_t(sde.model.depth);
  for (int j = 0; j <= s.records; ++j) sde.record_times.push_back(s.horizon * j / s.records);
  sde.trajectories = s.trajectories;
  sde.seed = s.seed;
  sde.device = s.device;
  sde.threads = s.threads;
  sde.quantiles = s.quantiles;
  sde.exact_quantiles = true;
  return sde;
}

CompareResult run_compare(const CompareSpec& in, const Progress& progress) {
  const auto t0 = Clock::now();
  validate_compare(in);
  CompareResult res;
  res.spec = in;
  CompareSpec& s = res.spec;
  for (int j = 0; j <= s.records; ++j) res.times.push_back(s.horizon * j / s.records);
  const std::uint64_t total = s.members * s.widths.size() + s.trajectories;
  std::uint64_t done = 0;

  for (int n : s.widths) {
    const auto tw = Clock::now();
    RunSpec run;
    run.model = s.model;
    run.model.width = n;
    run.model.depth = int(std::llround(s.horizon * n));
    run.input = s.input;
    run.members = s.members;
    run.exact_quantiles = true;  // the terminal samples give W1 and KS
    run.seed = s.seed + std::uint64_t(n);
    run.device = s.device;
    run.threads = s.threads;
    run.quantiles = s.quantiles;
    for (int j = 0; j <= s.records; ++j)
      run.record_layers.push_back(run.model.depth / s.records * j);
    run.sampler = s.sampler == Sampler::automatic ? Sampler::exact : s.sampler;
    EnsembleResult er;
    try {
      er = run_ensemble(run);
    } catch (const InputError& e) {
      if (s.sampler != Sampler::automatic) throw;
      run.sampler = Sampler::direct;  // the exact sampler does not cover this model
      er = run_ensemble(run);
    }
    CompareSeries cs;
    cs.label = "n=" + std::to_string(n);
    cs.width = n;
    cs.sampler = er.sampler;
    summarise(er.stats, s, cs);
    cs.seconds = std::chrono::duration<double>(Clock::now() - tw).count();
    res.series.push_back(std::move(cs));
    done += s.members;
    if (progress) progress(done, total);
  }

  const SdeSpec sde = compare_sde_spec(s);
  const SdeResult sr = run_sde(sde);
  CompareSeries cs;
  cs.label = "sde";
  cs.sampler = "euler";
  summarise(sr.stats, s, cs);
  cs.seconds = sr.seconds;
  res.series.push_back(std::move(cs));
  if (progress) progress(total, total);

  const std::vector<double>& ref = res.series.back().terminal_rho;
  // W1 between the finite parts (blown-up SDE paths have no rho; their
  // share is reported, and KS counts them as +inf).
  auto finite = [](const std::vector<double>& v) {
    std::vector<double> f;
    for (double x : v)
      if (std::isfinite(x)) f.push_back(x);
    return f;
  };
  const std::vector<double> ref_finite = finite(ref);
  for (std::size_t i = 0; i < s.widths.size(); ++i) {
    res.w1.push_back(wasserstein1(finite(res.series[i].terminal_rho), ref_finite));
    res.ks.push_back(ks_distance(res.series[i].terminal_rho, ref));
  }
  res.w1_slope = slope(s.widths, res.w1);
  res.ks_slope = slope(s.widths, res.ks);
  res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return res;
}

void write_compare_table(std::ostream& out, const CompareResult& r) {
  const CompareSpec& s = r.spec;
  out << std::fixed;
  for (int which = 0; which < 2; ++which) {
    out << (which == 0 ? "# quantiles of rho_" : "# quantiles of V_") << s.a
        << (which == 0 ? std::to_string(s.b) : std::to_string(s.a)) << " vs t = l / n\n";
    out << std::setw(8) << "t" << std::setw(8) << "source";
    for (double q : s.quantiles) out << std::setw(11) << ("q" + std::to_string(int(q * 100 + 0.5)));
    out << "\n";
    for (std::size_t j = 0; j < r.times.size(); ++j)
      for (const CompareSeries& c : r.series) {
        out << std::setw(8) << std::setprecision(4) << r.times[j] << std::setw(8) << c.label;
        const std::vector<double>& q = which == 0 ? c.rho_q[j] : c.vaa_q[j];
        for (double v : q) out << std::setw(11) << std::setprecision(5) << v;
        out << "\n";
      }
    out << "\n";
  }
  out << "# terminal rho law (t = T = " << s.horizon << ") vs the SDE's\n";
  out << std::setw(8) << "width" << std::setw(12) << "W1" << std::setw(12) << "KS" << std::setw(10)
      << "members" << std::setw(10) << "sampler"
      << "\n";
  for (std::size_t i = 0; i < s.widths.size(); ++i)
    out << std::setw(8) << s.widths[i] << std::setw(12) << std::setprecision(5) << r.w1[i]
        << std::setw(12) << r.ks[i] << std::setw(10) << s.members << std::setw(10)
        << r.series[i].sampler << "\n";
  out << "# log-log slope vs width: W1 " << std::setprecision(3) << r.w1_slope << ", KS "
      << r.ks_slope << "  (KS 5% critical value " << std::setprecision(4)
      << 1.36 * std::sqrt(1.0 / double(s.members) + 1.0 / double(s.trajectories)) << ")\n";
  const CompareSeries& sde = r.series.back();
  out << "# SDE: " << s.trajectories << " paths, " << sde.blowups << " blown up, " << sde.nonfinite
      << " non-finite\n";
}

}  // namespace attnmc
