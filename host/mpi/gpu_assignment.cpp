// See gpu_assignment.hpp.
#include "host/mpi/gpu_assignment.hpp"

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <vector>

#include "host/mpi/world.hpp"

namespace attnmc::mpi {

std::string assign_gpu(const World& world) {
  if (world.local_size() <= 1) return {};
  const char* opt = std::getenv("ATTNMC_GPU_PER_RANK");
  if (opt && std::string(opt) == "0") return {};
  std::vector<std::string> visible;
  if (const char* v = std::getenv("CUDA_VISIBLE_DEVICES")) {
    std::stringstream s(v);
    std::string item;
    while (std::getline(s, item, ','))
      if (!item.empty()) visible.push_back(item);
    if (visible.size() <= 1) return {};  // the launcher chose (or hid every GPU)
  } else {
    std::error_code ec;
    std::size_t gpus = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/driver/nvidia/gpus", ec)) {
      (void)e;
      ++gpus;
    }
    if (ec || gpus == 0) return {};
    for (std::size_t i = 0; i < gpus; ++i) visible.push_back(std::to_string(i));
  }
  const std::string pick = visible[std::size_t(world.local_rank()) % visible.size()];
  ::setenv("CUDA_VISIBLE_DEVICES", pick.c_str(), 1);
  return "rank " + std::to_string(world.rank()) + ": CUDA_VISIBLE_DEVICES=" + pick;
}

}  // namespace attnmc::mpi
