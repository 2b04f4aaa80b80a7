//! Constrained decoding: a grammar (a JSON Schema, or a Lark grammar that may embed JSON
//! Schemas with `%json`) turned into the set of tokens allowed at each step, with Microsoft's
//! llguidance (the engine vLLM, SGLang and llama.cpp use for structured output).
//!
//! A [`Vocabulary`] is built once per tokenizer: every token's bytes (read from the tokenizer's
//! `tokenizer.json` by llguidance itself) in a token trie, plus the parser factory that shares
//! it. A [`TokenConstraint`] is one generation's state: [`TokenConstraint::allowed`] gives the
//! tokens that keep the output a prefix of a sentence of the grammar (the end-of-sequence tokens
//! only where the sentence is complete), and [`TokenConstraint::accept`] advances it by the token
//! that was sampled. Everything here is plain Rust (tested with `cargo test`, no Node).
//!
//! Bounds: llguidance meters its own work with "fuel" (lexer construction and every mask) and
//! caps grammar size, lexer states and Earley items ([`ParserLimits`]), so a hostile schema fails
//! with an error instead of running away; the schema's JSON is parsed by serde_json, whose
//! recursion limit (128 levels) refuses deeper nesting.
use std::sync::Arc;

use llguidance::api::{ParserLimits, TopLevelGrammar};
use llguidance::toktrie::{ApproximateTokEnv, InferenceCapabilities, SimpleVob, TokEnv, TokRxInfo, TokTrie};
use llguidance::{Matcher, ParserFactory};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConstraintError(pub String);

fn err(message: impl Into<String>) -> ConstraintError {
    ConstraintError(message.into())
}

/// The limits every constraint is compiled and run under: llguidance's defaults except a
/// smaller lexer-state cap (each state costs 1-2 kB; 50,000 bounds one row's lexer at ~100 MB
/// where the default allowed ~500 MB) and terse errors (the default repeats the grammar).
fn limits() -> ParserLimits {
    ParserLimits { max_lexer_states: 50_000, verbose_errors: false, ..ParserLimits::default() }
}

/// How generated JSON is spaced: `json.dumps`' separators (`", "`, `": "`), as the chat
/// templates write tool calls, and no other whitespace, so the model cannot pad the document
/// with whitespace forever.
pub fn json_layout() -> Value {
    serde_json::json!({ "item_separator": ", ", "key_separator": ": ", "whitespace_flexible": false })
}

/// A tokenizer's tokens as llguidance sees them, shared by every constraint on it.
pub struct Vocabulary {
    factory: Arc<ParserFactory>,
    size: usize,
}

impl Vocabulary {
    /// From the text of a Hugging Face `tokenizer.json` (byte-level BPE or byte-fallback) and the
    /// token ids that end a generation (the first is the one llguidance names EOS).
    pub fn from_tokenizer_json(tokenizer_json: &str, eos_token_ids: &[u32]) -> Result<Vocabulary, ConstraintError> {
        let json: Value = serde_json::from_str(tokenizer_json).map_err(|e| err(format!("tokenizer.json is not valid JSON: {e}")))?;
        let mut words = llguidance::token_bytes_from_tokenizer_json(&json).map_err(|e| err(format!("tokenizer.json: {e}")))?;
        Self::from_token_bytes(std::mem::take(&mut words), eos_token_ids)
    }

    /// From every token's bytes (index = token id; special tokens start with byte 0xFF).
    pub fn from_token_bytes(words: Vec<Vec<u8>>, eos_token_ids: &[u32]) -> Result<Vocabulary, ConstraintError> {
        let size = words.len();
        let Some(&eos) = eos_token_ids.first() else { return Err(err("at least one end-of-sequence token id is needed")) };
        if let Some(bad) = eos_token_ids.iter().find(|&&t| t as usize >= size) {
            return Err(err(format!("end-of-sequence token {bad} is not in the vocabulary (size {size})")));
        }
        let info = TokRxInfo::new(size as u32, eos);
        let trie = TokTrie::from(&info, &words).with_eos_tokens(eos_token_ids);
        let env: TokEnv = Arc::new(ApproximateTokEnv::new(trie));
        let mut factory =
            ParserFactory::new(&env, InferenceCapabilities::default(), &llguidance::earley::SlicedBiasComputer::json_slices())
                .map_err(|e| err(format!("llguidance: {e}")))?;
        factory.quiet();
        *factory.limits_mut() = limits();
        Ok(Vocabulary { factory: Arc::new(factory), size })
    }

    /// Tokens the tokenizer defines (ids `0..size`; a model's logits may be wider).
    pub fn size(&self) -> usize {
        self.size
    }
}

