// See scale_out_report.hpp.
#include "host/mpi/scale_out_report.hpp"

#include <cstdio>

namespace attnmc::mpi {
namespace {

double rate(const RankReport& r) {
  return r.seconds > 0 ? double(r.end - r.begin) / r.seconds : 0.0;
}

}  // namespace

nlohmann::json processes_json(const ScaleOutLog& log) {
  if (log.runs.empty()) return nullptr;
  nlohmann::json runs = nlohmann::json::array();
  for (const SplitRun& run : log.runs) {
    nlohmann::json ranks = nlohmann::json::array();
    for (const RankReport& r : run.ranks)
      ranks.push_back({{"rank", r.rank},
                       {"host", r.host},
                       {"device", r.device},
                       {"threads", r.threads},
                       {"member_begin", r.begin},
                       {"member_end", r.end},
                       {"seconds", r.seconds},
                       {"members_per_s", rate(r)}});
    runs.push_back(
        {{"ranks", ranks}, {"exchange_s", run.exchange_seconds}, {"merge_s", run.merge_seconds}});
  }
  return {{"ranks", log.runs.front().ranks.size()}, {"runs", runs}};
}

std::string throughput_lines(const ScaleOutLog& log) {
  std::string out;
  char buf[512];
  for (const SplitRun& run : log.runs) {
    double total = 0.0, slowest = 0.0;
    std::uint64_t members = 0;
    for (const RankReport& r : run.ranks) {
      if (r.end == r.begin) {
        out += "attnmc: rank " + std::to_string(r.rank) + ": no members (fewer than ranks)\n";
        continue;
      }
      std::snprintf(buf, sizeof buf,
                    "attnmc: rank %d (%s, %s, %d threads): members [%llu, %llu) in %.2f s, "
                    "%.4g members/s\n",
                    r.rank, r.host.c_str(), r.device.c_str(), r.threads,
                    static_cast<unsigned long long>(r.begin),
                    static_cast<unsigned long long>(r.end), r.seconds, rate(r));
      out += buf;
      total += rate(r);
      slowest = std::max(slowest, r.seconds);
      members += r.end - r.begin;
    }
    std::snprintf(buf, sizeof buf,
                  "attnmc: %zu ranks: %llu members, slowest rank %.2f s, sum of rates %.4g "
                  "members/s; rank 0 waited %.2f s for the pieces, merged in %.2f s\n",
                  run.ranks.size(), static_cast<unsigned long long>(members), slowest, total,
                  run.exchange_seconds, run.merge_seconds);
    out += buf;
  }
  return out;
}

}  // namespace attnmc::mpi
