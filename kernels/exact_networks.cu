// One token bucket of the exact sampler (kernels/exact_networks.hpp): the
// build compiles this file once per bucket, with ATTNMC_EXACT_BUCKET = 4, 8
// and kExactMaxTokens (16), for each device system.
#include "kernels/exact_networks.hpp"
#include "kernels/launch.hpp"

#if !defined(ATTNMC_EXACT_BUCKET)
#error "compile kernels/exact_networks.cu with ATTNMC_EXACT_BUCKET (4, 8 or 16)"
#endif

namespace attnmc::ATTNMC_BACKEND_NS {
namespace {

using kernels::launch::Index;

// One network per call, with the arrays of bucket kM (>= m): each bucket is
// its own kernel, so its stack frame is what m needs, not the largest.
template <int kM>
struct ExactNetworks {
  ExactLaunch l;
  ATTNMC_HD void operator()(Index c) const {
    const int mm = l.params.model.m * l.params.model.m;
    kernels::ExactNetwork<kM> net;
    net.run(l.params, std::uint32_t(l.first_member + std::uint64_t(c)), l.c0, l.record_layers,
            l.records, l.out + c * Index(l.records) * mm);
  }
};

}  // namespace

template <>
void exact_networks<ATTNMC_EXACT_BUCKET>(const kernels::ExecContext& cx,
                                         const ExactLaunch& launch) {
  kernels::launch::for_each_index(cx, Index(launch.count),
                                  ExactNetworks<ATTNMC_EXACT_BUCKET>{launch});
}

}  // namespace attnmc::ATTNMC_BACKEND_NS
