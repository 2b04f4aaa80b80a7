//! Bounds on rendering an untrusted chat template: its source length, the instructions it may
//! run (minijinja's fuel), the bytes it may produce and how deeply its values may nest.
//!
//! minijinja bounds loops only through fuel and has no hook for the operators that grow
//! strings and lists (`~`, `+`, `*`), so a template could double a string forty times in a
//! few instructions and abort the process on allocation. We compile the template ourselves and
//! send those operators, every list or map literal and every raw text block through guard
//! functions (a jump to a short trampoline appended to the instructions, so no jump target
//! moves). Every byte the render produces (output, captured blocks, concatenations, slices,
//! filter results) is charged to one budget, and so is what `in`, comparisons and filters scan;
//! every value built is measured (depth and size) before it can be printed, compared or
//! hashed, which recurse through it.
use std::cell::RefCell;
use std::fmt::{self, Write as _};

use minijinja::machinery::{Instruction, Instructions};
use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};

/// Limits on one render. The defaults are far above what real chat templates need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderLimits {
    /// Longest template source, in bytes.
    pub max_template_bytes: usize,
    /// Instructions a render may run (minijinja fuel; most instructions cost 1).
    pub fuel: u64,
    /// Bytes a render may produce in total: output, captured blocks, and every string or list
    /// built along the way (list items count 16 bytes each).
    pub max_bytes: u64,
    /// Deepest nesting of lists and maps, in values the template builds and in `tojson`.
    pub max_depth: usize,
}

pub const DEFAULT_LIMITS: RenderLimits =
    RenderLimits { max_template_bytes: 1 << 20, fuel: 10_000_000, max_bytes: 64 << 20, max_depth: 256 };

impl Default for RenderLimits {
    fn default() -> Self {
        DEFAULT_LIMITS
    }
}

/// Bytes charged for one list item or map entry (a minijinja value is 16–24 bytes).
const ITEM_BYTES: u64 = 16;

pub(crate) const GUARD_ADD: &str = "__mlxn_guard_add";
pub(crate) const GUARD_MUL: &str = "__mlxn_guard_mul";
pub(crate) const GUARD_CONCAT: &str = "__mlxn_guard_concat";
pub(crate) const GUARD_VALUE: &str = "__mlxn_guard_value";
pub(crate) const GUARD_IN: &str = "__mlxn_guard_in";
pub(crate) const GUARD_CMP: &str = "__mlxn_guard_cmp";
pub(crate) const GUARD_RESULT: &str = "__mlxn_guard_result";

struct Budget {
    left: u64,
    limits: RenderLimits,
}

thread_local! {
    // Each render runs on its own thread (see template.rs), so a thread-local is per render.
    static BUDGET: RefCell<Option<Budget>> = const { RefCell::new(None) };
}

/// Installs the budget of the render that runs on this thread.
pub(crate) fn begin(limits: RenderLimits) {
    BUDGET.with(|b| *b.borrow_mut() = Some(Budget { left: limits.max_bytes, limits }));
}

fn limits() -> RenderLimits {
    BUDGET.with(|b| b.borrow().as_ref().map(|b| b.limits).unwrap_or(DEFAULT_LIMITS))
}

/// The deepest nesting this render allows.
pub(crate) fn max_depth() -> usize {
    limits().max_depth
}

/// Bytes still available to this render.
pub(crate) fn remaining() -> u64 {
    BUDGET.with(|b| b.borrow().as_ref().map(|b| b.left).unwrap_or(DEFAULT_LIMITS.max_bytes))
}

fn too_large(what: &str) -> Error {
    too_large_of(what, limits().max_bytes)
}

fn too_large_of(what: &str, max_bytes: u64) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("{what} would exceed the template size limit of {max_bytes} bytes (limits.maxBytes)"))
}

/// Takes `bytes` from the budget, or fails naming `what`.
pub(crate) fn charge(bytes: u64, what: &str) -> Result<(), Error> {
    BUDGET.with(|b| {
        let mut b = b.borrow_mut();
        let Some(b) = b.as_mut() else { return Ok(()) };
        match b.left.checked_sub(bytes) {
            Some(left) => {
                b.left = left;
                Ok(())
            }
            None => {
                b.left = 0;
                Err(too_large_of(what, b.limits.max_bytes))
            }
        }
    })
}

