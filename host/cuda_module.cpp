#include "host/cuda_module.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <vector>

#include "attnmc/error.hpp"

namespace attnmc::host {
namespace {

constexpr const char* kModuleFile = "libattnmc_cuda.so";

std::string executable_dir() {
  std::vector<char> buf(4096);
  const ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) return {};
  std::string path(buf.data(), std::size_t(n));
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

std::vector<std::string> candidates() {
  std::vector<std::string> c;
  if (const char* env = std::getenv("ATTNMC_CUDA_MODULE"); env != nullptr && *env != '\0') {
    c.emplace_back(env);  // explicit: the only place looked at
    return c;
  }
  const std::string exe = executable_dir();
  if (!exe.empty()) {
    c.push_back(exe + "/" + kModuleFile);
    c.push_back(exe + "/../lib/" + kModuleFile);
  }
#if defined(ATTNMC_CUDA_MODULE_DIR)
  c.push_back(std::string(ATTNMC_CUDA_MODULE_DIR) + "/" + kModuleFile);
#endif
  return c;
}

struct Loaded {
  const kernels::CudaModule* table = nullptr;
  std::string why;
};

Loaded load() {
  Loaded out;
#if !defined(ATTNMC_WITH_CUDA)
  // This host has no forwarding functions: a module would never be called.
  out.why = "attnmc was built without the CUDA backend (nvcc not found or ATTNMC_CUDA=OFF)";
  return out;
#endif
  std::string tried;
  for (const std::string& path : candidates()) {
    if (::access(path.c_str(), F_OK) != 0) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* err = ::dlerror();
      out.why = "cannot load the CUDA module " + path + ": " + (err ? err : "dlopen failed");
      return out;
    }
    using Entry = const kernels::CudaModule* (*)();
    auto entry = reinterpret_cast<Entry>(::dlsym(handle, ATTNMC_CUDA_MODULE_SYMBOL));
    const kernels::CudaModule* table = entry != nullptr ? entry() : nullptr;
    if (table == nullptr || table->version != kernels::kCudaModuleVersion ||
        table->table_bytes != sizeof(kernels::CudaModule)) {
      out.why = "the CUDA module " + path + " is from another build of attnmc (rebuild it)";
      return out;
    }
    out.table = table;
    return out;
  }
  out.why = std::string("the CUDA module ") + kModuleFile + " was not found (looked at " + tried +
            "; set ATTNMC_CUDA_MODULE to its path)";
  return out;
}

}  // namespace

const kernels::CudaModule* cuda_module(std::string* why) {
  static std::once_flag once;
  static Loaded loaded;
  std::call_once(once, [] { loaded = load(); });
  if (loaded.table == nullptr && why != nullptr) *why = loaded.why;
  return loaded.table;
}

const kernels::CudaModule& cuda_module_or_throw() {
  std::string why;
  const kernels::CudaModule* m = cuda_module(&why);
  if (m == nullptr) throw Error(why);
  return *m;
}

bool cuda_runtime_mapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find("libcudart") != std::string::npos || line.find("libcublas") != std::string::npos)
      return true;
  return false;
}

bool nvidia_device_node_present() {
  return ::access("/dev/nvidiactl", F_OK) == 0 || ::access("/dev/dxg", F_OK) == 0;
}

}  // namespace attnmc::host

#if defined(ATTNMC_WITH_CUDA)
// The CUDA backend's entry points as the host code names them
// (attnmc::cuda::*, declared by the kernel headers): each forwards to the
// module, loading it on first use. Only chosen when select_backend picked
// CUDA, so the module is already loaded by then.
namespace attnmc::cuda {

using host::cuda_module_or_throw;

kernels::ExecContext* create_context(int threads) {
  return cuda_module_or_throw().create_context(threads);
}
void destroy_context(kernels::ExecContext* context) noexcept {
  if (context == nullptr) return;
  if (const kernels::CudaModule* m = host::cuda_module()) m->destroy_context(context);
}
void direct_chunk(const kernels::ExecContext& cx, const kernels::ChunkJob& job,
                  const kernels::GramChunkOutput& output) {
  cuda_module_or_throw().direct_chunk(cx, job, output);
}
void direct_weights_only(const kernels::ExecContext& cx, const kernels::ChunkJob& job) {
  cuda_module_or_throw().direct_weights_only(cx, job);
}
void exact_chunk(const kernels::ExecContext& cx, const kernels::ChunkJob& job,
                 const kernels::GramChunkOutput& output) {
  cuda_module_or_throw().exact_chunk(cx, job, output);
}
void sphere_chunk(const kernels::ExecContext& cx, const kernels::SphereJob& job,
                  const kernels::SphereChunkOut& out) {
  cuda_module_or_throw().sphere_chunk(cx, job, out);
}
void sde_chunk(const kernels::ExecContext& cx, const kernels::SdeJob& job,
               const kernels::SdeChunkOut& out) {
  cuda_module_or_throw().sde_chunk(cx, job, out);
}
void oversmoothing_chunk(const kernels::ExecContext& cx, const kernels::OsJob& job,
                         const kernels::OsChunkOut& out) {
  cuda_module_or_throw().oversmoothing_chunk(cx, job, out);
}
void paths_prior_chunk(const kernels::ExecContext& cx, const kernels::PathsPriorJob& job,
                       const kernels::PathsPriorOut& out) {
  cuda_module_or_throw().paths_prior_chunk(cx, job, out);
}
void paths_direct_chunk(const kernels::ExecContext& cx, const kernels::PathsDirectJob& job,
                        const kernels::PathsDirectOut& out) {
  cuda_module_or_throw().paths_direct_chunk(cx, job, out);
}
std::size_t gram_statistics_bytes_per_member(int m, int records) {
  return cuda_module_or_throw().gram_statistics_bytes_per_member(m, records);
}
std::size_t gram_statistics_fixed_bytes(int m, int records) {
  return cuda_module_or_throw().gram_statistics_fixed_bytes(m, records);
}

}  // namespace attnmc::cuda
#endif
