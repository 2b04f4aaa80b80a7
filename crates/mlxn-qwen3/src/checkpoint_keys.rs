//! Checkpoint key planning for Qwen3 / Qwen3-MoE: which tensors of a checkpoint a model keeps,
//! drops or stacks (the `sanitize` plan), checked as untrusted input.
//!
//! A checkpoint folder names its tensors freely. Before anything is loaded, [`plan`] compares
//! those names and shapes with the parameters the model expects and decides, in one place:
//!
//! - **drop**: rotary `inv_freq` buffers (old transformers exports) and `lm_head.*` when the
//!   embeddings are tied (some exports write the tied head anyway);
//! - **stack**: per-expert MoE weights `model.layers.L.mlp.experts.E.{gate,up,down}_proj.P`
//!   become one `[experts, ...]` tensor `model.layers.L.mlp.switch_mlp.{proj}.P`, experts in
//!   index order (mlx-lm's layout);
//! - **report**: every missing, unexpected and mis-shaped weight after that, and every broken
//!   expert group (missing or out-of-range experts, experts of different shapes, a layer given
//!   both per-expert and stacked), all in one message, so a bad checkpoint is rejected before
//!   any array is built.
//!
//! The plan is the only check of a checkpoint's names and shapes on load: `Qwen3.load` puts
//! the planned weights into the model without checking them again.
use std::collections::{BTreeMap, BTreeSet};

use mlxn_nn::{NamedShape, ShapeMismatch};
#[cfg(feature = "napi")]
use napi_derive::napi;

/// One stacking step: `sources` (expert order) become `target`.
#[cfg_attr(feature = "napi", napi(object))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpertStack {
    pub target: String,
    pub sources: Vec<String>,
}

/// What to do with a checkpoint's tensors, and what is wrong with them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub drop: Vec<String>,
    pub stack: Vec<ExpertStack>,
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    /// `got` is the checkpoint's shape.
    pub mismatched: Vec<ShapeMismatch>,
    /// Problems that are not about one expected name (expert groups, duplicates).
    pub problems: Vec<String>,
}

/// How the model is built, as far as the key plan cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelShape {
    pub tied_embeddings: bool,
    pub num_experts: u32,
}

const EXPERT_PROJS: [&str; 3] = ["gate_proj", "up_proj", "down_proj"];

/// Per-expert tensors of one stacking target: (layer, proj, param) → expert → (name, shape).
type ExpertGroups = BTreeMap<(u64, String, String), BTreeMap<u64, NamedShape>>;

/// Lists at most this many names per category in the message; the rest are counted.
const LIST_LIMIT: usize = 20;

impl Plan {
    pub fn is_ok(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty() && self.problems.is_empty()
    }

    /// One message naming everything wrong (empty when the plan is fine).
    pub fn message(&self) -> String {
        let mut parts = Vec::new();
        let list = |names: &[String]| {
            let mut s = names.iter().take(LIST_LIMIT).map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
            if names.len() > LIST_LIMIT {
                s.push_str(&format!(" and {} more", names.len() - LIST_LIMIT));
            }
            s
        };
        if !self.missing.is_empty() {
            parts.push(format!("{} missing weight(s): {}", self.missing.len(), list(&self.missing)));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!("{} unexpected weight(s): {}", self.unexpected.len(), list(&self.unexpected)));
        }
        if !self.mismatched.is_empty() {
            let shown: Vec<String> = self
                .mismatched
                .iter()
                .take(LIST_LIMIT)
                .map(|m| format!("'{}' has shape {} but the model expects {}", m.name, dims(&m.got), dims(&m.expected)))
                .collect();
            let more = if self.mismatched.len() > LIST_LIMIT {
                format!(" and {} more", self.mismatched.len() - LIST_LIMIT)
            } else {
                String::new()
            };
            parts.push(format!("{} mis-shaped weight(s): {}{more}", self.mismatched.len(), shown.join("; ")));
        }
        parts.extend(self.problems.iter().cloned());
        parts.join("; ")
    }
}

