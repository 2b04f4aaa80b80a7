#!/usr/bin/env bash
# One entry point that works on a fresh machine with only Node, npm, Rust, Python (pip) and
# apt: installs pnpm (pinned) and the workspace, fetches the pinned MLX runtime (and, on a
# machine with an NVIDIA driver, its CUDA runtime), builds the native binary and the packages,
# then runs the demo or the full test suite.
#
#   tooling/bootstrap.sh demo    set everything up and run the core demo (examples/core-demo.ts)
#   tooling/bootstrap.sh main    set everything up and run the main job: GRPO on arithmetic
#                                (examples/grpo-arithmetic.ts; extra arguments go to it)
#   tooling/bootstrap.sh test    set everything up and run every test (cargo + vitest)
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.8
mode="${1:-}"
case "$mode" in
  demo|main|test) ;;
  *) echo "usage: tooling/bootstrap.sh demo|main|test" >&2; exit 2 ;;
esac

for tool in node npm cargo python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "bootstrap: '$tool' is required but not found (see docs/building.md)" >&2
    exit 1
  fi
done

# pnpm, pinned, installed into a cache folder (no global install, no root needed).
PNPM_HOME_DIR="${MLXN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlxn}/pnpm-$PNPM_VERSION"
if [ ! -x "$PNPM_HOME_DIR/node_modules/.bin/pnpm" ]; then
  echo "bootstrap: installing pnpm $PNPM_VERSION into $PNPM_HOME_DIR" >&2
  npm install --silent --no-audit --no-fund --prefix "$PNPM_HOME_DIR" "pnpm@$PNPM_VERSION" >&2
fi
export PATH="$PNPM_HOME_DIR/node_modules/.bin:$PATH"

pnpm install --frozen-lockfile
node tooling/mlx-runtime/fetch.mjs
# Where an NVIDIA driver is present (or MLXN_MLX_BACKEND=cuda), the CUDA runtime too (docs/gpu.md).
node tooling/mlx-runtime/fetch-cuda.mjs
if [ "$mode" = main ]; then
  # The main job runs what users run: the optimised (LTO) binary, as published.
  MLXN_NATIVE_PROFILE=release pnpm build
else
  pnpm build
fi

if [ "$mode" = demo ]; then
  pnpm demo
elif [ "$mode" = main ]; then
  shift
  pnpm main-job "$@"
else
  # Node 22 and 24 from the npm registry, for the suites that run on every major (docs/building.md).
  node tooling/node-runtimes/node-runtimes.mjs
  node tooling/test-all.mjs
fi
