// Every family's statistics are the same bits whatever the chunk size,
// thread count or split into pieces (merged in any order): the covariance
// SDE (including blown-up paths) and the sphere model. The finite-network
// family is covered end to end by test_merge_cli (stats.h5 bytes).
#include <gtest/gtest.h>

#include "attnmc/error.hpp"
#include "attnmc/sde.hpp"
#include "attnmc/sphere.hpp"
#include "tests/small_specs.hpp"

using namespace attnmc;

namespace {

using test::small_sde_spec;
using test::small_sphere_spec;

}  // namespace

TEST(SdePieces, ChunksThreadsAndPiecesGiveTheSameStatistics) {
  SdeSpec s = small_sde_spec();
  const SdeResult whole = run_sde(s);
  ASSERT_GT(whole.blowups, 0) << "the test wants blown-up paths";
  for (const auto& [chunk, threads] : {std::pair{1, 1}, std::pair{7, 2}}) {
    SdeSpec e = s;
    e.chunk = std::uint64_t(chunk);
    e.threads = threads;
    EXPECT_TRUE(run_sde(e).stats == whole.stats) << "chunk " << chunk;
  }
  for (const std::vector<std::uint64_t> cuts :
       {std::vector<std::uint64_t>{0, 150, 301}, std::vector<std::uint64_t>{0, 13, 200, 301}}) {
    EnsembleStatistics merged;
    std::int64_t blowups = 0;
    for (std::size_t k = cuts.size() - 1; k-- > 0;) {  // last piece first
      SdeSpec p = s;
      p.member_begin = cuts[k];
      p.member_end = cuts[k + 1];
      const SdeResult r = run_sde(p);
      blowups += r.blowups;
      if (k + 2 == cuts.size())
        merged = r.stats;
      else
        merged.merge(r.stats);
    }
    EXPECT_TRUE(merged == whole.stats) << cuts.size() - 1 << " pieces";
    EXPECT_EQ(blowups, whole.blowups);
  }
}

TEST(SpherePieces, ChunksThreadsAndPiecesGiveTheSameStatistics) {
  const SphereSpec s = small_sphere_spec();
  const SphereResult whole = run_sphere(s);
  SphereSpec e = s;
  e.chunk = 7;
  e.threads = 1;
  EXPECT_TRUE(run_sphere(e).stats == whole.stats);
  SphereSpec a = s, b = s, c = s;
  a.member_end = 100;
  b.member_begin = 100;
  b.member_end = 117;
  c.member_begin = 117;
  const SphereResult ra = run_sphere(a), rb = run_sphere(b), rc = run_sphere(c);
  EnsembleStatistics merged = rc.stats;
  merged.merge(ra.stats);
  merged.merge(rb.stats);
  EXPECT_TRUE(merged == whole.stats);
  EXPECT_EQ(ra.collapse + rb.collapse + rc.collapse, whole.collapse);
  EXPECT_EQ(ra.other + rb.other + rc.other, whole.other);
}

TEST(Pieces, BadRangesAreRefusedByName) {
  SdeSpec s = small_sde_spec();
  s.member_begin = 400;
  try {
    run_sde(s);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.parameter(), "ensemble.member_begin");
  }
  SphereSpec p = small_sphere_spec();
  p.member_end = 1000;
  try {
    run_sphere(p);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.parameter(), "ensemble.member_end");
  }
}
