#!/usr/bin/env python3
"""Markdown table of the CUDA kernels' resources from an nvcc build log made
with -Xptxas=-v (ATTNMC_CUDA_RESOURCE_USAGE, on by default): per kernel its
registers, stack frame (local memory), spill stores/loads and shared memory.
Usage: scripts/ptxas_table.py BUILD_LOG  (docs/performance.md, issue 13)."""
import re
import subprocess
import sys


def short_name(mangled: str) -> str:
    try:
        name = subprocess.run(["c++filt", mangled], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        name = mangled
    # The functor a Thrust/CUB kernel runs: the attnmc type in its arguments.
    m = re.search(r"attnmc::cuda::(?:\(anonymous namespace\)::)?([A-Za-z_]\w*(?:<[^()]*?>)?)", name)
    if m:
        fn = m.group(1)
        if "rows_kernel" in name:
            return f"{fn} (warp per row)"
        return fn
    m = re.search(r"cuda_cub::__(\w+)::(\w+)", name)
    if m:
        return f"thrust {m.group(1)} {m.group(2)}"
    m = re.search(r"cub::[\w:]*?(Device\w+Kernel|\w+_kernel)\b", name)
    if m:
        return "thrust/cub " + m.group(1)
    return name[:80]


def main() -> int:
    rows, current = [], None
    for line in open(sys.argv[1], errors="replace"):
        m = re.search(r"Compiling entry function '([^']+)'", line)
        if m:
            current = {"name": short_name(m.group(1)), "regs": "", "stack": "", "st": "",
                       "ld": "", "smem": "0"}
            rows.append(current)
            continue
        if current is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads",
                      line)
        if m and current["stack"] == "":
            current["stack"], current["st"], current["ld"] = m.groups()
        m = re.search(r"Used (\d+) registers", line)
        if m:
            current["regs"] = m.group(1)
            s = re.search(r"(\d+) bytes smem", line)
            if s:
                current["smem"] = s.group(1)
    seen = set()
    print("| kernel (functor) | registers | stack frame (B) | spill stores / loads (B) | smem (B) |")
    print("|---|---|---|---|---|")
    for r in rows:
        key = tuple(r.values())
        if key in seen:
            continue
        seen.add(key)
        print(f"| {r['name']} | {r['regs']} | {r['stack']} | {r['st']} / {r['ld']} | {r['smem']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
