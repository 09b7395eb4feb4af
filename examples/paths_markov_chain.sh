#!/usr/bin/env bash
# The attention-paths example end to end (README "Attention paths: theory
# and exact posterior"): the saddle-point theory over N = 10 .. 1000, the
# exact width-free posterior at N = 10, 30, 100, 300, 1000 (the GP limit is in both), then
# the table and the figure out/paths_accuracy.png. About 35 s on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
ATTNMC=${ATTNMC:-build/attnmc}
$ATTNMC paths examples/paths_markov_chain.toml --mode theory -o out/paths_theory --force
$ATTNMC paths examples/paths_markov_chain.toml --mode posterior -o out/paths_posterior --force
python3 scripts/plot_paths.py out/paths_theory out/paths_posterior -o out/paths_accuracy.png
