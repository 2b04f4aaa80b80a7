"""The Python side of tooling/bench/io.ts: mx.load of the same checkpoints to evaluated arrays,
and `tokenizers` encoding the same text. Prints JSON."""
import json
import sys

import mlx.core as mx
import tokenizers

from timing import best_of

cfg = json.loads(sys.argv[1])


def load_eval(path):
    arrays = mx.load(path)
    mx.eval(list(arrays.values()))


out = {}
for name, path in cfg["files"].items():
    load_eval(path)
    out[f"load_{name}_s"] = best_of(lambda: load_eval(path), cfg["repeats"])

tok = tokenizers.Tokenizer.from_file(cfg["tokenizer"])
text = open(cfg["text"], encoding="utf-8").read()
n = len(tok.encode(text, add_special_tokens=False).ids)
out["encode_tokens"] = n
out["encode_tokens_per_s"] = n / best_of(lambda: tok.encode(text, add_special_tokens=False), cfg["repeats"])
print(json.dumps(out))
