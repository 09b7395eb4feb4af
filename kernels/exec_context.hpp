// Execution context of one run on one backend (shared/design/architecture.md,
// property 7): the device, its stream and library handle, the run's thread
// count and a buffer arena that persists across chunks. The backend creates
// it (kernels/exec_context.cu, compiled once per device system), the host
// driver owns it for one run (host/context.hpp) and passes it to every chunk
// function. Nothing here is global: two runs, or two host threads, have two
// contexts.
#pragma once

#include <cstddef>
#include <vector>

namespace attnmc::kernels {

// Device buffers reused across the chunks of a run. A chunk function asks
// for its buffers in a fixed order through a Frame: request i of every
// chunk gets block i, reallocated only when it is too small (the first chunk
// is the largest, so in practice once per run). Blocks are never
// zero-filled: every kernel writes what it later reads.
class Arena {
 public:
  using Allocate = void* (*)(std::size_t bytes);  // throws on failure
  using Release = void (*)(void* block) noexcept;

  Arena(Allocate allocate, Release release) : allocate_(allocate), release_(release) {}
  ~Arena() {
    for (Block& b : blocks_) release_(b.data);
  }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  class Frame {
   public:
    explicit Frame(Arena& arena) : arena_(arena) {}
    // `count` elements of T: the next block of this frame (null when count is 0).
    template <typename T>
    T* take(std::size_t count) {
      return static_cast<T*>(arena_.block(next_++, count * sizeof(T)));
    }

   private:
    Arena& arena_;
    std::size_t next_ = 0;
  };
  Frame frame() { return Frame(*this); }

  // Bytes held now (for tests and the memory accounting).
  std::size_t bytes() const {
    std::size_t s = 0;
    for (const Block& b : blocks_) s += b.bytes;
    return s;
  }
  // Allocations made so far (a second chunk of the same size adds none).
  std::size_t allocations() const { return allocations_; }

 private:
  struct Block {
    void* data = nullptr;
    std::size_t bytes = 0;
  };
  void* block(std::size_t i, std::size_t bytes) {
    if (i >= blocks_.size()) blocks_.resize(i + 1);
    Block& b = blocks_[i];
    if (bytes == 0) return nullptr;
    if (b.bytes < bytes) {
      release_(b.data);
      b = Block{};
      b.data = allocate_(bytes);
      b.bytes = bytes;
      ++allocations_;
    }
    return b.data;
  }
  Allocate allocate_;
  Release release_;
  std::vector<Block> blocks_;
  std::size_t allocations_ = 0;
};

// What a chunk function runs with. The CUDA handles are opaque here so that
// host code never sees device headers; the CUDA backend casts them back.
struct ExecContext {
  int device = -1;         // CUDA device index; -1 on the CPU (OpenMP) backend
  void* stream = nullptr;  // cudaStream_t every kernel, GEMM and copy of the run goes on
  void* blas = nullptr;    // cublasHandle_t bound to `stream` (CUDA only)
  int threads = 0;         // OpenMP threads of the run's kernels (CPU; > 0)
  Arena* arena = nullptr;  // buffers reused across chunks
};

}  // namespace attnmc::kernels

// Context entry points of one backend namespace. create_context throws
// attnmc::Error when a device call fails; destroy_context releases the
// arena, the handle and the stream.
#define ATTNMC_DECLARE_CONTEXT_BACKEND(NS)                              \
  namespace attnmc::NS {                                                \
  attnmc::kernels::ExecContext* create_context(int threads);            \
  void destroy_context(attnmc::kernels::ExecContext* context) noexcept; \
  }

ATTNMC_DECLARE_CONTEXT_BACKEND(omp)
ATTNMC_DECLARE_CONTEXT_BACKEND(cuda)