/// What a constraint is compiled from.
pub enum Grammar<'a> {
    /// A JSON Schema (JSON text); `{"type": "object"}` is OpenAI's `json_object`.
    JsonSchema(&'a str),
    /// A Lark grammar in llguidance's dialect (`%json { … }` embeds a JSON Schema).
    Lark(&'a str),
}

/// One generation's position in a grammar.
pub struct TokenConstraint {
    matcher: Matcher,
    size: usize,
}

impl TokenConstraint {
    pub fn new(vocab: &Vocabulary, grammar: Grammar<'_>) -> Result<TokenConstraint, ConstraintError> {
        let top = match grammar {
            Grammar::JsonSchema(text) => {
                let mut schema: Value = serde_json::from_str(text).map_err(|e| {
                    if e.to_string().starts_with("recursion limit exceeded") {
                        err("the JSON schema nests too deeply (more than 128 levels of JSON)")
                    } else {
                        err(format!("the JSON schema is not valid JSON: {e}"))
                    }
                })?;
                schema = match schema {
                    Value::Bool(true) => serde_json::json!({}),
                    Value::Object(o) => Value::Object(o),
                    _ => return Err(err("a JSON schema must be an object (or true)")),
                };
                // Our layout, whatever the schema says: `x-guidance` is llguidance's own
                // option key, not the caller's to set.
                schema.as_object_mut().expect("an object").insert("x-guidance".into(), json_layout());
                TopLevelGrammar::from_json_schema(schema)
            }
            Grammar::Lark(text) => TopLevelGrammar::from_lark(text.to_string()),
        };
        let parser = vocab.factory.create_parser(top).map_err(|e| err(format!("{e}")))?;
        let mut matcher = Matcher::new(Ok(parser));
        if let Some(e) = matcher.get_error() {
            return Err(err(e));
        }
        // The first mask is where lazily built lexer states are made: a grammar that cannot
        // produce any token fails here, at compile time, rather than at the first step.
        let first = matcher.compute_mask().map_err(|e| err(format!("{e}")))?;
        if first.is_zero() {
            return Err(err("the grammar allows no output (an unsatisfiable schema?)"));
        }
        Ok(TokenConstraint { matcher, size: vocab.size })
    }

    /// Tokens allowed next: those that keep the output a prefix of a sentence of the grammar,
    /// plus the end-of-sequence tokens when the sentence may end here (only those once it must).
    pub fn allowed(&mut self) -> Result<SimpleVob, ConstraintError> {
        self.matcher.compute_mask_or_eos().map_err(|e| err(format!("{e}")))
    }

    /// `allowed()` as one flag per logit column (`width` may exceed the vocabulary: a model's
    /// embedding is often padded; the extra columns are never allowed).
    pub fn allowed_flags(&mut self, width: usize) -> Result<Vec<bool>, ConstraintError> {
        let mask = self.allowed()?;
        let mut flags = vec![false; width];
        mask.iter_set_entries(|i| {
            if i < width {
                flags[i] = true;
            }
        });
        Ok(flags)
    }

    /// Advances by the sampled token, which must be allowed (an end-of-sequence token ends the
    /// constraint: nothing is accepted after it).
    pub fn accept(&mut self, token: u32) -> Result<(), ConstraintError> {
        if token as usize >= self.size {
            return Err(err(format!("token {token} is outside the vocabulary (size {})", self.size)));
        }
        self.matcher.consume_token(token).map_err(|e| err(format!("token {token} does not continue the grammar: {e}")))
    }

    /// Could the output end here (is what was accepted a complete sentence)?
    pub fn is_accepting(&mut self) -> bool {
        self.matcher.is_accepting().unwrap_or(false)
    }

    /// Is the sentence complete with nothing more allowed (or did the constraint fail)?
    pub fn is_finished(&self) -> bool {
        self.matcher.is_stopped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A byte-level vocabulary: the 256 single bytes, a few multi-byte words, and an EOS.
    fn vocab() -> Vocabulary {
        let mut words: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for w in ["{\"", "\":", "\": ", "\", ", "true", "false", "null", "ab", "\\n", "{}"] {
            words.push(w.as_bytes().to_vec());
        }
        words.push(b"\xFF<|eos|>".to_vec());
        let eos = (words.len() - 1) as u32;
        Vocabulary::from_token_bytes(words, &[eos]).unwrap()
    }

    fn eos(v: &Vocabulary) -> u32 {
        (v.size() - 1) as u32
    }

    /// Feeds `text` byte by byte, checking each byte is allowed first.
    fn feed(c: &mut TokenConstraint, text: &str) {
        for b in text.bytes() {
            let allowed = c.allowed().unwrap();
            assert!(allowed.is_allowed(b as u32), "byte {:?} refused after feeding part of {text:?}", b as char);
            c.accept(b as u32).unwrap();
        }
    }

    #[test]
    fn a_schema_allows_exactly_its_documents() {
        let v = vocab();
        let schema = r#"{"type":"object","properties":{"name":{"type":"string"},"tags":{"type":"array","items":{"enum":["a","b"]}}},"required":["name","tags"],"additionalProperties":false}"#;
        let mut c = TokenConstraint::new(&v, Grammar::JsonSchema(schema)).unwrap();
        let first = c.allowed().unwrap();
        assert!(first.is_allowed(b'{' as u32));
        assert!(!first.is_allowed(b' ' as u32), "no leading whitespace");
        assert!(!first.is_allowed(b'[' as u32));
        assert!(!first.is_allowed(eos(&v)), "an empty document is not complete");
        feed(&mut c, r#"{"name": "x\"y", "tags": ["a", "#);
        let m = c.allowed().unwrap();
        assert!(m.is_allowed(b'"' as u32));
        assert!(!m.is_allowed(b'1' as u32), "enum items are strings");
        feed(&mut c, r#""b"]}"#);
        assert!(c.is_accepting());
        let end = c.allowed().unwrap();
        assert!(end.is_allowed(eos(&v)));
        assert_eq!(end.num_set(), 1, "only end-of-sequence after a complete document");
    }

    #[test]
    fn required_fields_must_come_before_the_end() {
        let v = vocab();
        let schema = r#"{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"boolean"}},"required":["a","b"]}"#;
        let mut c = TokenConstraint::new(&v, Grammar::JsonSchema(schema)).unwrap();
        feed(&mut c, r#"{"a": 12"#);
        let m = c.allowed().unwrap();
        assert!(!m.is_allowed(b'}' as u32), "b is required");
        assert!(m.is_allowed(b',' as u32));
        assert!(m.is_allowed(b'3' as u32));
        assert!(!m.is_allowed(b'.' as u32), "an integer");
    }

    #[test]
    fn multi_byte_tokens_are_allowed_only_where_all_their_bytes_fit() {
        let v = vocab();
        let mut c = TokenConstraint::new(
            &v,
            Grammar::JsonSchema(
                r#"{"type":"object","properties":{"ab":{"type":"boolean"}},"required":["ab"],"additionalProperties":false}"#,
            ),
        )
        .unwrap();
        let id = |w: &str| {
            (256 + ["{\"", "\":", "\": ", "\", ", "true", "false", "null", "ab", "\\n", "{}"].iter().position(|x| *x == w).unwrap()) as u32
        };
        let m = c.allowed().unwrap();
        assert!(m.is_allowed(id("{\"")));
        assert!(!m.is_allowed(id("{}")), "the required key is missing");
        c.accept(id("{\"")).unwrap();
        c.accept(id("ab")).unwrap();
        let m = c.allowed().unwrap();
        assert!(m.is_allowed(id("\": ")) && m.is_allowed(id("\":")));
        c.accept(id("\":")).unwrap();
        let m = c.allowed().unwrap();
        assert!(m.is_allowed(b' ' as u32));
        assert_eq!(m.num_set(), 1, "the key separator is \": \"");
        c.accept(b' ' as u32).unwrap();
        let m = c.allowed().unwrap();
        assert!(m.is_allowed(id("true")) && m.is_allowed(id("false")) && !m.is_allowed(id("null")));
    }

    #[test]
    fn a_refused_token_is_an_error() {
        let v = vocab();
        let mut c = TokenConstraint::new(&v, Grammar::JsonSchema(r#"{"type":"object"}"#)).unwrap();
        assert!(c.accept(b'x' as u32).is_err());
    }

    #[test]
    fn lark_grammars_embed_schemas() {
        let v = vocab();
        let lark = r#"start: "<tool>" %json {"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]} "</tool>""#;
        let mut c = TokenConstraint::new(&v, Grammar::Lark(lark)).unwrap();
        feed(&mut c, r#"<tool>{"n": 5}</tool>"#);
        assert!(c.is_accepting());
    }

    #[test]
    fn bad_schemas_are_errors() {
        let v = vocab();
        for (schema, why) in [
            ("{", "not valid JSON"),
            ("[1]", "must be an object"),
            (
                r#"{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false,"maxProperties":0}"#,
                "",
            ),
            (r#"{"type":"nope"}"#, ""),
            (r##"{"$ref":"#/$defs/missing"}"##, ""),
        ] {
            let e = TokenConstraint::new(&v, Grammar::JsonSchema(schema)).err().unwrap_or_else(|| panic!("{schema} compiled"));
            assert!(e.0.contains(why), "{schema}: {}", e.0);
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let v = vocab();
        let deep = format!("{}{{}}{}", r#"{"type":"array","items":"#.repeat(200), "}".repeat(200));
        let e = TokenConstraint::new(&v, Grammar::JsonSchema(&deep)).err().expect("refused");
        assert!(e.0.contains("nests too deeply"), "{}", e.0);
    }

    #[test]
    fn extra_logit_columns_are_never_allowed() {
        let v = vocab();
        let mut c = TokenConstraint::new(&v, Grammar::JsonSchema(r#"{"type":"object"}"#)).unwrap();
        let flags = c.allowed_flags(v.size() + 10);
        let flags = flags.unwrap();
        assert_eq!(flags.len(), v.size() + 10);
        assert!(flags[b'{' as usize]);
        assert!(flags[v.size()..].iter().all(|&f| !f));
    }
}
