#!/usr/bin/env bash
# Stages the test suites for the GPU machine (no Node, Rust or registry there; at most 64 MiB
# per device call). On top of the benchmark parts a, b, c of tooling/bench/gpu/stage.sh (the
# CUDA libmlx.so and its include/, Node, the release .node), part t holds what git does not
# track but the suites need:
#
#   test-runtime.tar.xz   the workspace's node_modules as far as the vitest suites reach
#                         (test-runtime-files.mjs), the packages' dist/, and packages/core/native/
#                         with the release .node and its CPU runtime
#   cargo-tests.tar.xz    the crates' test binaries (`cargo test --no-run`, debug info stripped)
#   cargo-tests.txt       one line per binary: its file name and the crate folder it runs in
#   cargo-root.txt        this checkout's path, compiled into the binaries (CARGO_MANIFEST_DIR)
#   nvidia_cuda_crt-*.whl the pinned CUDA headers the machine's NVIDIA packages lack
#
# Usage (from the repository root, after `tooling/bootstrap.sh test` or `pnpm build`):
#   node tooling/build-native.mjs --release --out-dir /tmp/mlxn-release
#   tooling/gpu-suite/stage.sh [/tmp/mlxn-release]
# then the device calls in tooling/gpu-suite/README.md. .gpu-stage/ is git-ignored.
set -euo pipefail
cd "$(dirname "$0")/../.."
release=${1:-/tmp/mlxn-release}
[ -f "$release/mlxn.linux-x64-gnu.node" ] || { echo "stage: no release build in $release (build it first)" >&2; exit 1; }
tooling/bench/gpu/stage.sh "$release/mlxn.linux-x64-gnu.node"

out=.gpu-stage/t
rm -rf "$out" && mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The release binary with its CPU runtime, where a source checkout's loader looks first.
mkdir -p "$work/packages/core/native"
cp -a "$release"/. "$work/packages/core/native/"
node tooling/gpu-suite/test-runtime-files.mjs > "$work/files.txt"
tar --exclude=.vite --exclude=.vite-temp -cf - -T "$work/files.txt" -C "$work" packages/core/native \
  | xz -6 -T0 > "$out/test-runtime.tar.xz"

# The crates' test binaries, as `cargo test` builds them (the addon crate needs Node to link).
cargo test --workspace --exclude mlxn-node --no-run --message-format=json 2> "$work/cargo.log" \
  | node -e '
    const lines = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean).map(JSON.parse);
    const root = process.cwd();
    for (const m of lines) {
      if (m.reason !== "compiler-artifact" || !m.executable || !m.profile.test) continue;
      const crate = require("path").relative(root, require("path").dirname(m.manifest_path));
      console.log(m.executable + " " + crate);
    }' > "$work/bins.txt" || { cat "$work/cargo.log" >&2; exit 1; }
mkdir -p "$work/bin"
: > "$out/cargo-tests.txt"
while read -r exe crate; do
  strip --strip-debug -o "$work/bin/$(basename "$exe")" "$exe"
  echo "$(basename "$exe") $crate" >> "$out/cargo-tests.txt"
done < "$work/bins.txt"
tar -C "$work/bin" -cf - . | xz -6 -T0 > "$out/cargo-tests.tar.xz"
pwd > "$out/cargo-root.txt"

# The pinned nvidia-cuda-crt wheel (headers MLX's kernel compiler includes), which the GPU
# machine's own NVIDIA packages lack; run.sh adds it to the runtime's layout. Checked by hash.
crt=$(node -e '
  const w = require("./tooling/mlx-runtime/pin.json").distributions["linux-x64-cuda13"].wheels.find((x) => x.package === "nvidia-cuda-crt");
  console.log(w.package + "==" + w.version + " " + w.file + " " + w.sha256)')
read -r spec file sha <<< "$crt"
python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.12 -d "$out" "$spec"
echo "$sha  $out/$file" | sha256sum -c --quiet
du -sh .gpu-stage/*
