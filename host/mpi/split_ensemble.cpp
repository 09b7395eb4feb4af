// See split_ensemble.hpp.
#include "host/mpi/split_ensemble.hpp"

#include <hdf5.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>

#include "attnmc/error.hpp"
#include "host/chunking.hpp"
#include "host/hdf5_file.hpp"
#include "host/mpi/agree.hpp"
#include "host/mpi/fault_injection.hpp"
#include "host/mpi/world.hpp"
#include "host/oversmoothing/oversmoothing_state.hpp"
#include "host/stats_state.hpp"

namespace attnmc::mpi {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// ---------------------------------------------------------------- state bytes
// The statistics as the state group of stats.h5 (host/stats_state.hpp) in an
// HDF5 file image: the format `attnmc merge` reads, kept in memory.
constexpr const char* kImageName = "attnmc-rank-statistics";

struct Fapl {
  hid_t id = H5Pcreate(H5P_FILE_ACCESS);
  Fapl() {
    if (id < 0 || H5Pset_fapl_core(id, 1 << 20, /*backing_store=*/0) < 0)
      throw Error("HDF5: in-memory file access failed");
  }
  ~Fapl() { H5Pclose(id); }
};

std::string pack_statistics(const EnsembleStatistics& stats) {
  Fapl fapl;
  h5::Id file(H5Fcreate(kImageName, H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id), H5Fclose,
              "in-memory statistics file");
  h5::write_doubles(file.id, "t", {0}, {});
  write_statistics_state(file.id, StatsIdentity{}, stats);
  h5::check(H5Fflush(file.id, H5F_SCOPE_LOCAL), "flushing in-memory statistics");
  const ssize_t n = H5Fget_file_image(file.id, nullptr, 0);
  if (n < 0) throw Error("HDF5: statistics file image failed");
  std::string bytes(std::size_t(n), '\0');
  if (H5Fget_file_image(file.id, bytes.data(), std::size_t(n)) != n)
    throw Error("HDF5: statistics file image failed");
  return bytes;
}

EnsembleStatistics unpack_statistics(const std::string& bytes, int rank) {
  Fapl fapl;
  h5::check(H5Pset_file_image(fapl.id, const_cast<char*>(bytes.data()), bytes.size()),
            "in-memory statistics image");
  h5::Id file(H5Fopen(kImageName, H5F_ACC_RDONLY, fapl.id), H5Fclose,
              "statistics of rank " + std::to_string(rank));
  return read_statistics_state_at(file.id, "statistics of rank " + std::to_string(rank)).stats;
}

// An oversmoothing result's state (with its Gram statistics) as an HDF5
// image, hex-coded to travel in a piece's JSON.
std::string pack_oversmoothing(const OversmoothingResult& r) {
  Fapl fapl;
  h5::Id file(H5Fcreate(kImageName, H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id), H5Fclose,
              "in-memory oversmoothing state");
  if (r.has_gram) {
    h5::write_doubles(file.id, "t", {0}, {});
    write_statistics_state(file.id, StatsIdentity{}, r.gram);
  }
  write_oversmoothing_state(file.id, r);
  h5::check(H5Fflush(file.id, H5F_SCOPE_LOCAL), "flushing in-memory oversmoothing state");
  const ssize_t n = H5Fget_file_image(file.id, nullptr, 0);
  if (n < 0) throw Error("HDF5: oversmoothing state image failed");
  std::string bytes(std::size_t(n), '\0');
  if (H5Fget_file_image(file.id, bytes.data(), std::size_t(n)) != n)
    throw Error("HDF5: oversmoothing state image failed");
  static const char* const digits = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * bytes.size());
  for (unsigned char c : bytes) hex += digits[c >> 4], hex += digits[c & 15];
  return hex;
}

