// One GPU per rank on a node with several: local rank -> device index.
#pragma once

#include <string>

namespace attnmc::mpi {

class World;

// Before any CUDA call, when several ranks share a node: restricts this
// process to one GPU through CUDA_VISIBLE_DEVICES, local rank i getting
// the (i mod G)-th of the G GPUs it may see (those CUDA_VISIBLE_DEVICES
// lists, or else every GPU of /proc/driver/nvidia/gpus). Leaves things alone
// when the launcher already gave each rank one GPU (srun --gpus-per-task=1
// sets a one-entry CUDA_VISIBLE_DEVICES), when the node has no NVIDIA GPU,
// and when ATTNMC_GPU_PER_RANK=0. Returns what it did (for notes), or "".
std::string assign_gpu(const World& world);

}  // namespace attnmc::mpi
