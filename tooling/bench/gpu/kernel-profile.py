"""Summarizes the tables kernel-profile.cc wrote (one per process that used CUDA): how long the
device ran kernels, how much of the process's kernel span that was, and which kernels took the
time, grouped and one by one.

    python3 kernel-profile.py FOLDER [--top N] [--per-step K]

--per-step K divides the totals by K (the decoding steps each process ran) so the two sides'
tables read as time per step.
"""
import argparse
import re
from pathlib import Path

GROUPS = [
    ("ours (mlxn_*)", re.compile(r"mlxn_")),
    ("attention (MLX)", re.compile(r"sdpa|attention|flash", re.I)),
    ("matmul", re.compile(r"gemm|cutlass|cublas|sm90_|sm80_|nvjet|matmul|gemv", re.I)),
    ("copy / slice update", re.compile(r"copy|slice|scatter|gather|concat", re.I)),
    ("norm / rope", re.compile(r"rms|norm|rope", re.I)),
    ("reduce / arg", re.compile(r"reduce|arg_|argmax|softmax|logsumexp", re.I)),
    ("elementwise", re.compile(r"binary|unary|ternary|compiled|fused|elementwise", re.I)),
]


def group_of(name: str) -> str:
    for label, pattern in GROUPS:
        if pattern.search(name):
            return label
    return "other"


def read(path: Path):
    header, rows = {}, []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("# "):
            key, _, value = line[2:].partition("\t")
            header[key] = value
        elif line and not line.startswith("count\t"):
            count, total, name, grid, block = (line.split("\t") + ["", "", ""])[:5]
            rows.append((int(count), int(total), name, grid, block))
    return header, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--per-step", type=float, default=0)
    args = parser.parse_args()
    for path in sorted(Path(args.folder).glob("kernels-*.tsv")):
        header, rows = read(path)
        if not rows:
            continue
        per = args.per_step or 1
        unit = "per step" if args.per_step else "in all"
        command = header.get("command", "?").strip()
        span, busy = int(header.get("span_ns", 0)), int(header.get("busy_ns", 0))
        launches = sum(r[0] for r in rows)
        print(f"== {path.name}: {command[:110]}")
        print(
            f"   {launches / per:.1f} kernels {unit}, busy {busy / per / 1e3:.1f} us {unit}, span {span / per / 1e3:.1f} us,"
            f" device busy {100 * busy / max(span, 1):.1f}% of the span, dropped records {header.get('dropped')}"
        )
        groups: dict[str, list[int]] = {}
        for count, total, name, _, _ in rows:
            entry = groups.setdefault(group_of(name), [0, 0])
            entry[0] += count
            entry[1] += total
        for label, (count, total) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
            print(f"   {label:22s} {count / per:8.1f} kernels {total / per / 1e3:9.1f} us  {100 * total / max(busy, 1):5.1f}%")
        print(f"   top {args.top} (count {unit}, us {unit}, us each, grid, block, name):")
        for count, total, name, grid, block in sorted(rows, key=lambda r: -r[1])[: args.top]:
            print(f"   {count / per:8.1f} {total / per / 1e3:9.1f} {total / count / 1e3:8.2f}  {grid:>12s} {block:>10s}  {name[:100]}")


if __name__ == "__main__":
    main()
