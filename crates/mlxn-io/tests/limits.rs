//! Untrusted sizes: template limits and the checked size arithmetic of saves. Run once with
//! `--release` too (no overflow checks there): every check here is explicit.
use std::collections::BTreeMap;

use mlxn_io::safetensors::{TensorData, build_header, tensor_bytes};
use mlxn_io::shards::plan_shards;
use mlxn_io::template::render;
use mlxn_io::template_limits::RenderLimits;
use serde_json::json;

fn err(t: &str, limits: RenderLimits) -> String {
    render(t, &json!({}), &limits).unwrap_err().0
}

#[test]
fn each_template_limit_names_itself_and_can_be_raised() {
    let d = RenderLimits::default();
    let doubling = r#"{% set ns = namespace(s="ab") %}{% for i in range(20) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}"#;
    assert!(err(doubling, RenderLimits { max_bytes: 1 << 20, ..d }).contains("limits.maxBytes"));
    assert_eq!(render(doubling, &json!({}), &RenderLimits { max_bytes: 1 << 24, ..d }).unwrap(), (2u64 << 20).to_string());

    let loop3 = "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}";
    assert!(err(loop3, RenderLimits { fuel: 100_000, ..d }).contains("limits.fuel"));
    assert!(render(loop3, &json!({}), &RenderLimits { fuel: 10_000_000, ..d }).is_ok());

    let nest = r#"{% set ns = namespace(x=[]) %}{% for i in range(40) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x|length }}"#;
    assert!(err(nest, RenderLimits { max_depth: 20, ..d }).contains("limits.maxDepth"));
    assert_eq!(render(nest, &json!({}), &RenderLimits { max_depth: 64, ..d }).unwrap(), "1");

    let long = format!("{{# {} #}}ok", "x".repeat(2000));
    assert!(err(&long, RenderLimits { max_template_bytes: 1000, ..d }).contains("limits.maxTemplateBytes"));
    assert_eq!(render(&long, &json!({}), &d).unwrap(), "ok");
}

#[test]
fn growing_filters_are_refused_before_they_allocate() {
    let d = RenderLimits::default();
    for t in [
        r#"{{ "a\nb"|indent(2**40) }}"#,
        "{{ [1, [2]]|tojson(indent=2**40) }}",
        r#"{{ "%2000000000d"|format(1) }}"#,
        r#"{{ ([1] * 2**40)|join(",") }}"#,
        r#"{% set ns = namespace(s="ab") %}{% for i in range(64) %}{% set ns.s = ns.s|replace("a", "aa") %}{% endfor %}{{ ns.s }}"#,
    ] {
        assert!(err(t, d).contains("limits.maxBytes"), "{t}: {}", err(t, d));
    }
}

#[test]
fn guarded_operators_keep_their_meaning() {
    let out = render(
        r#"{{ 1 + 2 }} {{ "a" + "b" }} {{ [1] + [2] }} {{ "ab" * 2 }} {{ [0] * 2 }} {{ 2 * 3 }} {{ "x" ~ 1 ~ none }} {{ 2 in [1, 2] }} {% macro m(a) %}<{{ a }}>{% endmacro %}{{ m("q") }}"#,
        &json!({}),
        &RenderLimits::default(),
    )
    .unwrap();
    assert_eq!(out, "3 ab [1, 2] abab [0, 0] 6 x1None True <q>");
}

#[test]
fn save_size_arithmetic_is_checked() {
    assert_eq!(tensor_bytes("w", &[2, 3], 4).unwrap(), 24);
    assert!(tensor_bytes("w", &[-2, -3], 4).unwrap_err().0.contains("negative dimension"));
    assert!(tensor_bytes("w", &[-1, 3], 4).unwrap_err().0.contains("negative dimension"));
    assert!(tensor_bytes("w", &[i64::MAX, 4], 4).unwrap_err().0.contains("overflows"));
    let shape = [1i64 << 62];
    let bytes = [0u8; 4];
    let t = TensorData { name: "w", dtype: "float32", shape: &shape, bytes: &bytes };
    assert!(build_header(&[t], &BTreeMap::new()).is_err());
    // Sizes past u64 do not wrap into a fit.
    assert_eq!(plan_shards(&[u64::MAX, u64::MAX, 1], 10).len(), 3);
}

#[test]
fn errors_do_not_dump_the_templates_variables() {
    // Dev builds turn minijinja's debug mode on, which prints every referenced variable into the
    // error: a hostile shared value made that an exponential dump.
    let ctx = json!({ "big": "x".repeat(100_000) });
    let e = render("{{ big|length }}{{ raise_exception('stop') }}", &ctx, &RenderLimits::default()).unwrap_err().0;
    assert!(e.contains("stop") && e.len() < 1000, "{} bytes: {}", e.len(), &e[..e.len().min(300)]);
}