/// Fails unless `bytes` more would fit in the budget (nothing is taken).
fn fits(bytes: u64, what: &str) -> Result<(), Error> {
    if bytes > remaining() { Err(too_large(what)) } else { Ok(()) }
}

/// A writer that only counts, and stops once past `cap`.
struct Counter {
    n: u64,
    cap: u64,
}

impl fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.n = self.n.saturating_add(s.len() as u64);
        if self.n > self.cap { Err(fmt::Error) } else { Ok(()) }
    }
}

/// The length of `v` printed, or an error once it would pass what the budget has left.
/// Printing recurses through `v`, whose depth `measure` bounded when it was built.
pub(crate) fn display_len(v: &Value, what: &str) -> Result<u64, Error> {
    if let Some(s) = v.as_str() {
        return Ok(s.len() as u64);
    }
    let mut c = Counter { n: 0, cap: remaining() };
    match write!(c, "{v}") {
        Ok(()) => Ok(c.n),
        Err(_) => Err(too_large(what)),
    }
}

/// Size in bytes (strings) and items (lists, maps) of `v` counted through every reference,
/// so that a list holding the same big value twice counts it twice; fails past `cap` bytes or
/// `max_depth` levels. Stops as soon as it fails, so it costs at most `cap`.
fn measure(v: &Value, depth: usize, cap: u64, max_depth: usize) -> Result<u64, Error> {
    match v.kind() {
        ValueKind::String => Ok(v.as_str().map_or(0, |s| s.len() as u64)),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => {
            if depth >= max_depth {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("values nest deeper than the limit of {max_depth} levels (limits.maxDepth)"),
                ));
            }
            let is_map = v.kind() == ValueKind::Map;
            let mut total = ITEM_BYTES;
            for item in v.try_iter()? {
                total = total.saturating_add(ITEM_BYTES).saturating_add(measure(&item, depth + 1, cap.saturating_sub(total), max_depth)?);
                if is_map {
                    let value = v.get_item(&item)?;
                    total = total.saturating_add(measure(&value, depth + 1, cap.saturating_sub(total), max_depth)?);
                }
                if total > cap {
                    return Err(too_large("a list or map"));
                }
            }
            Ok(total)
        }
        _ => Ok(ITEM_BYTES),
    }
}

/// Checks a value the template just built (a list or map literal, a function result) and
/// charges its size.
fn guard_value(v: Value) -> Result<Value, Error> {
    let size = measure(&v, 0, remaining(), limits().max_depth)?;
    charge(size, "a list or map")?;
    Ok(v)
}

fn seq_len(v: &Value) -> Option<u64> {
    matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable).then(|| v.len().map_or(1, |n| n as u64))
}

/// `a + b`: strings and lists are charged their combined size before the VM joins them.
fn guard_add(a: Value, b: Value) -> Result<Value, Error> {
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        charge(x.len() as u64 + y.len() as u64, "a string from +")?;
    } else if let (Some(x), Some(y)) = (seq_len(&a), seq_len(&b)) {
        charge(x.saturating_add(y).saturating_mul(ITEM_BYTES), "a list from +")?;
    }
    // The trampoline unpacks this pair onto the stack (top first) before the VM's own `+`.
    Ok(Value::from(vec![b, a]))
}

/// `a * b`: a string or list repeated is charged its full size first.
fn guard_mul(a: Value, b: Value) -> Result<Value, Error> {
    let repeated = |v: &Value, n: &Value| -> Result<(), Error> {
        let Some(n) = n.as_i64() else { return Ok(()) };
        let n = n.max(0) as u64;
        if let Some(s) = v.as_str() {
            charge((s.len() as u64).saturating_mul(n), "a repeated string")?;
        } else if matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable) {
            let size = measure(v, 0, remaining(), limits().max_depth)?;
            charge(size.saturating_mul(n), "a repeated list")?;
        }
        Ok(())
    };
    repeated(&a, &b)?;
    repeated(&b, &a)?;
    Ok(Value::from(vec![b, a]))
}

/// `a ~ b`: both sides are printed, so both are charged their printed length.
fn guard_concat(a: Value, b: Value) -> Result<Value, Error> {
    let n = display_len(&a, "a string from ~")?.saturating_add(display_len(&b, "a string from ~")?);
    charge(n, "a string from ~")?;
    Ok(Value::from(vec![b, a]))
}

