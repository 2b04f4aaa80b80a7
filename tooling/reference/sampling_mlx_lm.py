"""Loads mlx-lm's sample_utils module on its own (by file path), so the reference scripts need
only `mlx` and not the rest of mlx-lm's dependency tree (transformers, huggingface_hub...)."""
import importlib.util
import os


def load_sample_utils():
    spec = importlib.util.find_spec("mlx_lm")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("mlx-lm is not installed in this Python (see tooling/reference/sampling-env.mjs)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "sample_utils.py")
    mod_spec = importlib.util.spec_from_file_location("mlx_lm_sample_utils", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod
