#!/usr/bin/env bash
# The exact reduced posterior's cost against the width N (docs/performance.md,
# "Attention paths: exact posterior cost against N"): the Markov-chain task
# (P = 100, 1000 test sequences, 4 paths), 8 chains x (1000 + 1000) steps on
# one thread, N = 10 .. 10^6, repeated REPEATS times; prints seconds per N.
set -euo pipefail
cd "$(dirname "$0")/.."
ATTNMC=${ATTNMC:-build/attnmc}
REPEATS=${REPEATS:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq "$REPEATS"); do
  $ATTNMC paths examples/paths_markov_chain.toml --mode posterior --threads 1 -q --force -o "$out/run" \
    -s 'posterior.widths=[10,100,1000,10000,100000,1000000]' -s posterior.chains=8 \
    -s posterior.burn_in=1000 -s posterior.steps=1000 -s posterior.thin=50
  python3 - "$out/run/summary.json" "$r" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print(f"repeat {sys.argv[2]}: " + "  ".join(f"N={r['widths'][0]}: {r['seconds']:.2f} s" for r in j["runs"]))
PY
done