fn dims(s: &[i64]) -> String {
    format!("[{}]", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
}

/// `model.layers.L.mlp.experts.E.PROJ.PARAM` → `(L, E, PROJ, PARAM)`.
fn expert_key(name: &str) -> Option<(u64, u64, &str, &str)> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() != 8 || parts[0] != "model" || parts[1] != "layers" || parts[3] != "mlp" || parts[4] != "experts" {
        return None;
    }
    let is_index = |s: &str| !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit());
    if !is_index(parts[2])
        || !is_index(parts[5])
        || !EXPERT_PROJS.contains(&parts[6])
        || !matches!(parts[7], "weight" | "scales" | "biases")
    {
        return None;
    }
    Some((parts[2].parse().ok()?, parts[5].parse().ok()?, parts[6], parts[7]))
}

fn is_dropped(name: &str, shape: ModelShape) -> bool {
    name.ends_with(".rotary_emb.inv_freq") || name == "rotary_emb.inv_freq" || (shape.tied_embeddings && name.starts_with("lm_head."))
}

/// Plans how `checkpoint` becomes the parameters in `expected`.
pub fn plan(expected: &[NamedShape], checkpoint: &[NamedShape], shape: ModelShape) -> Plan {
    let mut p = Plan::default();
    let mut have: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut duplicates = BTreeSet::new();
    let mut groups = ExpertGroups::new();
    let mut seen = BTreeSet::new();
    for NamedShape { name, shape: dims } in checkpoint {
        if !seen.insert(name.as_str()) {
            duplicates.insert(name.clone());
            continue;
        }
        if is_dropped(name, shape) {
            p.drop.push(name.clone());
            continue;
        }
        if let Some((layer, expert, proj, param)) = expert_key(name) {
            groups
                .entry((layer, proj.to_string(), param.to_string()))
                .or_default()
                .insert(expert, NamedShape { name: name.clone(), shape: dims.clone() });
            continue;
        }
        have.insert(name.clone(), dims.clone());
    }
    for d in &duplicates {
        p.problems.push(format!("weight '{d}' appears more than once"));
    }
    for ((layer, proj, param), experts) in groups {
        let target = format!("model.layers.{layer}.mlp.switch_mlp.{proj}.{param}");
        let n = u64::from(shape.num_experts);
        let mut broken = false;
        if n == 0 {
            p.problems.push(format!(
                "layer {layer} has per-expert weights ('{}') but the config has no experts",
                experts.values().next().map(|w| w.name.as_str()).unwrap_or("")
            ));
            for w in experts.values() {
                p.unexpected.push(w.name.clone());
            }
            continue;
        }
        let out_of_range: Vec<u64> = experts.keys().copied().filter(|e| *e >= n).collect();
        if !out_of_range.is_empty() {
            p.problems.push(format!("'{target}': expert index(es) {out_of_range:?} out of range (num_experts = {n})"));
            broken = true;
        }
        let absent: Vec<u64> = (0..n).filter(|e| !experts.contains_key(e)).collect();
        if !absent.is_empty() {
            let shown: Vec<String> = absent.iter().take(LIST_LIMIT).map(|e| e.to_string()).collect();
            let more = if absent.len() > LIST_LIMIT { format!(" and {} more", absent.len() - LIST_LIMIT) } else { String::new() };
            p.problems.push(format!("'{target}': missing expert(s) {}{more} of {n}", shown.join(", ")));
            broken = true;
        }
        let first = experts.values().next().map(|w| w.shape.clone()).unwrap_or_default();
        let odd: Vec<&str> = experts.values().filter(|w| w.shape != first).map(|w| w.name.as_str()).collect();
        if !odd.is_empty() {
            p.problems.push(format!(
                "'{target}': experts have different shapes ({} is {} but '{}' differs)",
                experts.values().next().unwrap().name,
                dims(&first),
                odd[0]
            ));
            broken = true;
        }
        if have.contains_key(&target) {
            p.problems.push(format!("'{target}' is given both stacked and per expert"));
            broken = true;
        }
        if broken {
            continue;
        }
        let mut stacked = vec![n as i64];
        stacked.extend(first);
        p.stack.push(ExpertStack { target: target.clone(), sources: experts.into_values().map(|w| w.name).collect() });
        have.insert(target, stacked);
    }
    let want: BTreeMap<&str, &Vec<i64>> = expected.iter().map(|w| (w.name.as_str(), &w.shape)).collect();
    let broken_targets: BTreeSet<String> =
        p.problems.iter().filter_map(|m| m.strip_prefix('\'').and_then(|r| r.split('\'').next()).map(str::to_string)).collect();
    for (name, dims) in &want {
        match have.get(*name) {
            // A stacked target already reported as broken is not reported again as missing.
            None if broken_targets.contains(*name) => {}
            None => p.missing.push((*name).to_string()),
            Some(g) if g != *dims => {
                p.mismatched.push(ShapeMismatch { name: (*name).to_string(), expected: (*dims).clone(), got: g.clone() })
            }
            Some(_) => {}
        }
    }
    for name in have.keys() {
        if !want.contains_key(name.as_str()) {
            p.unexpected.push(name.clone());
        }
    }
    p.unexpected.sort();
    p
}

