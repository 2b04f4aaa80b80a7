//! The Rust side of `@mlxn/nn`.
//!
//! Layers, the module tree and autograd are MLX graph work that the TypeScript package builds
//! with `@mlxn/core` ops. What belongs here is the bookkeeping at the checkpoint boundary, which
//! every model load goes through and which must be exact:
//!
//! - **Key mapping.** Module property names mirror checkpoint keys (`qProj` ↔ `q_proj`), so a
//!   weight's checkpoint name is its tree path with each segment converted. `checkpoint_key`
//!   and `property_path` do that conversion segment by segment (list indices stay as they are)
//!   and are exact inverses on the names either side produces.
//! - **Validation.** `check_weights` compares the `(name, shape)` pairs a module expects with the
//!   ones a file or entry list provides and reports every missing, unexpected and mis-shaped
//!   weight in one sorted, deterministic message, so a failed load says precisely what is wrong
//!   before any parameter is replaced (the module stays intact).
//!
//! All of it is plain Rust tested with `cargo test` (no Node); the `napi` feature exports it to
//! the addon as `nnCheckpointKey`, `nnPropertyPath` and `nnCheckWeights`.
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// `qProj` → `q_proj`, `layers` → `layers`, `0` → `0`. An upper-case letter starts a new word;
/// runs of capitals stay together as one word (`fcIO` → `fc_io`), digits never split.
pub fn snake_segment(seg: &str) -> String {
    let chars: Vec<char> = seg.chars().collect();
    let mut out = String::with_capacity(seg.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if i > 0 && chars[i - 1] != '_' && (!prev_upper || next_lower) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `q_proj` → `qProj`, `lora_a` → `loraA`, `0` → `0`. A leading underscore is kept (private
/// names), as is any underscore not followed by a letter.
pub fn camel_segment(seg: &str) -> String {
    let mut out = String::with_capacity(seg.len());
    let mut upper_next = false;
    for (i, c) in seg.chars().enumerate() {
        if c == '_' && i > 0 {
            if upper_next {
                out.push('_');
            }
            upper_next = true;
            continue;
        }
        if upper_next {
            if c.is_ascii_alphabetic() {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push('_');
                out.push(c);
            }
            upper_next = false;
        } else {
            out.push(c);
        }
    }
    if upper_next {
        out.push('_');
    }
    out
}

/// Dotted property path (`layers.0.selfAttn.qProj.weight`) → checkpoint key
/// (`layers.0.self_attn.q_proj.weight`).
pub fn checkpoint_key(path: &str) -> String {
    path.split('.').map(snake_segment).collect::<Vec<_>>().join(".")
}

/// Checkpoint key → dotted property path; the inverse of [`checkpoint_key`].
pub fn property_path(key: &str) -> String {
    key.split('.').map(camel_segment).collect::<Vec<_>>().join(".")
}

/// What a comparison of expected and provided weights found. All lists are sorted by name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WeightReport {
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    /// `(name, expected shape, provided shape)`.
    pub mismatched: Vec<(String, Vec<i64>, Vec<i64>)>,
}

impl WeightReport {
    /// Problems that make a load fail: shapes always; missing and unexpected names when strict.
    pub fn is_ok(&self, strict: bool) -> bool {
        self.mismatched.is_empty() && (!strict || (self.missing.is_empty() && self.unexpected.is_empty()))
    }

    /// One message listing every problem (the first few names of each kind, then a count).
    pub fn message(&self, strict: bool) -> String {
        const SHOW: usize = 10;
        fn list(names: &[String]) -> String {
            let mut s = names.iter().take(SHOW).map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
            if names.len() > SHOW {
                let _ = write!(s, " and {} more", names.len() - SHOW);
            }
            s
        }
        let mut parts = Vec::new();
        if strict && !self.missing.is_empty() {
            parts.push(format!("{} missing: {}", plural(self.missing.len()), list(&self.missing)));
        }
        if strict && !self.unexpected.is_empty() {
            parts.push(format!("{} unexpected: {}", plural(self.unexpected.len()), list(&self.unexpected)));
        }
        if !self.mismatched.is_empty() {
            let mut s = self
                .mismatched
                .iter()
                .take(SHOW)
                .map(|(n, e, g)| format!("'{n}' expected shape {} but got {}", shape(e), shape(g)))
                .collect::<Vec<_>>()
                .join(", ");
            if self.mismatched.len() > SHOW {
                let _ = write!(s, " and {} more", self.mismatched.len() - SHOW);
            }
            parts.push(format!("{} with the wrong shape: {s}", plural(self.mismatched.len())));
        }
        parts.join("; ")
    }
}

fn plural(n: usize) -> String {
    if n == 1 { "1 weight".into() } else { format!("{n} weights") }
}

fn shape(s: &[i64]) -> String {
    format!("[{}]", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
}

/// Compares what a module expects with what a source provides (names are checkpoint keys).
/// Duplicate provided names are an error of their own: which copy would win is ambiguous.
pub fn check_weights(expected: &[(String, Vec<i64>)], provided: &[(String, Vec<i64>)]) -> Result<WeightReport, String> {
    let want: BTreeMap<&str, &Vec<i64>> = expected.iter().map(|(n, s)| (n.as_str(), s)).collect();
    let mut have: BTreeMap<&str, &Vec<i64>> = BTreeMap::new();
    for (n, s) in provided {
        if have.insert(n.as_str(), s).is_some() {
            return Err(format!("weight '{n}' is given more than once"));
        }
    }
    let mut r = WeightReport::default();
    for (n, s) in &want {
        match have.get(n) {
            None => r.missing.push((*n).to_string()),
            Some(g) if g != s => r.mismatched.push(((*n).to_string(), (*s).clone(), (*g).clone())),
            Some(_) => {}
        }
    }
    r.unexpected = have.keys().filter(|n| !want.contains_key(*n)).map(|n| (*n).to_string()).collect();
    Ok(r)
}

fn parse_pairs(json: &str, what: &str) -> Result<Vec<(String, Vec<i64>)>, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("{what}: invalid JSON: {e}"))?;
    let arr = v.as_array().ok_or_else(|| format!("{what}: expected a list of [name, shape] pairs"))?;
    arr.iter()
        .map(|p| {
            let name = p.get(0).and_then(|n| n.as_str()).ok_or_else(|| format!("{what}: entry without a name"))?;
            let dims = p.get(1).and_then(|d| d.as_array()).ok_or_else(|| format!("{what}: '{name}' has no shape"))?;
            let dims = dims
                .iter()
                .map(|d| d.as_i64().ok_or_else(|| format!("{what}: '{name}' has a non-integer dimension")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((name.to_string(), dims))
        })
        .collect()
}

/// JSON front end of [`check_weights`]: both inputs are `[[name, [dims...]], ...]`. Returns
/// `{"ok", "message", "missing", "unexpected", "mismatched"}` as JSON.
pub fn check_weights_json(expected: &str, provided: &str, strict: bool) -> Result<String, String> {
    let e = parse_pairs(expected, "expected weights")?;
    let p = parse_pairs(provided, "provided weights")?;
    let r = check_weights(&e, &p)?;
    Ok(serde_json::json!({
        "ok": r.is_ok(strict),
        "message": r.message(strict),
        "missing": r.missing,
        "unexpected": r.unexpected,
        "mismatched": r.mismatched.iter().map(|(n, e, g)| serde_json::json!([n, e, g])).collect::<Vec<_>>(),
    })
    .to_string())
}

#[cfg(feature = "napi")]
mod exports {
    use napi_derive::napi;

    /// Dotted property path → checkpoint key (`selfAttn.qProj` → `self_attn.q_proj`).
    #[napi(js_name = "nnCheckpointKey", catch_unwind)]
    pub fn nn_checkpoint_key(path: String) -> String {
        super::checkpoint_key(&path)
    }

    /// Checkpoint key → dotted property path (`self_attn.q_proj` → `selfAttn.qProj`).
    #[napi(js_name = "nnPropertyPath", catch_unwind)]
    pub fn nn_property_path(key: String) -> String {
        super::property_path(&key)
    }

    /// Compares expected and provided `[name, shape]` lists (JSON); returns the report as JSON.
    #[napi(js_name = "nnCheckWeights", catch_unwind)]
    pub fn nn_check_weights(expected_json: String, provided_json: String, strict: bool) -> napi::Result<String> {
        super::check_weights_json(&expected_json, &provided_json, strict).map_err(napi::Error::from_reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_both_ways() {
        for (path, key) in [
            ("layers.0.selfAttn.qProj.weight", "layers.0.self_attn.q_proj.weight"),
            ("model.embedTokens.weight", "model.embed_tokens.weight"),
            ("mlp.gateProj.scales", "mlp.gate_proj.scales"),
            ("loraA", "lora_a"),
            ("inputLayernorm.weight", "input_layernorm.weight"),
            ("lmHead.biases", "lm_head.biases"),
            ("w1", "w1"),
            ("layers.12.blockSparseMoe.experts.3.w2.weight", "layers.12.block_sparse_moe.experts.3.w2.weight"),
        ] {
            assert_eq!(checkpoint_key(path), key, "{path}");
            assert_eq!(property_path(key), path, "{key}");
        }
    }

    #[test]
    fn awkward_segments() {
        assert_eq!(snake_segment("fcIO"), "fc_io");
        assert_eq!(snake_segment("IOGate"), "io_gate");
        assert_eq!(snake_segment("_private"), "_private");
        assert_eq!(camel_segment("_private"), "_private");
        assert_eq!(camel_segment("a_1"), "a_1");
        assert_eq!(camel_segment("trailing_"), "trailing_");
        assert_eq!(snake_segment(""), "");
    }

    fn pairs(v: &[(&str, &[i64])]) -> Vec<(String, Vec<i64>)> {
        v.iter().map(|(n, s)| (n.to_string(), s.to_vec())).collect()
    }

    #[test]
    fn report_lists_every_problem() {
        let e = pairs(&[("a.weight", &[4, 2]), ("a.bias", &[4]), ("b.weight", &[3])]);
        let p = pairs(&[("a.weight", &[2, 4]), ("b.weight", &[3]), ("c.weight", &[1])]);
        let r = check_weights(&e, &p).unwrap();
        assert_eq!(r.missing, vec!["a.bias"]);
        assert_eq!(r.unexpected, vec!["c.weight"]);
        assert_eq!(r.mismatched, vec![("a.weight".to_string(), vec![4, 2], vec![2, 4])]);
        assert!(!r.is_ok(true));
        assert!(!r.is_ok(false));
        assert_eq!(
            r.message(true),
            "1 weight missing: 'a.bias'; 1 weight unexpected: 'c.weight'; 1 weight with the wrong shape: 'a.weight' expected shape [4, 2] but got [2, 4]"
        );
        assert_eq!(r.message(false), "1 weight with the wrong shape: 'a.weight' expected shape [4, 2] but got [2, 4]");
    }

    #[test]
    fn non_strict_tolerates_names_only() {
        let e = pairs(&[("a", &[1]), ("b", &[2])]);
        let p = pairs(&[("a", &[1]), ("z", &[2])]);
        let r = check_weights(&e, &p).unwrap();
        assert!(r.is_ok(false));
        assert!(!r.is_ok(true));
    }

    #[test]
    fn long_lists_are_cut() {
        let e: Vec<_> = (0..25).map(|i| (format!("w{i:02}"), vec![1])).collect();
        let r = check_weights(&e, &[]).unwrap();
        let m = r.message(true);
        assert!(m.starts_with("25 weights missing: 'w00', 'w01'"), "{m}");
        assert!(m.ends_with("'w09' and 15 more"), "{m}");
    }

    #[test]
    fn duplicates_are_rejected() {
        let p = pairs(&[("a", &[1]), ("a", &[1])]);
        assert_eq!(check_weights(&[], &p).unwrap_err(), "weight 'a' is given more than once");
    }

    #[test]
    fn json_front_end() {
        let out = check_weights_json(r#"[["a",[2]]]"#, r#"[["a",[3]]]"#, true).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["mismatched"][0][2][0], 3);
        assert!(check_weights_json("{", "[]", true).unwrap_err().starts_with("expected weights: invalid JSON"));
        assert!(check_weights_json(r#"[["a",[1.5]]]"#, "[]", true).unwrap_err().contains("non-integer"));
    }
}
