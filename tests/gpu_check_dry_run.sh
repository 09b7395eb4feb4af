#!/usr/bin/env bash
# CTest driver of scripts/gpu-check.sh --dry-run (issue 13):
#   tests/gpu_check_dry_run.sh SOURCE_DIR BUILD_DIR OUT_DIR
# 1. the dry run on this build passes and writes a well-formed report
#    (every step, every benchmark, the agreement suite's lines);
# 2. with a planted failure (a `ctest` that fails, first on PATH) the same
#    run reports `fail` and exits non-zero: the script can fail.
set -uo pipefail
src=$1 build=$2 out=$3
rm -rf "$out"
mkdir -p "$out"

check_report() {  # REPORT_JSON EXPECTED_VERDICT
  python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
want = sys.argv[2]
assert r["verdict"] == want, r["verdict"]
assert r["dry_run"] is True
names = [s["name"] for s in r["steps"]]
assert "build" in names and "gpu suites" in names and "agreement suite" in names, names
if want == "pass":
    assert all(s["status"].startswith("pass") for s in r["steps"]), r["steps"]
    assert len(r["benchmarks"]) == 6 and all(r["benchmarks"].values()), r["benchmarks"]
    assert any("ExactSamplerNetworkByNetwork" in l for l in r["agreement"]), r["agreement"]
else:
    assert any(s["name"] == "gpu suites" and s["status"].startswith("fail") for s in r["steps"])
print("report ok:", want)
PY
}

"$src/scripts/gpu-check.sh" --dry-run --build-dir "$build" --jobs 2 "$out/pass" || exit 1
check_report "$out/pass/report.json" pass || exit 1

mkdir -p "$out/fake-bin"
printf '#!/bin/sh\necho "planted failure"\nexit 8\n' >"$out/fake-bin/ctest"
chmod +x "$out/fake-bin/ctest"
if PATH="$out/fake-bin:$PATH" "$src/scripts/gpu-check.sh" --dry-run --build-dir "$build" --jobs 2 \
  "$out/fail"; then
  echo "gpu-check passed although its test step failed" >&2
  exit 1
fi
check_report "$out/fail/report.json" fail || exit 1