#[cfg(feature = "napi")]
mod exports {
    use mlxn_nn::NamedShape;
    use napi_derive::napi;

    use super::{ExpertStack, ModelShape};

    /// How a checkpoint becomes a Qwen3 model's parameters; when `ok` is false, `message` names
    /// everything wrong and nothing is to be applied.
    #[napi(object)]
    pub struct Qwen3CheckpointPlan {
        pub ok: bool,
        pub message: String,
        pub drop: Vec<String>,
        pub stack: Vec<ExpertStack>,
    }

    /// The sanitize plan of a Qwen3 checkpoint (`plan` in checkpoint_keys.rs).
    #[napi(js_name = "qwen3PlanCheckpoint", catch_unwind)]
    pub fn qwen3_plan_checkpoint(
        expected: Vec<NamedShape>,
        checkpoint: Vec<NamedShape>,
        tied_embeddings: bool,
        num_experts: u32,
    ) -> Qwen3CheckpointPlan {
        let p = super::plan(&expected, &checkpoint, ModelShape { tied_embeddings, num_experts });
        Qwen3CheckpointPlan { ok: p.is_ok(), message: p.message(), drop: p.drop, stack: p.stack }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(name: &str, dims: &[i64]) -> NamedShape {
        NamedShape::new(name, dims)
    }

    const DENSE: ModelShape = ModelShape { tied_embeddings: true, num_experts: 0 };

    #[test]
    fn exact_match_is_ok() {
        let want = vec![e("model.embed_tokens.weight", &[8, 4]), e("model.norm.weight", &[4])];
        let p = plan(&want, &want, DENSE);
        assert!(p.is_ok(), "{}", p.message());
        assert!(p.drop.is_empty() && p.stack.is_empty());
        assert_eq!(p.message(), "");
    }

    #[test]
    fn drops_rotary_buffers_and_tied_head() {
        let want = vec![e("model.embed_tokens.weight", &[8, 4])];
        let ck = vec![
            e("model.embed_tokens.weight", &[8, 4]),
            e("model.layers.0.self_attn.rotary_emb.inv_freq", &[2]),
            e("lm_head.weight", &[8, 4]),
        ];
        let p = plan(&want, &ck, DENSE);
        assert!(p.is_ok(), "{}", p.message());
        assert_eq!(p.drop, vec!["model.layers.0.self_attn.rotary_emb.inv_freq", "lm_head.weight"]);
        // Untied: lm_head is a real weight.
        let untied = ModelShape { tied_embeddings: false, num_experts: 0 };
        let p = plan(&want, &ck, untied);
        assert_eq!(p.unexpected, vec!["lm_head.weight"]);
    }

    #[test]
    fn reports_everything_at_once() {
        let want = vec![e("a.weight", &[2, 2]), e("b.weight", &[3]), e("c.weight", &[4])];
        let ck = vec![e("a.weight", &[2, 3]), e("c.weight", &[4]), e("z.weight", &[1])];
        let p = plan(&want, &ck, DENSE);
        assert!(!p.is_ok());
        assert_eq!(p.missing, vec!["b.weight"]);
        assert_eq!(p.unexpected, vec!["z.weight"]);
        assert_eq!(p.mismatched, vec![ShapeMismatch { name: "a.weight".to_string(), expected: vec![2, 2], got: vec![2, 3] }]);
        let m = p.message();
        assert!(m.contains("1 missing weight(s): 'b.weight'"), "{m}");
        assert!(m.contains("'z.weight'"), "{m}");
        assert!(m.contains("'a.weight' has shape [2, 3] but the model expects [2, 2]"), "{m}");
    }

    #[test]
    fn stacks_experts_in_index_order() {
        let moe = ModelShape { tied_embeddings: false, num_experts: 3 };
        let mut ck = Vec::new();
        // Written out of order on purpose (e.g. experts 10/2 sort differently as strings).
        for ex in [2, 0, 1] {
            for proj in EXPERT_PROJS {
                let d: &[i64] = if proj == "down_proj" { &[4, 6] } else { &[6, 4] };
                ck.push(e(&format!("model.layers.0.mlp.experts.{ex}.{proj}.weight"), d));
            }
        }
        let want = vec![
            e("model.layers.0.mlp.switch_mlp.gate_proj.weight", &[3, 6, 4]),
            e("model.layers.0.mlp.switch_mlp.up_proj.weight", &[3, 6, 4]),
            e("model.layers.0.mlp.switch_mlp.down_proj.weight", &[3, 4, 6]),
        ];
        let p = plan(&want, &ck, moe);
        assert!(p.is_ok(), "{}", p.message());
        assert_eq!(p.stack.len(), 3);
        let gate = p.stack.iter().find(|s| s.target.ends_with("gate_proj.weight")).unwrap();
        assert_eq!(
            gate.sources,
            vec![
                "model.layers.0.mlp.experts.0.gate_proj.weight",
                "model.layers.0.mlp.experts.1.gate_proj.weight",
                "model.layers.0.mlp.experts.2.gate_proj.weight"
            ]
        );
    }

    #[test]
    fn many_experts_sort_numerically() {
        let moe = ModelShape { tied_embeddings: true, num_experts: 12 };
        let ck: Vec<NamedShape> = (0..12).map(|x| e(&format!("model.layers.3.mlp.experts.{x}.up_proj.weight"), &[2, 2])).collect();
        let want = vec![e("model.layers.3.mlp.switch_mlp.up_proj.weight", &[12, 2, 2])];
        let p = plan(&want, &ck, moe);
        assert!(p.is_ok(), "{}", p.message());
        assert_eq!(p.stack[0].sources[10], "model.layers.3.mlp.experts.10.up_proj.weight");
        assert_eq!(p.stack[0].sources[2], "model.layers.3.mlp.experts.2.up_proj.weight");
    }

    #[test]
    fn broken_expert_groups_are_reported() {
        let moe = ModelShape { tied_embeddings: true, num_experts: 3 };
        let want = vec![e("model.layers.0.mlp.switch_mlp.up_proj.weight", &[3, 2, 2])];
        // Expert 1 missing, expert 5 out of range.
        let ck = vec![
            e("model.layers.0.mlp.experts.0.up_proj.weight", &[2, 2]),
            e("model.layers.0.mlp.experts.2.up_proj.weight", &[2, 2]),
            e("model.layers.0.mlp.experts.5.up_proj.weight", &[2, 2]),
        ];
        let p = plan(&want, &ck, moe);
        assert!(!p.is_ok());
        let m = p.message();
        assert!(m.contains("out of range"), "{m}");
        assert!(m.contains("missing expert(s) 1 of 3"), "{m}");
        // Reported once, as an expert problem, not again as a missing weight.
        assert!(p.missing.is_empty(), "{m}");
        // Experts of different shapes.
        let ck = vec![
            e("model.layers.0.mlp.experts.0.up_proj.weight", &[2, 2]),
            e("model.layers.0.mlp.experts.1.up_proj.weight", &[2, 3]),
            e("model.layers.0.mlp.experts.2.up_proj.weight", &[2, 2]),
        ];
        let m = plan(&want, &ck, moe).message();
        assert!(m.contains("different shapes"), "{m}");
        // Stacked and per expert at once.
        let mut ck: Vec<NamedShape> = (0..3).map(|x| e(&format!("model.layers.0.mlp.experts.{x}.up_proj.weight"), &[2, 2])).collect();
        ck.push(e("model.layers.0.mlp.switch_mlp.up_proj.weight", &[3, 2, 2]));
        assert!(plan(&want, &ck, moe).message().contains("both stacked and per expert"));
    }

    #[test]
    fn stacked_shape_is_checked_against_the_model() {
        let moe = ModelShape { tied_embeddings: true, num_experts: 2 };
        let want = vec![e("model.layers.0.mlp.switch_mlp.up_proj.weight", &[2, 4, 4])];
        let ck: Vec<NamedShape> = (0..2).map(|x| e(&format!("model.layers.0.mlp.experts.{x}.up_proj.weight"), &[4, 5])).collect();
        let p = plan(&want, &ck, moe);
        let name = "model.layers.0.mlp.switch_mlp.up_proj.weight".to_string();
        assert_eq!(p.mismatched, vec![ShapeMismatch { name, expected: vec![2, 4, 4], got: vec![2, 4, 5] }]);
    }

    #[test]
    fn quantized_expert_parts_stack_too() {
        let moe = ModelShape { tied_embeddings: true, num_experts: 2 };
        let mut ck = Vec::new();
        let mut want = Vec::new();
        for part in ["weight", "scales", "biases"] {
            for x in 0..2 {
                ck.push(e(&format!("model.layers.1.mlp.experts.{x}.down_proj.{part}"), &[8, 2]));
            }
            want.push(e(&format!("model.layers.1.mlp.switch_mlp.down_proj.{part}"), &[2, 8, 2]));
        }
        let p = plan(&want, &ck, moe);
        assert!(p.is_ok(), "{}", p.message());
        assert_eq!(p.stack.len(), 3);
    }

    #[test]
    fn experts_without_moe_config_and_odd_names() {
        let want = vec![e("model.norm.weight", &[4])];
        let ck = vec![
            e("model.norm.weight", &[4]),
            e("model.layers.0.mlp.experts.0.up_proj.weight", &[2, 2]),
            // Not an expert key (bad index): treated as an ordinary unexpected name.
            e("model.layers.x.mlp.experts.0.up_proj.weight", &[2, 2]),
            e("model.layers.0.mlp.experts.99999999999999999999.up_proj.weight", &[2, 2]),
        ];
        let p = plan(&want, &ck, DENSE);
        assert!(!p.is_ok());
        assert!(p.message().contains("no experts"));
        assert_eq!(p.unexpected.len(), 3, "{:?}", p.unexpected);
    }

    #[test]
    fn duplicates_are_reported() {
        let want = vec![e("a", &[1])];
        let p = plan(&want, &[e("a", &[1]), e("a", &[1])], DENSE);
        assert!(!p.is_ok());
        assert!(p.message().contains("appears more than once"));
    }
}
