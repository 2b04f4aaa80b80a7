//! The Rust side of `@mlxn/nn`.
//!
//! Layers, the module tree, autograd and the checkpoint-key mapping (`qProj` ↔ `q_proj`) are
//! TypeScript in the package, built with `@mlxn/core` ops. What belongs here is the check at the
//! checkpoint boundary, which every load goes through and which must be exact:
//! `check_weights` compares the [`NamedShape`]s a module expects with the ones a file or entry
//! list provides and reports every missing, unexpected and mis-shaped weight in one sorted,
//! deterministic message, so a failed load says precisely what is wrong before any parameter is
//! replaced (the module stays intact). [`NamedShape`] is also what model crates' checkpoint
//! planners (mlxn-qwen3) take, so a `(name, shape)` pair has one type.
//!
//! It is plain Rust tested with `cargo test` (no Node); the `napi` feature exports it to the
//! addon as `nnCheckWeights`, with typed objects in and out.
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[cfg(feature = "napi")]
use napi_derive::napi;

/// A weight's checkpoint name with its shape (a module's parameter, or a checkpoint's tensor).
#[cfg_attr(feature = "napi", napi(object))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedShape {
    pub name: String,
    pub shape: Vec<i64>,
}

impl NamedShape {
    pub fn new(name: impl Into<String>, shape: &[i64]) -> Self {
        NamedShape { name: name.into(), shape: shape.to_vec() }
    }
}

/// A weight whose provided shape differs from the expected one.
#[cfg_attr(feature = "napi", napi(object))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeMismatch {
    pub name: String,
    pub expected: Vec<i64>,
    pub got: Vec<i64>,
}

/// What a comparison of expected and provided weights found. All lists are sorted by name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WeightReport {
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    pub mismatched: Vec<ShapeMismatch>,
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
                .map(|m| format!("'{}' expected shape {} but got {}", m.name, shape(&m.expected), shape(&m.got)))
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
pub fn check_weights(expected: &[NamedShape], provided: &[NamedShape]) -> Result<WeightReport, String> {
    let want: BTreeMap<&str, &Vec<i64>> = expected.iter().map(|w| (w.name.as_str(), &w.shape)).collect();
    let mut have: BTreeMap<&str, &Vec<i64>> = BTreeMap::new();
    for w in provided {
        if have.insert(w.name.as_str(), &w.shape).is_some() {
            return Err(format!("weight '{}' is given more than once", w.name));
        }
    }
    let mut r = WeightReport::default();
    for (n, s) in &want {
        match have.get(n) {
            None => r.missing.push((*n).to_string()),
            Some(g) if g != s => r.mismatched.push(ShapeMismatch { name: (*n).to_string(), expected: (*s).clone(), got: (*g).clone() }),
            Some(_) => {}
        }
    }
    r.unexpected = have.keys().filter(|n| !want.contains_key(*n)).map(|n| (*n).to_string()).collect();
    Ok(r)
}

#[cfg(feature = "napi")]
mod exports {
    use napi_derive::napi;

    use super::{NamedShape, ShapeMismatch};

    /// What `nnCheckWeights` found; `message` lists every problem that fails the load.
    #[napi(object)]
    pub struct NnWeightReport {
        pub ok: bool,
        pub message: String,
        pub missing: Vec<String>,
        pub unexpected: Vec<String>,
        pub mismatched: Vec<ShapeMismatch>,
    }

    /// Compares the weights a module expects with those a source provides (`strict`: missing
    /// and unexpected names fail too); an error only for a name provided twice.
    #[napi(js_name = "nnCheckWeights", catch_unwind)]
    pub fn nn_check_weights(expected: Vec<NamedShape>, provided: Vec<NamedShape>, strict: bool) -> napi::Result<NnWeightReport> {
        let r = super::check_weights(&expected, &provided).map_err(napi::Error::from_reason)?;
        Ok(NnWeightReport {
            ok: r.is_ok(strict),
            message: r.message(strict),
            missing: r.missing,
            unexpected: r.unexpected,
            mismatched: r.mismatched,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &[i64])]) -> Vec<NamedShape> {
        v.iter().map(|(n, s)| NamedShape::new(*n, s)).collect()
    }

    #[test]
    fn report_lists_every_problem() {
        let e = pairs(&[("a.weight", &[4, 2]), ("a.bias", &[4]), ("b.weight", &[3])]);
        let p = pairs(&[("a.weight", &[2, 4]), ("b.weight", &[3]), ("c.weight", &[1])]);
        let r = check_weights(&e, &p).unwrap();
        assert_eq!(r.missing, vec!["a.bias"]);
        assert_eq!(r.unexpected, vec!["c.weight"]);
        assert_eq!(r.mismatched, vec![ShapeMismatch { name: "a.weight".to_string(), expected: vec![4, 2], got: vec![2, 4] }]);
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
        let e: Vec<_> = (0..25).map(|i| NamedShape::new(format!("w{i:02}"), &[1])).collect();
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
}
