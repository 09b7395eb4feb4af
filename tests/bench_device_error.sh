#!/usr/bin/env bash
# Benchmarks given `--device cuda` where no CUDA device is usable must stop
# with an error naming the option and run.device, exit 2, and print no
# benchmark line (they aborted on an uncaught exception, exit 134, before).
#   tests/bench_device_error.sh BENCH_EXE...
# Exit 77 (ctest: skipped) on a machine with a GPU, where they would run.
set -uo pipefail
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "a GPU is present: nothing to check"
  exit 77
fi
fail=0
for exe in "$@"; do
  out=$("$exe" --device cuda --smoke 2>/tmp/bench_device_error.$$)
  rc=$?
  err=$(cat /tmp/bench_device_error.$$)
  rm -f /tmp/bench_device_error.$$
  if [ $rc -ne 2 ] || [[ $err != *"--device cuda"* ]] || [[ $err != *"run.device"* ]] || [ -n "$out" ]; then
    echo "FAIL $(basename "$exe"): exit $rc, stderr: $err, stdout: $out"
    fail=1
  else
    echo "ok   $(basename "$exe"): $err"
  fi
done
exit $fail