/// Bytes scanned when a filter or `in` walks `v` once: a string's bytes, a list's items.
fn shallow_size(v: &Value) -> u64 {
    match v.kind() {
        ValueKind::String => v.as_str().map_or(0, |s| s.len() as u64),
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Map => (v.len().unwrap_or(1) as u64).saturating_mul(ITEM_BYTES),
        _ => 0,
    }
}

/// `a in b` scans `b`: charged like a filter's input, so a loop of scans over a big value
/// ends on the budget rather than running for hours on a little fuel.
fn guard_in(a: Value, b: Value) -> Result<Value, Error> {
    charge(shallow_size(&b), "scanning with in")?;
    Ok(Value::from(vec![b, a]))
}

/// `a == b`, `a < b`, ...: a comparison scans the shorter side, charged like `in`, so that a
/// loop comparing big values ends on the budget.
fn guard_cmp(a: Value, b: Value) -> Result<Value, Error> {
    charge(shallow_size(&a).min(shallow_size(&b)), "comparing values")?;
    Ok(Value::from(vec![b, a]))
}

/// A slice (`s[::-1]`) copies what it selects: charged like any other result.
fn guard_result(v: Value) -> Result<Value, Error> {
    charge_result(&v, "a slice")?;
    Ok(v)
}

/// Registers the guard functions the patched instructions call.
pub(crate) fn add_guards(env: &mut Environment<'static>) {
    env.add_function(GUARD_ADD, guard_add);
    env.add_function(GUARD_MUL, guard_mul);
    env.add_function(GUARD_CONCAT, guard_concat);
    env.add_function(GUARD_VALUE, guard_value);
    env.add_function(GUARD_IN, guard_in);
    env.add_function(GUARD_CMP, guard_cmp);
    env.add_function(GUARD_RESULT, guard_result);
    env.set_formatter(|out, state, value| {
        charge(display_len(value, "the output")?, "the output")?;
        minijinja::escape_formatter(out, state, value)
    });
    guard_filters(env);
}

/// Sends the growing operators, list and map literals and raw text of `instrs` through the
/// guards. Each guarded instruction becomes a jump to a trampoline at the end that runs the
/// guard, the original instruction, and jumps back, so no existing jump target moves.
pub(crate) fn patch(instrs: &mut Instructions<'_>) {
    let n = instrs.len() as u32;
    let mut plan = Vec::new();
    for i in 0..n {
        let Some(ins) = instrs.get(i) else { continue };
        let before_binop = |guard| vec![Instruction::CallFunction(guard, Some(2)), Instruction::UnpackList(2), ins.clone()];
        let seq = match ins {
            Instruction::Add => before_binop(GUARD_ADD),
            Instruction::Mul => before_binop(GUARD_MUL),
            Instruction::StringConcat => before_binop(GUARD_CONCAT),
            Instruction::In => before_binop(GUARD_IN),
            Instruction::Eq | Instruction::Ne | Instruction::Lt | Instruction::Lte | Instruction::Gt | Instruction::Gte => {
                before_binop(GUARD_CMP)
            }
            Instruction::Slice => vec![ins.clone(), Instruction::CallFunction(GUARD_RESULT, Some(1))],
            Instruction::BuildList(_) | Instruction::BuildMap(_) => vec![ins.clone(), Instruction::CallFunction(GUARD_VALUE, Some(1))],
            // Constant folding already ran `[1] * 2**40` at compile time into a lazy list.
            Instruction::LoadConst(v) if matches!(v.kind(), ValueKind::Seq | ValueKind::Map | ValueKind::Iterable) => {
                vec![ins.clone(), Instruction::CallFunction(GUARD_VALUE, Some(1))]
            }
            // Raw text goes through the formatter, which charges it.
            Instruction::EmitRaw(s) => vec![Instruction::LoadConst(Value::from_safe_string((*s).to_string())), Instruction::Emit],
            _ => continue,
        };
        plan.push((i, seq));
    }
    if plan.is_empty() {
        return;
    }
    // Falling off the end of the original instructions must still end the render.
    instrs.add(Instruction::Jump(u32::MAX));
    for (i, seq) in plan {
        let span = instrs.get_span(i);
        let start = instrs.len() as u32;
        for ins in seq.into_iter().chain([Instruction::Jump(i + 1)]) {
            match span {
                Some(s) => instrs.add_with_span(ins, s),
                None => instrs.add(ins),
            };
        }
        if let Some(slot) = instrs.get_mut(i) {
            *slot = Instruction::Jump(start);
        }
    }
}

