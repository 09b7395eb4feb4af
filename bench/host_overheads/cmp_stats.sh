#!/bin/bash
# Byte comparison of stats.h5 between two attnmc binaries over sde, sphere and
# run (direct, exact) configurations: m = 2..8, chunk sizes 1 / 77 / 97 / 100 /
# 333, threads 1 and 2, record_every, blow-ups, exact quantiles, pieces with
# --range and `attnmc merge`. Prints DIFF lines and "fail=0" when all agree.
# usage: bench/host_overheads/cmp_stats.sh BEFORE_BINARY AFTER_BINARY [WORKDIR]
BASE=$1; NEW=$2; W=${3:-/tmp/attnmc_cmp_stats}; rm -rf "$W"; mkdir -p "$W"
fail=0; n=0
one() { # name cmd args...
  local name=$1; shift
  $BASE "$@" -q -o $W/b_$name --force >/dev/null 2>$W/b_$name.err || { echo "BASE FAIL $name"; cat $W/b_$name.err; }
  $NEW "$@" -q -o $W/n_$name --force >/dev/null 2>$W/n_$name.err || { echo "NEW FAIL $name"; cat $W/n_$name.err; }
  n=$((n+1))
  if cmp -s $W/b_$name/stats.h5 $W/n_$name/stats.h5; then :; else echo "DIFF $name"; fail=1; fi
}
SDE="--set sde.dynamics=attention --set sde.scheme=euler --set sde.horizon=0.5 --set input.rho0=0.3"
for m in 2 4 8; do for t in 1 2; do
  one sde_m${m}_t$t sde --threads $t --set model.tokens=$m $SDE --set sde.steps=50 --set sde.record_every=50 --set ensemble.members=3000
done; done
one sde_m3_chunk sde --threads 2 --set model.tokens=3 $SDE --set sde.steps=40 --set sde.record_every=5 --set ensemble.members=2000 --set ensemble.chunk=333
one sde_m5_rec sde --threads 1 --set model.tokens=5 $SDE --set sde.steps=40 --set sde.record_every=1 --set ensemble.members=500 --set ensemble.chunk=77
one sde_mlp sde --threads 2 --set model.tokens=3 --set sde.dynamics=both --set model.mlp=true --set sde.steps=30 --set ensemble.members=1500
one sde_weak sde --threads 2 --set model.tokens=2 --set sde.dynamics=mlp --set model.mlp=true --set sde.scheme=rho-weak2 --set sde.steps=30 --set ensemble.members=1500
one sde_blow sde --threads 2 --set model.tokens=3 $SDE --set sde.steps=20 --set sde.blowup_threshold=2 --set ensemble.members=1000 --set sde.record_every=2
one sde_exactq sde --threads 2 --set model.tokens=3 $SDE --set sde.steps=20 --set ensemble.members=1000 --set ensemble.exact_quantiles=true
# pieces + merge
for b in base new; do
  B=$BASE; [ $b = new ] && B=$NEW
  $B sde -q --force -o $W/${b}_pa --threads 2 --set model.tokens=4 $SDE --set sde.steps=20 --set ensemble.members=3000 --range 0:1234 >/dev/null
  $B sde -q --force -o $W/${b}_pb --threads 1 --set model.tokens=4 $SDE --set sde.steps=20 --set ensemble.members=3000 --range 1234:3000 --set ensemble.chunk=100 >/dev/null
  $B merge -q --force -o $W/${b}_merged $W/${b}_pa $W/${b}_pb >/dev/null
done
cmp -s $W/base_merged/stats.h5 $W/new_merged/stats.h5 || { echo "DIFF sde merge"; fail=1; }
for N in 2 8; do for d in 3 16; do for noise in matrix reduced; do
  t=$(( (N+d) % 2 + 1 ))
  one sph_${N}_${d}_${noise} sphere --threads $t --set model.tokens=$N --set model.dim=$d --set model.beta=1 --set sphere.scheme=sde-geometric --set sphere.noise=$noise --set sphere.horizon=1 --set sphere.steps=100 --set input.init=uniform --set ensemble.members=600
done; done; done
one sph_chunk sphere --threads 2 --set model.tokens=4 --set model.dim=5 --set sphere.steps=100 --set ensemble.members=1000 --set input.init=uniform --set ensemble.chunk=97 --set sphere.record_every=10
one sph_chunk1 sphere --threads 1 --set model.tokens=3 --set model.dim=4 --set sphere.steps=50 --set ensemble.members=300 --set input.init=uniform --set ensemble.chunk=1
for b in base new; do
  B=$BASE; [ $b = new ] && B=$NEW
  $B sphere -q --force -o $W/${b}_sa --threads 2 --set model.tokens=4 --set model.dim=5 --set sphere.steps=50 --set ensemble.members=800 --set input.init=uniform --range 0:300 >/dev/null
  $B sphere -q --force -o $W/${b}_sb --threads 1 --set model.tokens=4 --set model.dim=5 --set sphere.steps=50 --set ensemble.members=800 --set input.init=uniform --range 300:800 >/dev/null
done
# (attnmc merge of sphere pieces fails on main too: model.gamma)
cmp -s $W/base_sa/stats.h5 $W/new_sa/stats.h5 || { echo "DIFF sphere piece a"; fail=1; }
cmp -s $W/base_sb/stats.h5 $W/new_sb/stats.h5 || { echo "DIFF sphere piece b"; fail=1; }
for s in direct exact; do for t in 1 2; do
  mem=300; [ $s = exact ] && mem=3000
  one run_${s}_t$t run --threads $t --set model.width=64 --set model.tokens=3 --set model.depth=4 --set ensemble.sampler=$s --set ensemble.members=$mem --set ensemble.record_every=1
done; done
one run_direct_chunk run --threads 2 --set model.width=32 --set model.tokens=4 --set model.depth=3 --set ensemble.sampler=direct --set ensemble.members=500 --set ensemble.chunk=64
for b in base new; do
  B=$BASE; [ $b = new ] && B=$NEW
  $B run -q --force -o $W/${b}_ra --threads 2 --set model.width=32 --set model.tokens=3 --set model.depth=3 --set ensemble.sampler=exact --set ensemble.members=4000 --range 0:1500 >/dev/null
  $B run -q --force -o $W/${b}_rb --threads 1 --set model.width=32 --set model.tokens=3 --set model.depth=3 --set ensemble.sampler=exact --set ensemble.members=4000 --range 1500:4000 >/dev/null
  $B merge -q --force -o $W/${b}_rmerged $W/${b}_ra $W/${b}_rb >/dev/null
done
cmp -s $W/base_rmerged/stats.h5 $W/new_rmerged/stats.h5 || { echo "DIFF run merge"; fail=1; }
echo "compared $n + 3 merges; fail=$fail"