OversmoothingResult unpack_oversmoothing(const std::string& hex, int rank) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string bytes(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = char(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  Fapl fapl;
  h5::check(H5Pset_file_image(fapl.id, bytes.data(), bytes.size()),
            "in-memory oversmoothing image");
  const std::string name = "oversmoothing state of rank " + std::to_string(rank);
  h5::Id file(H5Fopen(kImageName, H5F_ACC_RDONLY, fapl.id), H5Fclose, name);
  return read_oversmoothing_state_at(file.id, name).result;
}

// ---------------------------------------------------------------- messages
// 'E' (empty share), 'F' + outcome (failed), 'K' + u64 length + meta JSON + state image.
std::string pack_piece(const json& meta, const EnsembleStatistics& stats) {
  const std::string m = meta.dump();
  const std::uint64_t n = m.size();
  std::string out = "K";
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  return out + m + pack_statistics(stats);
}

struct Piece {
  json meta;
  EnsembleStatistics stats;
};

Piece unpack_piece(const std::string& bytes, int rank) {
  std::uint64_t n = 0;
  if (bytes.size() < 1 + sizeof n)
    throw Error("mpi: truncated message from rank " + std::to_string(rank));
  std::memcpy(&n, bytes.data() + 1, sizeof n);
  Piece p;
  p.meta = json::parse(bytes.substr(1 + sizeof n, n));
  p.stats = unpack_statistics(bytes.substr(1 + sizeof n + n), rank);
  return p;
}

std::string host_name() {
  char buf[256] = {0};
  return ::gethostname(buf, sizeof buf - 1) == 0 ? std::string(buf) : std::string("?");
}

// ---------------------------------------------------------------- the split run
// `run_share` runs the engine on a share, moves its statistics out and
// returns what else the family counts (JSON), with "device" and "threads".
using ShareRunner = std::function<json(const Share&, const Progress&, EnsembleStatistics*)>;

struct Gathered {
  std::vector<json> meta;  // per rank; null for an empty share
  EnsembleStatistics stats;
  int first = -1;  // first rank with members
  double seconds = 0.0;
};

Gathered split_run(const World& w, std::uint64_t begin, std::uint64_t end, const Progress& progress,
                   ScaleOutLog* log, const ShareRunner& run_share) {
  const auto t0 = Clock::now();
  const Share mine = share_of(begin, end, w.rank(), w.size());
  static int split_runs = 0;  // of this process, for the test-only faults
  const Fault fault = injected_fault(w.rank(), ++split_runs);
  std::string message;
  try {
    if (mine.size() == 0) {
      message = "E";
    } else {
      if (fault == Fault::input)
        throw InputError("ensemble.members", "injected fault (ATTNMC_TEST_FAULT) on this share");
      // Rank 0's progress stands for the whole ensemble: its share, scaled.
      const std::uint64_t total = end - begin;
      const Progress scaled = [&](std::uint64_t done, std::uint64_t of) {
        if (fault == Fault::kill) std::raise(SIGKILL);
        if (fault == Fault::error)
          throw Error("injected fault (ATTNMC_TEST_FAULT) after the first chunk");
        if (progress)
          progress(done >= of ? total : std::uint64_t(double(done) / double(of) * double(total)),
                   total);
      };
      EnsembleStatistics stats;
      const auto t_share = Clock::now();
      json meta = run_share(mine, scaled, &stats);
      meta["seconds"] = std::chrono::duration<double>(Clock::now() - t_share).count();
      meta["begin"] = mine.begin;
      meta["end"] = mine.end;
      meta["host"] = host_name();
      message = pack_piece(meta, stats);
    }
  } catch (...) {
    message = "F" + outcome_of(std::current_exception());
  }
  const auto t_exchange = Clock::now();
  const std::vector<std::string> all = w.allgather(message);
  const auto t_merge = Clock::now();
  std::vector<std::string> outcomes(all.size());
  for (std::size_t r = 0; r < all.size(); ++r)
    if (!all[r].empty() && all[r][0] == 'F') outcomes[r] = all[r].substr(1);
  throw_if_any_failed(outcomes);

  // Every rank merges every piece in block (= rank) order.
  Gathered g;
  g.meta.resize(all.size());
  for (std::size_t r = 0; r < all.size(); ++r) {
    if (all[r] == "E") continue;
    Piece p = unpack_piece(all[r], int(r));
    if (g.first < 0) {
      g.first = int(r);
      g.stats = std::move(p.stats);
    } else {
      const json& f = g.meta[std::size_t(g.first)];
      for (const char* key : {"device", "sampler"})
        if (p.meta.value(key, "") != f.value(key, ""))
          throw AgreedFailure(2, std::string("run.device: ranks ran with different ") + key +
                                     "s (" + f.value(key, "") + " on rank " +
                                     std::to_string(g.first) + ", " + p.meta.value(key, "") +
                                     " on rank " + std::to_string(r) +
                                     "), whose bits differ; set run.device (--device) "
                                     "explicitly");
      g.stats.merge(p.stats);
    }
    g.meta[r] = std::move(p.meta);
  }
  if (g.first < 0) throw AgreedFailure(1, "mpi: no rank had members to run");
  // The sketch pages one process would hold for the whole range (its
  // statistics_bytes in summary.json), where the pieces read back hold only
  // the pages their data touched.
  g.stats.reserve_for(end - begin);
  if (log) {
    SplitRun run;
    run.exchange_seconds = std::chrono::duration<double>(t_merge - t_exchange).count();
    run.merge_seconds = std::chrono::duration<double>(Clock::now() - t_merge).count();
    std::vector<RankReport>& reports = run.ranks;
    for (std::size_t r = 0; r < g.meta.size(); ++r) {
      RankReport rep;
      rep.rank = int(r);
      const Share s = share_of(begin, end, int(r), w.size());
      rep.begin = s.begin;
      rep.end = s.end;
      if (!g.meta[r].is_null()) {
        rep.seconds = g.meta[r].value("seconds", 0.0);
        rep.device = g.meta[r].value("device", "");
        rep.host = g.meta[r].value("host", "");
        rep.threads = g.meta[r].value("threads", 0);
      }
      reports.push_back(rep);
    }
    log->runs.push_back(std::move(run));
  }
  g.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return g;
}

}  // namespace

