// Command line shared by the benchmark binaries:
//   [--device cpu|cuda|auto] [--threads N] [--quick] [--smoke] plus each
// binary's own boolean flags. --smoke (implies --quick): the smallest sizes
// that still run every code path, for scripts/gpu-check.sh --dry-run in CI;
// its figures mean nothing.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <string>
#include <vector>

#include "attnmc/run_spec.hpp"
#include "host/backend.hpp"

namespace attnmc::bench {

struct BenchArgs {
  Device device = Device::cpu;
  int threads = 0;  // 0 = all cores
  bool quick = false;
  bool smoke = false;           // tiny sizes (implies quick)
  std::set<std::string> flags;  // the extra flags that were given
  bool has(const std::string& flag) const { return flags.count(flag) > 0; }
};

// Parses argv; on anything unknown prints the usage line and returns false
// (the caller exits 2). `--device cuda` where no CUDA device or module is
// usable also returns false, after an error that names the option and the
// run key (run.device) that failed, rather than an abort mid-benchmark.
inline bool parse_bench_args(int argc, char** argv, const std::vector<std::string>& extra,
                             BenchArgs* out) {
  auto usage = [&] {
    std::string line = std::string("usage: ") + argv[0] +
                       " [--device cpu|cuda|auto] [--threads N] [--quick] [--smoke]";
    for (const std::string& f : extra) line += " [" + f + "]";
    std::fprintf(stderr, "%s\n", line.c_str());
    return false;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--device" && i + 1 < argc) {
      const std::string d = argv[++i];
      if (d == "cpu")
        out->device = Device::cpu;
      else if (d == "cuda")
        out->device = Device::cuda;
      else if (d == "auto")
        out->device = Device::automatic;
      else
        return usage();
    } else if (a == "--threads" && i + 1 < argc) {
      out->threads = std::atoi(argv[++i]);
    } else if (a == "--quick") {
      out->quick = true;
    } else if (a == "--smoke") {
      out->quick = out->smoke = true;
    } else if (std::find(extra.begin(), extra.end(), a) != extra.end()) {
      out->flags.insert(a);
    } else {
      return usage();
    }
  }
  if (out->device == Device::cuda) {
    try {
      (void)host::select_backend(Device::cuda);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: error: --device cuda: %s\n", argv[0], e.what());
      return false;
    }
  }
  return true;
}

}  // namespace attnmc::bench
