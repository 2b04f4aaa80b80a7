//! Hugging Face tokenizers (`tokenizer.json` + `tokenizer_config.json`) over the `tokenizers`
//! crate, plus a streaming detokenizer for token-by-token generation.
use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{IoError, Result};
use crate::files::{read_regular, read_regular_text_if_exists};

/// The largest published `tokenizer.json` files (vocabularies of 256k tokens and their merges)
/// are a few tens of megabytes; parsing one takes several times its size in memory.
pub const MAX_TOKENIZER_BYTES: u64 = 256 << 20;
/// `tokenizer_config.json`: special tokens and chat templates, typically well under a megabyte.
pub const MAX_TOKENIZER_CONFIG_BYTES: u64 = 64 << 20;

pub struct Tokenizer {
    pub inner: tokenizers::Tokenizer,
    /// The parsed `tokenizer_config.json` (empty object when absent).
    pub config: Value,
}

/// A token in `tokenizer_config.json` is a string or an object with `content`.
fn token_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

impl Tokenizer {
    /// Loads `tokenizer.json` (and `tokenizer_config.json` when present) from a folder.
    pub fn from_folder(folder: &Path) -> Result<Tokenizer> {
        let json = folder.join("tokenizer.json");
        let bytes = read_regular(&json, MAX_TOKENIZER_BYTES, "tokenizer.json files")?;
        let inner = tokenizers::Tokenizer::from_bytes(&bytes).map_err(|e| IoError::file(&json, &format!("malformed tokenizer: {e}")))?;
        drop(bytes);
        let cfg_path = folder.join("tokenizer_config.json");
        let config = match read_regular_text_if_exists(&cfg_path, MAX_TOKENIZER_CONFIG_BYTES, "tokenizer_config.json files")? {
            Some(t) => serde_json::from_str(&t).map_err(|e| IoError::file(&cfg_path, &format!("not valid JSON: {e}")))?,
            None => Value::Object(Default::default()),
        };
        if !config.is_object() {
            return Err(IoError::file(&cfg_path, "expected a JSON object"));
        }
        Ok(Tokenizer { inner, config })
    }

    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, add_special_tokens).map_err(|e| IoError::msg(format!("encode failed: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    pub fn encode_batch(&self, texts: Vec<String>, add_special_tokens: bool) -> Result<Vec<Vec<u32>>> {
        let encs = self.inner.encode_batch(texts, add_special_tokens).map_err(|e| IoError::msg(format!("encode failed: {e}")))?;
        Ok(encs.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner.decode(ids, skip_special_tokens).map_err(|e| IoError::msg(format!("decode failed: {e}")))
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Named special tokens from the config (`bos`, `eos`, `pad`, `unk`) and the model's extra
    /// ones (`additional_special_tokens`, and every added token marked special).
    pub fn special_tokens(&self) -> (BTreeMap<String, String>, Vec<String>) {
        let mut named = BTreeMap::new();
        for key in ["bos_token", "eos_token", "pad_token", "unk_token"] {
            if let Some(t) = self.config.get(key).and_then(token_text) {
                named.insert(key.trim_end_matches("_token").to_string(), t);
            }
        }
        let mut extra: Vec<String> = self
            .config
            .get("additional_special_tokens")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(token_text).collect())
            .unwrap_or_default();
        let mut added: Vec<(u32, String)> =
            self.inner.get_added_tokens_decoder().into_iter().filter(|(_, t)| t.special).map(|(id, t)| (id, t.content)).collect();
        added.sort();
        for (_, t) in added {
            if !extra.contains(&t) {
                extra.push(t);
            }
        }
        (named, extra)
    }

    /// The `chat_template` string from the config (the default one when it is a list).
    pub fn chat_template(&self, name: Option<&str>) -> Option<String> {
        match self.config.get("chat_template")? {
            Value::String(s) => Some(s.clone()),
            Value::Array(list) => {
                let want = name.unwrap_or("default");
                list.iter().find(|t| t.get("name").and_then(Value::as_str) == Some(want))?.get("template")?.as_str().map(str::to_string)
            }
            _ => None,
        }
    }
}

/// Token-by-token detokenizer: decodes the tokens of the current segment and emits only text
/// that ends at a complete character (a trailing U+FFFD means a UTF-8 sequence is still
/// incomplete). A segment restarts after a newline so each step decodes a short window.
#[derive(Default)]
pub struct StreamDecoder {
    ids: Vec<u32>,
    emitted: usize,
}

impl StreamDecoder {
    pub fn push(&mut self, tok: &Tokenizer, id: u32, skip_special_tokens: bool) -> Result<String> {
        self.ids.push(id);
        let text = tok.decode(&self.ids, skip_special_tokens)?;
        if text.ends_with('\u{FFFD}') {
            return Ok(String::new());
        }
        let out = text.get(self.emitted..).unwrap_or("").to_string();
        if text.ends_with('\n') {
            self.ids.clear();
            self.emitted = 0;
        } else {
            self.emitted = text.len();
        }
        Ok(out)
    }

    /// Whatever is left (an incomplete sequence comes out as U+FFFD, as a full decode would).
    pub fn finish(&mut self, tok: &Tokenizer, skip_special_tokens: bool) -> Result<String> {
        let text = tok.decode(&self.ids, skip_special_tokens)?;
        let out = text.get(self.emitted..).unwrap_or("").to_string();
        self.ids.clear();
        self.emitted = 0;
        Ok(out)
    }
}
