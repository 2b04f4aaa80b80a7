"""Prints a few lines per benchmark JSON under a folder (default $OUT): the ratios and absolute
numbers a note quotes, so a device call's output stays short.

    python3 tooling/bench/gpu/summary.py [folder]
"""
import json
import os
import sys
from pathlib import Path

folder = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", "/tmp"))
for f in sorted(folder.glob("*.json")):
    try:
        d = json.loads(f.read_text())
    except ValueError:
        print(f"{f.name}: not JSON")
        continue
    env = {k: v for k, v in d.get("env", {}).items() if v is not None}
    print(f"{f.name} {d.get('benchmark', '')} {env}")
    for case, r in d.get("results", {}).items():
        if "ratio" not in r:
            print(f"  {case}: {json.dumps(r)[:300]}")
            continue
        ours, theirs, ratio = r["mlxn"], r["mlx_lm"], r["ratio"]
        gen = ratio.get("generation_tps", {})
        mem = ratio.get("peak_memory", {})
        print(
            f"  {case}: gen {ours['generation_tps']['best']:.1f}/{theirs['generation_tps']['best']:.1f} tok/s"
            f" ratio {gen.get('best')}/{gen.get('median')} prompt {ratio.get('prompt_tps')}"
            f" ({ours['prompt_tps']['best']:.0f}/{theirs['prompt_tps']['best']:.0f})"
            f" peak {ours['peak_memory']['best'] / 1e6:.0f}/{theirs['peak_memory']['best'] / 1e6:.0f} MB ratio {mem.get('best')}/{mem.get('median')}"
        )
        if "runs" in r:
            peaks = {side: [round(x["peak_memory"] / 1e6) for x in runs] for side, runs in r["runs"].items()}
            print(f"    peak MB per repeat: ours {peaks['mlxn']} mlx-lm {peaks['mlx_lm']}")
    for k in ("pass", "fused_used", "levels", "ratios", "ours_batching_gain", "ours_phase_ms", "cases_ms"):
        if k in d:
            print(f"  {k}: {json.dumps(d[k])[:900]}")
