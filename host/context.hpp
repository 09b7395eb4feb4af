// The execution context of one run (kernels/exec_context.hpp), owned here:
// created on the run's backend when the driver starts, destroyed (arena,
// cuBLAS handle, stream) when it ends, whether the run finished or threw.
#pragma once

#include <memory>

#include "host/backend.hpp"
#include "kernels/exec_context.hpp"

namespace attnmc::host {

class Context {
 public:
  Context(const Backend& backend, int threads)
      : context_(backend.create_context(threads), backend.destroy_context) {}
  const kernels::ExecContext& get() const { return *context_; }
  const kernels::Arena& arena() const { return *context_->arena; }

 private:
  std::unique_ptr<kernels::ExecContext, void (*)(kernels::ExecContext*) noexcept> context_;
};

}  // namespace attnmc::host
