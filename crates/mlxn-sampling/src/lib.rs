//! The Rust side of `@mlxn/sampling`.
//!
//! Almost all of sampling is MLX graph work (sort, cumsum, scatter, categorical), which the
//! TypeScript package builds with `@mlxn/core` ops and compiles with `mx.compile`; doing it here
//! would only duplicate those ops. What does belong natively is the one piece of host work on the
//! MLX path: when a caller passes token histories as plain JS lists (one per row, of different
//! lengths), the logits processors need them as a rectangular `[B, C]` index array plus a weight
//! mask, cut to each processor's context window and checked against the vocabulary. This crate
//! does that packing in one pass and hands MLX a single `int32` array, instead of the JS side
//! building nested arrays element by element. `history_windows` is plain Rust (tested with
//! `cargo test`, no Node); the `napi` feature exports it to the addon as `samplingHistoryWindows`.
//!
//! The other piece is constrained decoding (`constraint`): compiling a JSON Schema or grammar
//! into the set of tokens allowed at each step is host work over the whole vocabulary, done by
//! llguidance; the addon exports it as the `SamplingVocabulary` and `SamplingConstraint` classes.

pub mod constraint;

/// Per-row context windows, packed for a scatter along the vocabulary axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows {
    pub rows: usize,
    /// Width `C`: the longest window (0 when every history is empty).
    pub width: usize,
    /// `[rows, width]` token ids. Padding repeats the row's first window token (harmless for
    /// set-style updates), or is 0 in an empty row.
    pub index: Vec<i32>,
    /// `[rows, width]`: 1 for a real history entry, 0 for padding (so additive updates such
    /// as the frequency penalty count each occurrence exactly once).
    pub weight: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WindowError(pub String);

/// Cuts each history to its last `context_size` tokens and packs the windows.
/// Token ids must be integers in `[0, vocab_size)`.
pub fn history_windows(histories: &[Vec<f64>], context_size: usize, vocab_size: usize) -> Result<Windows, WindowError> {
    if context_size == 0 {
        return Err(WindowError("contextSize must be a positive integer, got 0".into()));
    }
    let rows = histories.len();
    let width = histories.iter().map(|h| h.len().min(context_size)).max().unwrap_or(0);
    let mut index = vec![0i32; rows * width];
    let mut weight = vec![0i32; rows * width];
    for (r, h) in histories.iter().enumerate() {
        let window = &h[h.len() - h.len().min(context_size)..];
        for (c, &t) in window.iter().enumerate() {
            if !(t.fract() == 0.0 && t >= 0.0 && t < vocab_size as f64) {
                return Err(WindowError(format!("token history row {r}: token {t} is not an integer id in [0, {vocab_size})")));
            }
            index[r * width + c] = t as i32;
            weight[r * width + c] = 1;
        }
        let pad = window.first().map_or(0, |&t| t as i32);
        for c in window.len()..width {
            index[r * width + c] = pad;
        }
    }
    Ok(Windows { rows, width, index, weight })
}

// napi-derive registers the exports only outside test builds, where they would be dead code.
#[cfg(all(feature = "napi", not(test)))]
mod js {
    use mlxn_core::Array;
    use mlxn_core::js::{JsArray, Result, arg_err};
    use napi_derive::napi;

    /// `int32 [2, B, C]`: `[0]` the window token ids, `[1]` the weights (see `Windows`).
    #[napi(js_name = "samplingHistoryWindows", catch_unwind)]
    pub fn sampling_history_windows(histories: Vec<Vec<f64>>, context_size: u32, vocab_size: u32) -> Result<JsArray> {
        let w = super::history_windows(&histories, context_size as usize, vocab_size as usize).map_err(|e| arg_err(e.0))?;
        let mut packed = w.index;
        packed.extend_from_slice(&w.weight);
        Ok(JsArray::new(Array::from_slice(&packed, &[2, w.rows as i32, w.width as i32])?))
    }

    use crate::constraint::{self, ConstraintError};
    use std::sync::Arc;

    fn constraint_err(e: ConstraintError) -> mlxn_core::js::JsError {
        arg_err(e.0)
    }

    /// A tokenizer's vocabulary prepared for constrained decoding (built once per tokenizer).
    #[napi(js_name = "SamplingVocabulary")]
    pub struct SamplingVocabulary {
        inner: Arc<constraint::Vocabulary>,
    }

    #[napi]
    impl SamplingVocabulary {
        /// From `tokenizer.json`'s text and the ids that end a generation.
        #[napi(factory, js_name = "fromTokenizerJson", catch_unwind)]
        pub fn from_tokenizer_json(tokenizer_json: String, eos_token_ids: Vec<u32>) -> Result<SamplingVocabulary> {
            let inner = constraint::Vocabulary::from_tokenizer_json(&tokenizer_json, &eos_token_ids).map_err(constraint_err)?;
            Ok(SamplingVocabulary { inner: Arc::new(inner) })
        }
        #[napi(getter, catch_unwind)]
        pub fn size(&self) -> u32 {
            self.inner.size() as u32
        }
    }

    /// Builds a `SamplingVocabulary` on a libuv worker thread (the trie and the slicer of a
    /// 150k-token vocabulary take most of a second; the JS thread keeps serving meanwhile).
    pub struct BuildVocabulary {
        tokenizer_json: String,
        eos_token_ids: Vec<u32>,
    }

    impl napi::Task for BuildVocabulary {
        type Output = constraint::Vocabulary;
        type JsValue = SamplingVocabulary;

