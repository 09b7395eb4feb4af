// What the ranks of a split run did, for people judging a cluster run:
// summary.json "processes" and the per-rank throughput lines rank 0 prints.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "host/mpi/split_ensemble.hpp"

namespace attnmc::mpi {

// {"ranks": K, "runs": [[{rank, host, device, threads, member_begin,
// member_end, seconds, members_per_s}, ...], ...]}; null when nothing was split.
nlohmann::json processes_json(const ScaleOutLog& log);

// One line per rank and split run: members, seconds, members/s; and the sum.
std::string throughput_lines(const ScaleOutLog& log);

}  // namespace attnmc::mpi