Share share_of(std::uint64_t begin, std::uint64_t end, int rank, int ranks) {
  const std::uint64_t n = end - begin;
  const std::uint64_t blocks = std::min(n, kBlocks);
  auto block_start = [&](std::uint64_t b) {  // b in [0, blocks]
    return blocks == 0 ? begin : begin + (unsigned __int128)n * b / blocks;
  };
  const std::uint64_t b0 = std::uint64_t(rank) * blocks / std::uint64_t(ranks);
  const std::uint64_t b1 = std::uint64_t(rank + 1) * blocks / std::uint64_t(ranks);
  return {std::uint64_t(block_start(b0)), std::uint64_t(block_start(b1))};
}

int threads_per_rank(const World& world) {
  const int mine = host::machine_cores();
  const int node = get_nprocs();
  if (mine < node) return mine;  // bound by the launcher: these cores are this rank's
  return std::max(1, node / std::max(1, world.local_size()));
}

EnsembleResult run_ensemble(const World* w, const RunSpec& spec, const Progress& progress,
                            ScaleOutLog* log) {
  if (!w || w->size() == 1) return attnmc::run_ensemble(spec, progress);
  RunSpec mine = spec;
  if (mine.threads == 0) mine.threads = threads_per_rank(*w);
  Gathered g = split_run(*w, spec.member_begin, spec.end_member(), progress, log,
                         [&](const Share& s, const Progress& p, EnsembleStatistics* stats) {
                           RunSpec piece = mine;
                           piece.member_begin = s.begin;
                           piece.member_end = s.end;
                           EnsembleResult r = attnmc::run_ensemble(piece, p);
                           *stats = std::move(r.stats);
                           return json{{"device", r.device},
                                       {"threads", r.threads},
                                       {"chunk", r.chunk},
                                       {"sampler", r.sampler},
                                       {"sampler_reason", r.sampler_reason},
                                       {"statistics_s", r.seconds_statistics}};
                         });
  const json& f = g.meta[std::size_t(g.first)];
  EnsembleResult out;
  out.spec = resolve_run(spec);
  out.device = f["device"];
  out.sampler = f["sampler"];
  out.sampler_reason = f["sampler_reason"];
  out.chunk = f["chunk"];
  out.threads = f["threads"];
  out.stats = std::move(g.stats);
  out.seconds_statistics = f["statistics_s"];
  out.seconds_simulate = g.seconds - out.seconds_statistics;
  return out;
}

SdeResult run_sde(const World* w, const SdeSpec& spec, const Progress& progress, ScaleOutLog* log) {
  if (!w || w->size() == 1) return attnmc::run_sde(spec, progress);
  SdeSpec mine = spec;
  if (mine.threads == 0) mine.threads = threads_per_rank(*w);
  Gathered g = split_run(*w, spec.member_begin, spec.end_member(), progress, log,
                         [&](const Share& s, const Progress& p, EnsembleStatistics* stats) {
                           SdeSpec piece = mine;
                           piece.member_begin = s.begin;
                           piece.member_end = s.end;
                           SdeResult r = attnmc::run_sde(piece, p);
                           *stats = std::move(r.stats);
                           return json{{"device", r.device},
                                       {"threads", r.threads},
                                       {"chunk", r.chunk},
                                       {"blowups", r.blowups},
                                       {"projections", r.projections},
                                       {"projected_trajectories", r.projected_trajectories},
                                       {"rho_clips", r.rho_clips}};
                         });
  SdeResult out;
  out.spec = resolve_sde(spec);
  const json& f = g.meta[std::size_t(g.first)];
  out.device = f["device"];
  out.threads = f["threads"];
  out.chunk = f["chunk"];
  for (std::int64_t k : out.spec.record_steps) out.record_times.push_back(double(k) * out.spec.dt);
  for (const json& m : g.meta) {
    if (m.is_null()) continue;
    out.blowups += m["blowups"].get<std::int64_t>();
    out.projections += m["projections"].get<std::int64_t>();
    out.projected_trajectories += m["projected_trajectories"].get<std::int64_t>();
    out.rho_clips += m["rho_clips"].get<std::int64_t>();
  }
  out.stats = std::move(g.stats);
  out.seconds = g.seconds;
  return out;
}