/// How a filter's arguments are checked before it runs.
#[derive(Clone, Copy)]
enum Pre {
    /// The filter prints its input: its printed length must fit.
    Prints,
    /// `indent(width)`: every line grows by `width`.
    Indent,
    /// `replace(old, new)`: every match grows by `new`.
    Replace,
    /// `join(sep)`: the items printed plus the separators.
    Join,
    /// `format`: widths in the format string must fit.
    Format,
    /// Nothing beyond charging the result.
    None,
}

fn arg_str(args: &[Value], i: usize) -> Option<String> {
    args.get(i).filter(|v| !v.is_kwargs()).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
}

fn pre_check(pre: Pre, name: &str, args: &[Value]) -> Result<(), Error> {
    let what = format!("the result of {name}");
    let first = args.first().cloned().unwrap_or_default();
    match pre {
        Pre::None => Ok(()),
        Pre::Prints => display_len(&first, &what).map(|_| ()),
        Pre::Indent => {
            let len = display_len(&first, &what)?;
            let width =
                args.get(1).and_then(|w| w.as_i64().map(|n| n.max(0) as u64).or_else(|| w.as_str().map(|s| s.len() as u64))).unwrap_or(4);
            let lines = first.as_str().map_or(1, |s| s.matches('\n').count() as u64 + 1);
            fits(len.saturating_add(lines.saturating_mul(width)), &what)
        }
        Pre::Replace => {
            let s = first.as_str().map_or_else(|| first.to_string(), str::to_string);
            let (Some(old), Some(new)) = (arg_str(args, 1), arg_str(args, 2)) else { return Ok(()) };
            let hits = if old.is_empty() { s.chars().count() as u64 + 1 } else { s.matches(old.as_str()).count() as u64 };
            fits((s.len() as u64).saturating_add(hits.saturating_mul(new.len() as u64)), &what)
        }
        Pre::Join => {
            let sep = arg_str(args, 1).map_or(0, |s| s.len() as u64);
            let mut total = 0u64;
            if let Ok(items) = first.try_iter() {
                for item in items {
                    total = total.saturating_add(display_len(&item, &what)?).saturating_add(sep);
                    fits(total, &what)?;
                }
            }
            Ok(())
        }
        Pre::Format => {
            let fmt = first.as_str().unwrap_or("");
            // A width or precision is a run of digits; none may exceed what is left.
            for digits in fmt.split(|c: char| !c.is_ascii_digit()).filter(|d| !d.is_empty()) {
                let n: u64 = digits.parse().unwrap_or(u64::MAX);
                fits(n, &what)?;
            }
            let mut total = fmt.len() as u64;
            for a in args.iter().skip(1) {
                total = total.saturating_add(display_len(a, &what)?);
                fits(total, &what)?;
            }
            Ok(())
        }
    }
}

/// Charges a filter's (or method's) result: a string's bytes, a list's items.
pub(crate) fn charge_result(v: &Value, name: &str) -> Result<(), Error> {
    let what = format!("the result of {name}");
    match v.kind() {
        ValueKind::String => charge(v.as_str().map_or(0, |s| s.len() as u64), &what),
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Map => charge((v.len().unwrap_or(1) as u64).saturating_mul(ITEM_BYTES), &what),
        _ => Ok(()),
    }
}

fn guarded(env: &mut Environment<'static>, name: &'static str, inner: Value, pre: Pre) {
    env.add_filter(name, move |state: &State, args: Rest<Value>| -> Result<Value, Error> {
        pre_check(pre, name, &args)?;
        charge(args.first().map_or(0, shallow_size), &format!("the input of {name}"))?;
        let out = inner.call(state, &args)?;
        charge_result(&out, name)?;
        Ok(out)
    });
}

