// The (N, d, beta) grid of sphere-model runs and its CSV table.
#include "host/sphere_sweep.hpp"

#include <chrono>
#include <iomanip>
#include <ostream>

#include "attnmc/error.hpp"

namespace attnmc {

std::uint64_t sweep_cell_seed(std::uint64_t base, int i_tokens, int i_dim, int i_beta) {
  // SplitMix64 finaliser of (base, position): distinct, well-mixed cell seeds.
  std::uint64_t z =
      base ^ (std::uint64_t(i_tokens) << 42) ^ (std::uint64_t(i_dim) << 21) ^ std::uint64_t(i_beta);
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double mean_clusters(const SphereResult& r) {
  double s = 0.0;
  std::int64_t n = 0;
  for (std::size_t k = 0; k < r.clusters.size(); ++k) {
    s += double(k) * double(r.clusters[k]);
    n += r.clusters[k];
  }
  return n > 0 ? s / double(n) : 0.0;
}

SphereFlowOutcome run_flow_beside(const SphereSpec& cell) {
  SphereSpec f = cell;
  f.scheme = SphereScheme::flow;
  f.noise = SphereNoise::matrix;
  f.record_every = 0;
  f.record_steps.clear();
  f.member_begin = f.member_end = 0;
  if (f.init != SphereInit::uniform) f.trajectories = 1;  // deterministic: one run
  const SphereResult fr = run_sphere(f);
  SphereFlowOutcome o;
  o.collapse = fr.collapse;
  o.antipodal = fr.antipodal;
  o.other = fr.other;
  o.nonfinite = fr.nonfinite;
  o.mean_clusters = mean_clusters(fr);
  return o;
}

SphereSweepResult run_sphere_sweep(const SphereSweepSpec& spec, const SweepProgress& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  if (spec.tokens.empty()) throw InputError("tokens", "the sweep needs at least one token count");
  if (spec.dims.empty()) throw InputError("dims", "the sweep needs at least one dimension");
  if (spec.betas.empty()) throw InputError("betas", "the sweep needs at least one beta");
  if (spec.base.scheme == SphereScheme::flow)
    throw InputError("scheme", "the sweep runs a noisy scheme (the flow runs beside it)");
  SphereSweepResult out;
  out.spec = spec;
  const std::size_t total = spec.tokens.size() * spec.dims.size() * spec.betas.size();
  for (std::size_t it = 0; it < spec.tokens.size(); ++it)
    for (std::size_t id = 0; id < spec.dims.size(); ++id)
      for (std::size_t ib = 0; ib < spec.betas.size(); ++ib) {
        SphereSweepCell cell;
        cell.tokens = spec.tokens[it];
        cell.dim = spec.dims[id];
        cell.beta = spec.betas[ib];
        cell.seed = sweep_cell_seed(spec.base.seed, int(it), int(id), int(ib));
        SphereSpec s = spec.base;
        s.tokens = cell.tokens;
        s.dim = cell.dim;
        s.beta = cell.beta;
        s.seed = cell.seed;
        cell.result = run_sphere(s);
        if (spec.flow) {
          const SphereFlowOutcome f = run_flow_beside(s);
          cell.has_flow = true;
          cell.flow_collapse = f.collapse;
          cell.flow_antipodal = f.antipodal;
          cell.flow_other = f.other;
          cell.flow_nonfinite = f.nonfinite;
          cell.flow_mean_clusters = f.mean_clusters;
        }
        out.cells.push_back(std::move(cell));
        if (progress) progress(out.cells.size(), total);
      }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

void write_sweep_csv(std::ostream& os, const SphereSweepResult& r, bool timing) {
  os << "tokens,dim,beta,sigma,horizon,steps,scheme,seed,trajectories,nonfinite,"
        "collapse,antipodal,other,p_collapse,se_collapse,lo_collapse,hi_collapse,"
        "p_antipodal,se_antipodal,lo_antipodal,hi_antipodal,p_other,se_other,"
        "mean_clusters,ip12_q10,ip12_q50,ip12_q90,"
        "flow_trajectories,flow_collapse,flow_antipodal,flow_other,flow_mean_clusters,seconds\n";
  os << std::setprecision(10);
  for (const SphereSweepCell& c : r.cells) {
    const SphereResult& x = c.result;
    const Proportion pc = x.p_collapse(), pa = x.p_antipodal(), po = x.p_other();
    const int last = int(x.stats.layers().size()) - 1;
    os << c.tokens << ',' << c.dim << ',' << c.beta << ',' << x.spec.sigma << ',' << x.spec.horizon
       << ',' << x.spec.steps << ',' << scheme_name(x.spec.scheme) << ',' << c.seed << ','
       << x.spec.trajectories << ',' << x.nonfinite << ',' << x.collapse << ',' << x.antipodal
       << ',' << x.other << ',' << pc.p() << ',' << pc.stderr_() << ',' << pc.wilson_lo() << ','
       << pc.wilson_hi() << ',' << pa.p() << ',' << pa.stderr_() << ',' << pa.wilson_lo() << ','
       << pa.wilson_hi() << ',' << po.p() << ',' << po.stderr_() << ',' << mean_clusters(x) << ','
       << x.stats.quantile(last, 0, 1, 0.1, false) << ','
       << x.stats.quantile(last, 0, 1, 0.5, false) << ','
       << x.stats.quantile(last, 0, 1, 0.9, false) << ',';
    if (c.has_flow)
      os << (c.flow_collapse + c.flow_antipodal + c.flow_other + c.flow_nonfinite) << ','
         << c.flow_collapse << ',' << c.flow_antipodal << ',' << c.flow_other << ','
         << c.flow_mean_clusters;
    else
      os << "0,,,,";
    os << ',';
    if (timing) os << x.seconds;
    os << '\n';
  }
}

}  // namespace attnmc