SphereResult run_sphere(const World* w, const SphereSpec& spec, const Progress& progress,
                        ScaleOutLog* log) {
  if (!w || w->size() == 1) return attnmc::run_sphere(spec, progress);
  SphereSpec mine = spec;
  if (mine.threads == 0) mine.threads = threads_per_rank(*w);
  Gathered g = split_run(*w, spec.member_begin, spec.end_member(), progress, log,
                         [&](const Share& s, const Progress& p, EnsembleStatistics* stats) {
                           SphereSpec piece = mine;
                           piece.member_begin = s.begin;
                           piece.member_end = s.end;
                           SphereResult r = attnmc::run_sphere(piece, p);
                           *stats = std::move(r.stats);
                           return json{{"device", r.device},
                                       {"threads", r.threads},
                                       {"chunk", r.chunk},
                                       {"collapse", r.collapse},
                                       {"antipodal", r.antipodal},
                                       {"other", r.other},
                                       {"nonfinite", r.nonfinite},
                                       {"clusters", r.clusters},
                                       {"max_norm_error", r.max_norm_error}};
                         });
  SphereResult out;
  out.spec = resolve_sphere(spec);
  const json& f = g.meta[std::size_t(g.first)];
  out.device = f["device"];
  out.threads = f["threads"];
  out.chunk = f["chunk"];
  out.clusters.assign(std::size_t(out.spec.tokens) + 1, 0);
  for (const json& m : g.meta) {
    if (m.is_null()) continue;
    out.collapse += m["collapse"].get<std::int64_t>();
    out.antipodal += m["antipodal"].get<std::int64_t>();
    out.other += m["other"].get<std::int64_t>();
    out.nonfinite += m["nonfinite"].get<std::int64_t>();
    const auto c = m["clusters"].get<std::vector<std::int64_t>>();
    for (std::size_t k = 0; k < c.size() && k < out.clusters.size(); ++k) out.clusters[k] += c[k];
    out.max_norm_error = std::max(out.max_norm_error, m["max_norm_error"].get<double>());
  }
  out.stats = std::move(g.stats);
  out.seconds = g.seconds;
  return out;
}

OversmoothingResult run_oversmoothing(const World* w, const OversmoothingSpec& spec,
                                      const Progress& progress, ScaleOutLog* log) {
  if (!w || w->size() == 1) return attnmc::run_oversmoothing(spec, progress);
  OversmoothingSpec mine = spec;
  if (mine.threads == 0) mine.threads = threads_per_rank(*w);
  const OversmoothingSpec resolved = resolve_oversmoothing(spec);
  // The statistics travel inside the family's own state (the Gram part too):
  // the generic slot stays empty.
  Gathered g = split_run(*w, resolved.member_begin, resolved.end_member(), progress, log,
                         [&](const Share& s, const Progress& p, EnsembleStatistics*) {
                           OversmoothingSpec piece = mine;
                           piece.member_begin = s.begin;
                           piece.member_end = s.end;
                           const OversmoothingResult r = attnmc::run_oversmoothing(piece, p);
                           return json{{"device", r.device},
                                       {"threads", r.threads},
                                       {"chunk", r.chunk},
                                       {"state", pack_oversmoothing(r)}};
                         });
  OversmoothingResult out;
  bool first = true;
  for (std::size_t r = 0; r < g.meta.size(); ++r) {
    if (g.meta[r].is_null()) continue;
    OversmoothingResult piece = unpack_oversmoothing(g.meta[r]["state"], int(r));
    if (first) {
      out = std::move(piece);
      first = false;
    } else {
      merge_oversmoothing(out, piece);
    }
  }
  const json& f = g.meta[std::size_t(g.first)];
  out.spec = resolved;  // the resolved spec of the whole run (files' values included)
  out.device = f["device"];
  out.threads = f["threads"];
  out.chunk = f["chunk"];
  out.seconds = g.seconds;
  return out;
}

}  // namespace attnmc::mpi