/// Replaces minijinja's filters that print, grow or build values with guarded ones.
fn guard_filters(env: &mut Environment<'static>) {
    use minijinja::filters as f;
    let list: [(&'static str, Value, Pre); 37] = [
        ("lower", Value::from_function(f::lower), Pre::Prints),
        ("upper", Value::from_function(f::upper), Pre::Prints),
        ("title", Value::from_function(f::title), Pre::Prints),
        ("capitalize", Value::from_function(f::capitalize), Pre::Prints),
        ("trim", Value::from_function(f::trim), Pre::Prints),
        ("string", Value::from_function(f::string), Pre::Prints),
        ("pprint", Value::from_function(f::pprint), Pre::Prints),
        ("safe", Value::from_function(f::safe), Pre::Prints),
        ("escape", Value::from_function(f::escape), Pre::Prints),
        ("e", Value::from_function(f::escape), Pre::Prints),
        ("split", Value::from_function(f::split), Pre::Prints),
        ("lines", Value::from_function(f::lines), Pre::Prints),
        ("indent", Value::from_function(f::indent), Pre::Indent),
        ("replace", Value::from_function(f::replace), Pre::Replace),
        ("join", Value::from_function(f::join), Pre::Join),
        ("format", Value::from_function(f::format), Pre::Format),
        ("list", Value::from_function(f::list), Pre::None),
        ("reverse", Value::from_function(f::reverse), Pre::None),
        ("sort", Value::from_function(f::sort), Pre::None),
        ("unique", Value::from_function(f::unique), Pre::None),
        ("batch", Value::from_function(f::batch), Pre::None),
        ("slice", Value::from_function(f::slice), Pre::None),
        ("items", Value::from_function(f::items), Pre::None),
        ("dictsort", Value::from_function(f::dictsort), Pre::None),
        ("map", Value::from_function(f::map), Pre::None),
        ("select", Value::from_function(f::select), Pre::None),
        ("reject", Value::from_function(f::reject), Pre::None),
        ("groupby", Value::from_function(f::groupby), Pre::None),
        ("chain", Value::from_function(f::chain), Pre::None),
        ("zip", Value::from_function(f::zip), Pre::None),
        // These only read their input; charging it bounds a loop of them over a big value.
        ("sum", Value::from_function(f::sum), Pre::None),
        ("min", Value::from_function(f::min), Pre::None),
        ("max", Value::from_function(f::max), Pre::None),
        ("last", Value::from_function(f::last), Pre::None),
        ("selectattr", Value::from_function(f::selectattr), Pre::None),
        ("rejectattr", Value::from_function(f::rejectattr), Pre::None),
        ("count", Value::from_function(f::length), Pre::None),
    ];
    for (name, inner, pre) in list {
        guarded(env, name, inner, pre);
    }
    // Functions that build values from their arguments: the result is measured like a literal.
    for (name, inner) in
        [("dict", Value::from_function(minijinja::functions::dict)), ("namespace", Value::from_function(minijinja::functions::namespace))]
    {
        env.add_function(name, move |state: &State, args: Rest<Value>| -> Result<Value, Error> {
            for a in args.iter() {
                guard_value(a.clone())?;
            }
            inner.call(state, &args)
        });
    }
}

/// Python string methods (pycompat) with the same checks as the filters of the same name.
pub(crate) fn guarded_method(state: &State, value: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    let mut all = Vec::with_capacity(args.len() + 1);
    all.push(value.clone());
    all.extend_from_slice(args);
    let pre = match method {
        "replace" => Pre::Replace,
        "format" => Pre::Format,
        "join" => Pre::None,
        "upper" | "lower" | "title" | "capitalize" | "strip" | "lstrip" | "rstrip" | "split" | "splitlines" => Pre::Prints,
        _ => Pre::None,
    };
    pre_check(pre, method, &all)?;
    charge(shallow_size(value), &format!("the input of {method}"))?;
    if method == "join" {
        // `sep.join(items)`: the items printed plus one separator each.
        let sep = value.as_str().map_or(0, |s| s.len() as u64);
        let mut total = 0u64;
        if let Some(items) = args.first().and_then(|a| a.try_iter().ok()) {
            for item in items {
                total = total.saturating_add(display_len(&item, "the result of join")?).saturating_add(sep);
                fits(total, "the result of join")?;
            }
        }
    }
    let out = minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)?;
    charge_result(&out, method)?;
    Ok(out)
}