        fn compute(&mut self) -> napi::Result<Self::Output> {
            let json = std::mem::take(&mut self.tokenizer_json);
            constraint::Vocabulary::from_tokenizer_json(&json, &self.eos_token_ids)
                .map_err(|e| napi::Error::new(napi::Status::InvalidArg, e.0))
        }

        fn resolve(&mut self, _env: napi::Env, output: Self::Output) -> napi::Result<Self::JsValue> {
            Ok(SamplingVocabulary { inner: Arc::new(output) })
        }
    }

    /// `SamplingVocabulary.fromTokenizerJson` off the JS thread.
    #[napi(js_name = "samplingBuildVocabulary", ts_return_type = "Promise<SamplingVocabulary>", catch_unwind)]
    pub fn sampling_build_vocabulary(tokenizer_json: String, eos_token_ids: Vec<u32>) -> napi::bindgen_prelude::AsyncTask<BuildVocabulary> {
        napi::bindgen_prelude::AsyncTask::new(BuildVocabulary { tokenizer_json, eos_token_ids })
    }

    /// One generation's position in a grammar; `dispose` frees its parser state at once.
    #[napi(js_name = "SamplingConstraint")]
    pub struct SamplingConstraint {
        inner: Option<constraint::TokenConstraint>,
    }

    #[napi]
    impl SamplingConstraint {
        /// `kind` is `"json_schema"` (source: the schema's JSON text) or `"lark"`.
        #[napi(factory, catch_unwind)]
        pub fn compile(vocabulary: &SamplingVocabulary, kind: String, source: String) -> Result<SamplingConstraint> {
            let grammar = match kind.as_str() {
                "json_schema" => constraint::Grammar::JsonSchema(&source),
                "lark" => constraint::Grammar::Lark(&source),
                other => return Err(arg_err(format!("unknown grammar kind {other:?} (json_schema or lark)"))),
            };
            let inner = constraint::TokenConstraint::new(&vocabulary.inner, grammar).map_err(constraint_err)?;
            Ok(SamplingConstraint { inner: Some(inner) })
        }

        fn live(&mut self) -> Result<&mut constraint::TokenConstraint> {
            self.inner.as_mut().ok_or_else(|| arg_err("this constraint was disposed"))
        }

        /// `bool [1, width]`: true where a token may be sampled next; `also` are allowed besides
        /// the grammar's tokens (even when also in `never`) and `never` are not, whatever the grammar says.
        #[napi(catch_unwind)]
        pub fn mask(&mut self, width: u32, also: Vec<u32>, never: Vec<u32>) -> Result<JsArray> {
            let mut flags = self.live()?.allowed_flags(width as usize).map_err(constraint_err)?;
            for (ids, value) in [(&never, false), (&also, true)] {
                for &t in ids {
                    if let Some(f) = flags.get_mut(t as usize) {
                        *f = value;
                    }
                }
            }
            Ok(JsArray::new(Array::from_slice(&flags, &[1, width as i32])?))
        }

        /// The ids allowed next (for tests and diagnostics).
        #[napi(js_name = "allowedTokens", catch_unwind)]
        pub fn allowed_tokens(&mut self) -> Result<Vec<u32>> {
            Ok(self.live()?.allowed().map_err(constraint_err)?.to_list())
        }

        #[napi(catch_unwind)]
        pub fn accept(&mut self, token: u32) -> Result<()> {
            self.live()?.accept(token).map_err(constraint_err)
        }

        #[napi(js_name = "isAccepting", catch_unwind)]
        pub fn is_accepting(&mut self) -> Result<bool> {
            Ok(self.live()?.is_accepting())
        }

        #[napi(js_name = "isFinished", catch_unwind)]
        pub fn is_finished(&mut self) -> Result<bool> {
            Ok(self.live()?.is_finished())
        }

        #[napi(catch_unwind)]
        pub fn dispose(&mut self) {
            self.inner = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_last_context_tokens_per_row() {
        let h = vec![vec![1.0, 5.0, 5.0, 2.0, 9.0, 5.0], vec![0.0, 7.0], vec![]];
        let w = history_windows(&h, 4, 16).unwrap();
        assert_eq!((w.rows, w.width), (3, 4));
        assert_eq!(w.index, vec![5, 2, 9, 5, 0, 7, 0, 0, 0, 0, 0, 0]);
        assert_eq!(w.weight, vec![1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn width_is_the_longest_window() {
        let h = vec![vec![3.0], vec![4.0, 6.0]];
        let w = history_windows(&h, 20, 16).unwrap();
        assert_eq!(w.width, 2);
        assert_eq!(w.index, vec![3, 3, 4, 6]);
        assert_eq!(w.weight, vec![1, 0, 1, 1]);
        let empty = history_windows(&[vec![], vec![]], 5, 16).unwrap();
        assert_eq!((empty.rows, empty.width), (2, 0));
    }

    #[test]
    fn tokens_outside_the_window_are_not_checked_or_used() {
        // Only the window is read: an out-of-range id older than the context is ignored.
        let w = history_windows(&[vec![99.0, 1.0, 2.0]], 2, 16).unwrap();
        assert_eq!(w.index, vec![1, 2]);
    }

    #[test]
    fn rejects_bad_ids_and_context() {
        assert!(history_windows(&[vec![16.0]], 4, 16).unwrap_err().0.contains("[0, 16)"));
        assert!(history_windows(&[vec![-1.0]], 4, 16).is_err());
        assert!(history_windows(&[vec![1.5]], 4, 16).is_err());
        assert!(history_windows(&[vec![1.0]], 0, 16).unwrap_err().0.contains("contextSize"));
    }
}
