//! Chat templates rendered with minijinja, set up as transformers sets up Jinja2 for them:
//! `trim_blocks` and `lstrip_blocks` on, Python string methods (pycompat), `raise_exception`,
//! `strftime_now`, and a `tojson` that writes what Python's `json.dumps(..., ensure_ascii=False)`
//! writes (`", "` and `": "` separators, non-ASCII kept, no HTML escaping).
//!
//! Templates are untrusted (they come with a model): every render is bounded by
//! `template_limits::RenderLimits` and runs on its own thread with a large stack.
use minijinja::machinery::{self, WhitespaceConfig};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind};

use crate::error::{IoError, Result};
use crate::template_limits::{self as limits, RenderLimits};

/// Stack of the render thread: parsing and printing recurse once per nesting level, and the
/// template size and depth limits keep that well inside this.
const RENDER_STACK_BYTES: usize = 256 << 20;

/// Fails once `out` passes what the render's budget has left, before it grows further.
fn check_json_len(out: &str) -> std::result::Result<(), Error> {
    if out.len() as u64 > limits::remaining() {
        return Err(Error::new(ErrorKind::InvalidOperation, "the result of tojson would exceed the template size limit (limits.maxBytes)"));
    }
    Ok(())
}

fn py_json(v: &Value, indent: Option<usize>, sort_keys: bool, level: usize, out: &mut String) -> std::result::Result<(), Error> {
    let max_depth = limits::max_depth();
    if level >= max_depth {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("tojson: value nests deeper than the limit of {max_depth} levels (limits.maxDepth)"),
        ));
    }
    check_json_len(out)?;
    let nl = |out: &mut String, level: usize| -> std::result::Result<(), Error> {
        if let Some(n) = indent {
            // Checked before allocating: `indent` comes from the template.
            let pad = n.checked_mul(level).filter(|&p| (out.len() as u64).saturating_add(p as u64) <= limits::remaining());
            let Some(pad) = pad else {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "the result of tojson would exceed the template size limit (limits.maxBytes)",
                ));
            };
            out.push('\n');
            out.push_str(&" ".repeat(pad));
        }
        Ok(())
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            // Integers print as integers; floats (even 1.0) keep Python's float form.
            match v.as_i64() {
                Some(i) if !v.to_string().contains(['.', 'e', 'E']) => {
                    out.push_str(&i.to_string());
                    return Ok(());
                }
                _ => {}
            }
            let f = f64::try_from(v.clone()).map_err(|_| Error::new(ErrorKind::InvalidOperation, "tojson: bad number"))?;
            if f.is_nan() {
                out.push_str("NaN");
            } else if f.is_infinite() {
                out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
            } else if f.fract() == 0.0 && f.abs() < 1e16 {
                out.push_str(&format!("{f:.1}"));
            } else {
                out.push_str(&format!("{f}"));
            }
        }
        ValueKind::String => py_string(v.as_str().unwrap_or(""), out),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                nl(out, level + 1)?;
                py_json(item, indent, sort_keys, level + 1, out)?;
            }
            nl(out, level)?;
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = v.try_iter()?.collect();
            if sort_keys {
                keys.sort_by_key(|k| k.to_string());
            }
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                nl(out, level + 1)?;
                match k.as_str() {
                    Some(s) => py_string(s, out),
                    None => py_string(&k.to_string(), out),
                }
                out.push_str(": ");
                py_json(&v.get_item(k)?, indent, sort_keys, level + 1, out)?;
            }
            nl(out, level)?;
            out.push('}');
        }
        _ => return Err(Error::new(ErrorKind::InvalidOperation, format!("tojson: cannot serialize a {}", v.kind()))),
    }
    Ok(())
}

fn py_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn tojson(v: Value, kwargs: Kwargs) -> std::result::Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    py_json(&v, indent, sort_keys.unwrap_or(false), 0, &mut out)?;
    limits::charge_result(&Value::from(out.as_str()), "tojson")?;
    Ok(Value::from_safe_string(out))
}

fn raise_exception(msg: String) -> std::result::Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, msg))
}

fn strftime_now(format: String) -> std::result::Result<Value, Error> {
    // Only the date parts templates use (%d %m %Y %b %B), from the system clock in UTC.
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    const MONTHS: [&str; 12] =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    let name = MONTHS[(m - 1) as usize];
    let out = format
        .replace("%d", &format!("{d:02}"))
        .replace("%m", &format!("{m:02}"))
        .replace("%Y", &y.to_string())
        .replace("%B", name)
        .replace("%b", &name[..3]);
    Ok(Value::from(out))
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(limits::guarded_method);
    env.add_filter("tojson", tojson);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", strftime_now);
    limits::add_guards(&mut env);
    env
}

/// Renders `template` with the JSON object `context` as its variables, within `limits`.
pub fn render(template: &str, context: &serde_json::Value, limits: &RenderLimits) -> Result<String> {
    if template.len() > limits.max_template_bytes {
        return Err(IoError::msg(format!(
            "chat template is {} bytes, over the limit of {} (limits.maxTemplateBytes)",
            template.len(),
            limits.max_template_bytes
        )));
    }
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("mlxn-template".into())
            .stack_size(RENDER_STACK_BYTES)
            .spawn_scoped(scope, || render_here(template, context, limits))
            .map_err(|e| IoError::msg(format!("chat template: cannot start the render thread: {e}")))?;
        worker.join().unwrap_or_else(|_| Err(IoError::msg("chat template: the renderer failed unexpectedly")))
    })
}

fn render_here(template: &str, context: &serde_json::Value, limits: &RenderLimits) -> Result<String> {
    limits::begin(*limits);
    let mut env = environment();
    env.set_fuel(Some(limits.fuel));
    // Debug mode (on in dev builds) attaches the template's variables to every error, printed
    // through Debug: for a hostile value that is a huge, deep or exponentially shared dump.
    env.set_debug(false);
    let parse_err = |e: Error| IoError::msg(format!("chat template does not parse: {e:#}"));
    let ws = WhitespaceConfig { keep_trailing_newline: false, lstrip_blocks: true, trim_blocks: true };
    // A unit struct unless minijinja's `custom_syntax` is on; `Default` builds either.
    let syntax: SyntaxConfig = Default::default();
    let ast = machinery::parse(template, "chat_template", syntax, ws).map_err(parse_err)?;
    let mut codegen = machinery::CodeGenerator::new("chat_template", template);
    codegen.compile_stmt(&ast);
    drop(ast);
    let (mut instructions, mut blocks) = codegen.finish();
    limits::patch(&mut instructions);
    for block in blocks.values_mut() {
        limits::patch(block);
    }
    let mut text = String::new();
    let mut out = machinery::make_string_output(&mut text);
    machinery::Vm::new(&env)
        .eval(&instructions, Value::from_serialize(context), &blocks, &mut out, AutoEscape::None)
        .map_err(|e| render_error(e, limits))?;
    Ok(text)
}

fn render_error(e: Error, limits: &RenderLimits) -> IoError {
    if e.kind() == ErrorKind::OutOfFuel {
        return IoError::msg(format!("chat template ran out of fuel: it ran more than {} instructions (limits.fuel)", limits.fuel));
    }
    IoError::msg(format!("chat template failed to render: {e:#}"))
}
