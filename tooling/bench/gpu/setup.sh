# Sourced by tooling/bench/gpu/run.sh and tooling/gpu-suite/run.sh on the GPU machine: unpacks
# the staged parts in /tmp/mlxn-gpu once per machine and exports the environment both need.
#
# Setup: mlx + mlx-lm installed with pip --no-index into /tmp/mlxn-gpu/site, the mlx-cuda-13
# tarball unpacked over it (libmlx.so, include/ for MLX's JIT), the release .node placed beside
# libmlx.so, Node unpacked, and the NVIDIA libraries of the machine's own Python packages on
# LD_LIBRARY_PATH.
S=/tmp/mlxn-gpu
cd "$S"
if [ ! -f .ready ]; then
  xz -dc node.xz > node && chmod +x node
  python3 -m pip install -q --no-index --no-deps --no-compile --target site wheels/*.whl
  cat mlx-cuda.tar.xz.part-* | xz -dc | tar -x -C site
  xz -dc mlxn.node.xz > site/mlx/lib/mlxn.linux-x64-gnu.node
  mkdir -p tokenizer && xz -dc tokenizer.tar.xz | tar -x -C tokenizer
  [ -f profile/libcupti.so.13.xz ] && xz -dc profile/libcupti.so.13.xz > profile/libcupti.so.13
  touch .ready
fi
NVIDIA_DIR=$(python3 -c 'import site; print(site.getsitepackages()[0])')/nvidia
export LD_LIBRARY_PATH="$(find "$NVIDIA_DIR" -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONPATH="$S/site" MLXN_REFERENCE_PYTHON=python3 MLXN_TOKENIZER_DIR="$S/tokenizer"
export PYTHONUNBUFFERED=1 TRANSFORMERS_VERBOSITY=error
cd - > /dev/null
