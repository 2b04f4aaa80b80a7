//! Our own safetensors header check. MLX's reader is lazy and trusts the header, so a file with
//! out-of-range or overlapping offsets would only fail (or read garbage) when an array is
//! evaluated. Everything a reader relies on is checked here first, from the header alone.
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use serde_json::{Map, Value};

use crate::atomic::atomic_write;
use crate::error::{IoError, Result};

/// Headers above this size are refused (the format's own readers use the same bound).
pub const MAX_HEADER_BYTES: u64 = 100 * 1024 * 1024;

/// Safetensors dtype names and their element sizes, as MLX writes them.
pub const DTYPES: [(&str, &str, usize); 14] = [
    ("BOOL", "bool", 1),
    ("U8", "uint8", 1),
    ("U16", "uint16", 2),
    ("U32", "uint32", 4),
    ("U64", "uint64", 8),
    ("I8", "int8", 1),
    ("I16", "int16", 2),
    ("I32", "int32", 4),
    ("I64", "int64", 8),
    ("F16", "float16", 2),
    ("BF16", "bfloat16", 2),
    ("F32", "float32", 4),
    ("F64", "float64", 8),
    ("C64", "complex64", 8),
];

pub fn dtype_by_file_name(s: &str) -> Option<(&'static str, usize)> {
    DTYPES.iter().find(|d| d.0 == s).map(|d| (d.1, d.2))
}
pub fn dtype_by_mlx_name(s: &str) -> Option<(&'static str, usize)> {
    DTYPES.iter().find(|d| d.1 == s).map(|d| (d.0, d.2))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// The MLX dtype name (`bfloat16`, ...).
    pub dtype: &'static str,
    pub shape: Vec<i64>,
    /// Byte range relative to the start of the data section.
    pub begin: u64,
    pub end: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Header {
    pub tensors: Vec<TensorInfo>,
    pub metadata: BTreeMap<String, String>,
    /// Offset of the data section in the file (8 + header length).
    pub data_start: u64,
}

/// Reads and validates the header of the safetensors file at `path`.
pub fn read_header(path: &Path) -> Result<Header> {
    let file_err = |p: &str| IoError::file(path, p);
    let (mut f, file_len) = crate::files::open_regular(path)?;
    if file_len < 8 {
        return Err(file_err(&format!("truncated: {file_len} bytes, shorter than the 8-byte header length")));
    }
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(|e| file_err(&format!("cannot read: {e}")))?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER_BYTES {
        return Err(file_err(&format!("header length {n} exceeds the limit of {MAX_HEADER_BYTES} bytes")));
    }
    if n > file_len - 8 {
        return Err(file_err(&format!("header length {n} is larger than the file ({file_len} bytes): truncated or not safetensors")));
    }
    let mut buf = vec![0u8; n as usize];
    f.read_exact(&mut buf).map_err(|e| file_err(&format!("cannot read header: {e}")))?;
    parse_header(&buf, file_len).map_err(|p| file_err(&p))
}

/// Validates a header (the JSON bytes) against the total file length. Errors are the problem
/// alone; `read_header` adds the file name.
pub fn parse_header(json: &[u8], file_len: u64) -> std::result::Result<Header, String> {
    let data_start = 8 + json.len() as u64;
    let data_len = file_len.checked_sub(data_start).ok_or("header extends past the end of the file")?;
    let text = std::str::from_utf8(json).map_err(|_| "header is not valid UTF-8".to_string())?;
    let UniqueKeys(root) = serde_json::from_str(text.trim_end_matches(' ')).map_err(|e| format!("header is not valid JSON: {e}"))?;
    let Value::Object(root) = root else { return Err("header is not a JSON object".into()) };
    let mut header = Header { data_start, ..Default::default() };
    for (name, entry) in root {
        if name == "__metadata__" {
            // MLX writes `null` when there is no metadata.
            if !entry.is_null() {
                header.metadata = parse_metadata(&entry)?;
            }
            continue;
        }
        header.tensors.push(parse_entry(&name, &entry, data_len)?);
    }
    // No two tensors may share bytes (zero-sized tensors own no bytes).
    let mut spans: Vec<&TensorInfo> = header.tensors.iter().filter(|t| t.end > t.begin).collect();
    spans.sort_by_key(|t| (t.begin, t.end));
    for w in spans.windows(2) {
        if w[1].begin < w[0].end {
            return Err(format!(
                "tensors '{}' [{}, {}) and '{}' [{}, {}) overlap",
                w[0].name, w[0].begin, w[0].end, w[1].name, w[1].begin, w[1].end
            ));
        }
    }
    Ok(header)
}

/// JSON in which no object repeats a key. With a repeated key, readers disagree on which one
/// counts (serde_json keeps the last, others the first), so a header could describe one tensor to
/// this check and another to the reader that loads it.
struct UniqueKeys(Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(UniqueKeysVisitor).map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(UniqueKeys(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("key '{key}' appears twice")));
            }
            let UniqueKeys(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

fn parse_metadata(v: &Value) -> std::result::Result<BTreeMap<String, String>, String> {
    let Value::Object(m) = v else { return Err("__metadata__ is not an object of strings".into()) };
    m.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(format!("__metadata__ value for '{k}' is not a string")),
        })
        .collect()
}

