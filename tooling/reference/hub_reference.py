"""The real huggingface_hub against the mock hub (tooling/test-support/hub-mock.mjs), for
packages/models-qwen3/test/hub-python-reference.test.ts. Pinned: huggingface_hub==2.4.0
(tooling/reference/hub-env.mjs installs it).

  python hub_reference.py download <repo> <revision> <file>...   snapshot_download of those files
  python hub_reference.py read <repo> <revision>                 the cached snapshot, offline

HF_ENDPOINT and HF_HUB_CACHE come from the environment. Prints one JSON object: the snapshot
folder and the sha256 of each file read through it (for `read`, also through hf_hub_download).
"""
import hashlib
import json
import os
import sys

import huggingface_hub
from huggingface_hub import hf_hub_download, snapshot_download

assert huggingface_hub.__version__ == "2.4.0", huggingface_hub.__version__


def digests(folder):
    out = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def main():
    mode, repo, revision = sys.argv[1:4]
    if mode == "download":
        folder = snapshot_download(repo, revision=revision, allow_patterns=sys.argv[4:])
        print(json.dumps({"snapshot": folder, "files": digests(folder)}))
    elif mode == "read":
        folder = snapshot_download(repo, revision=revision, local_files_only=True)
        config = hf_hub_download(repo, "config.json", revision=revision, local_files_only=True)
        print(json.dumps({"snapshot": folder, "files": digests(folder), "config": config}))
    else:
        raise SystemExit(f"unknown mode {mode}")


main()