fn parse_entry(name: &str, v: &Value, data_len: u64) -> std::result::Result<TensorInfo, String> {
    let bad = |p: &str| format!("tensor '{name}': {p}");
    let Value::Object(m) = v else { return Err(bad("entry is not an object")) };
    let dtype_name = m.get("dtype").and_then(Value::as_str).ok_or_else(|| bad("missing dtype"))?;
    let (dtype, itemsize) = dtype_by_file_name(dtype_name).ok_or_else(|| bad(&format!("unknown dtype '{dtype_name}'")))?;
    let shape_v = m.get("shape").and_then(Value::as_array).ok_or_else(|| bad("missing shape"))?;
    let mut shape = Vec::with_capacity(shape_v.len());
    let mut count: u64 = 1;
    for d in shape_v {
        let d = d.as_u64().filter(|&d| d <= i32::MAX as u64).ok_or_else(|| bad("shape entries must be integers in [0, 2^31)"))?;
        count = count.checked_mul(d).ok_or_else(|| bad("shape overflows"))?;
        shape.push(d as i64);
    }
    let offs = m.get("data_offsets").and_then(Value::as_array).ok_or_else(|| bad("missing data_offsets"))?;
    let [b, e] = offs.as_slice() else { return Err(bad("data_offsets must be [begin, end]")) };
    let (begin, end) = match (b.as_u64(), e.as_u64()) {
        (Some(b), Some(e)) => (b, e),
        _ => return Err(bad("data_offsets must be non-negative integers")),
    };
    if begin > end {
        return Err(bad(&format!("data_offsets [{begin}, {end}] are reversed")));
    }
    if end > data_len {
        return Err(bad(&format!("data_offsets [{begin}, {end}] go past the end of the data ({data_len} bytes)")));
    }
    let want = count.checked_mul(itemsize as u64).ok_or_else(|| bad("byte count overflows"))?;
    if end - begin != want {
        return Err(bad(&format!("shape {shape:?} of {dtype} needs {want} bytes but data_offsets span {}", end - begin)));
    }
    if let Some(k) = m.keys().find(|k| !matches!(k.as_str(), "dtype" | "shape" | "data_offsets")) {
        return Err(bad(&format!("unexpected key '{k}'")));
    }
    Ok(TensorInfo { name: name.to_string(), dtype, shape, begin, end })
}

/// One tensor to write: name, MLX dtype name, shape and its row-major bytes.
pub struct TensorData<'a> {
    pub name: &'a str,
    pub dtype: &'a str,
    pub shape: &'a [i64],
    pub bytes: &'a [u8],
}

/// Bytes of a tensor of `shape` with `itemsize`-byte elements: every dimension non-negative,
/// the product checked for overflow (shapes come from user arrays and files).
pub fn tensor_bytes(name: &str, shape: &[i64], itemsize: usize) -> Result<u64> {
    let mut count = itemsize as u64;
    for &d in shape {
        let d = u64::try_from(d).map_err(|_| IoError::msg(format!("tensor '{name}': shape {shape:?} has a negative dimension")))?;
        count = count.checked_mul(d).ok_or_else(|| IoError::msg(format!("tensor '{name}': shape {shape:?} overflows a byte count")))?;
    }
    Ok(count)
}

/// The header JSON for `tensors` in order (padded with spaces to a multiple of 8 bytes, so the
/// data section stays aligned).
pub fn build_header(tensors: &[TensorData], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut root = Map::new();
    if !metadata.is_empty() {
        root.insert("__metadata__".into(), Value::Object(metadata.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()));
    }
    let mut offset = 0u64;
    for t in tensors {
        if t.name == "__metadata__" {
            return Err(IoError::msg("'__metadata__' cannot be used as a tensor name"));
        }
        let (file_dtype, itemsize) =
            dtype_by_mlx_name(t.dtype).ok_or_else(|| IoError::msg(format!("tensor '{}': unknown dtype '{}'", t.name, t.dtype)))?;
        let want = tensor_bytes(t.name, t.shape, itemsize)?;
        if want != t.bytes.len() as u64 {
            return Err(IoError::msg(format!("tensor '{}': {} bytes do not match shape {:?}", t.name, t.bytes.len(), t.shape)));
        }
        // Checked explicitly: release builds do not trap overflow, and a wrapped offset would
        // write a header that points at the wrong bytes.
        let end = offset.checked_add(want).ok_or_else(|| IoError::msg("the tensors' total size overflows"))?;
        root.insert(t.name.to_string(), serde_json::json!({ "dtype": file_dtype, "shape": t.shape, "data_offsets": [offset, end] }));
        offset = end;
    }
    let mut json = serde_json::to_vec(&Value::Object(root)).map_err(|e| IoError::msg(e.to_string()))?;
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    Ok(json)
}

/// Writes a safetensors file atomically (temporary file, fsync, rename).
pub fn write_file(path: &Path, tensors: &[TensorData], metadata: &BTreeMap<String, String>) -> Result<()> {
    let header = build_header(tensors, metadata)?;
    atomic_write(path, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(&header)?;
        for t in tensors {
            w.write_all(t.bytes)?;
        }
        Ok(())
    })
}
