//! Our own GGUF header check. MLX's GGUF reader (antirez's gguflib underneath) trusts the header:
//! it divides by `general.alignment` (0 kills the process with SIGFPE), follows counts and string
//! lengths without bounds (SIGSEGV), asserts on `n_dims` (SIGABRT), stops without a word at an
//! unknown tensor type (the tensors after it go missing), and sizes some buffers with 32-bit
//! arithmetic. Every field of the header is checked here first, streaming through the file with
//! checked arithmetic and against the file's length; only a file that passes goes to MLX.
//!
//! Layout (little-endian, versions 2 and 3): magic `GGUF`, version u32, tensor count u64,
//! key/value count u64; key/values (key string, value type u32, value); tensor infos (name
//! string, n_dims u32, dims u64 × n_dims, type u32, offset u64 into the data section); padding to
//! the alignment; the data section. A string is a u64 length and that many UTF-8 bytes.
use std::collections::HashSet;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::error::{IoError, Result};
use crate::files::open_regular;

/// The key/value and tensor-info sections together may not exceed this (published files, whose
/// largest part is the tokenizer's vocabulary, stay far below it).
pub const MAX_HEADER_BYTES: u64 = 1 << 30;
/// Published files have hundreds to a few thousand tensors and well under a hundred keys; MLX
/// makes an array (and a JavaScript object) per tensor, so the counts are bounded on their own,
/// not only by the file's size.
pub const MAX_TENSORS: u64 = 1 << 20;
pub const MAX_KEY_VALUES: u64 = 1 << 20;
/// Keys and tensor names (the format allows 65535-byte keys; tensor names are 64 bytes in
/// llama.cpp).
pub const MAX_NAME_BYTES: u64 = 65_535;
/// MLX's shapes are 32-bit, and it reads metadata array lengths as `int`.
pub const MAX_DIM: u64 = i32::MAX as u64;
pub const MAX_ARRAY_LEN: u64 = i32::MAX as u64;
pub const MAX_DIMS: u32 = 4;
/// The default data alignment, and the largest one accepted.
pub const DEFAULT_ALIGNMENT: u64 = 32;
pub const MAX_ALIGNMENT: u64 = 1 << 20;

const VALUE_TYPE_NAMES: [&str; 13] =
    ["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"];
const T_UINT32: u32 = 4;
const T_BOOL: u32 = 7;
const T_STRING: u32 = 8;
const T_ARRAY: u32 = 9;

/// Byte size of a fixed-size value type (0 for string and array).
fn value_size(t: u32) -> u64 {
    match t {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        10..=12 => 8,
        _ => 0,
    }
}

/// A GGUF tensor type: name, weights per block, bytes per block, and whether MLX's reader
/// loads it (directly, as MLX quantized weights, or dequantized to float16).
struct TensorType {
    name: &'static str,
    block: u64,
    block_bytes: u64,
    mlx: bool,
}

const fn tt(name: &'static str, block: u64, block_bytes: u64, mlx: bool) -> Option<TensorType> {
    Some(TensorType { name, block, block_bytes, mlx })
}

/// Indexed by type id; `None` marks ids the format retired or never had.
const TENSOR_TYPES: [Option<TensorType>; 31] = [
    tt("f32", 1, 4, true),
    tt("f16", 1, 2, true),
    tt("q4_0", 32, 18, true),
    tt("q4_1", 32, 20, true),
    None, // q4_2, removed from the format
    None, // q4_3, removed from the format
    tt("q5_0", 32, 22, false),
    tt("q5_1", 32, 24, false),
    tt("q8_0", 32, 34, true),
    tt("q8_1", 32, 40, false),
    tt("q2_k", 256, 82, true),
    tt("q3_k", 256, 110, false),
    tt("q4_k", 256, 144, true),
    tt("q5_k", 256, 176, false),
    tt("q6_k", 256, 210, true),
    tt("q8_k", 256, 292, false),
    tt("iq2_xxs", 256, 66, false),
    tt("iq2_xs", 256, 74, false),
    tt("iq3_xxs", 256, 98, false),
    tt("iq1_s", 256, 110, false),
    tt("iq4_nl", 32, 18, false),
    tt("iq3_s", 256, 110, false),
    tt("iq2_s", 256, 82, false),
    tt("iq4_xs", 256, 136, false),
    tt("i8", 1, 1, true),
    tt("i16", 1, 2, true),
    tt("i32", 1, 4, true),
    tt("i64", 1, 8, false),
    tt("f64", 1, 8, false),
    tt("iq1_m", 256, 56, false),
    tt("bf16", 1, 2, true),
];

fn supported_types() -> String {
    TENSOR_TYPES.iter().flatten().filter(|t| t.mlx).map(|t| t.name).collect::<Vec<_>>().join(", ")
}

/// One tensor of a validated header. `offset` is relative to the data section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufTensor {
    pub name: String,
    /// GGUF order (the fastest-varying dimension first; MLX's shape is the reverse).
    pub dims: Vec<u64>,
    pub type_name: &'static str,
    pub offset: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufHeader {
    pub version: u32,
    pub keys: Vec<String>,
    pub tensors: Vec<GgufTensor>,
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_start: u64,
}

/// Reads through the header, counting every byte against the file's length and the limit.
struct Cursor<R: Read> {
    r: R,
    pos: u64,
    file_len: u64,
}

type Problem = String;

impl<R: Read> Cursor<R> {
    fn remaining(&self) -> u64 {
        self.file_len - self.pos
    }

    /// Takes `n` bytes of the header into account, before anything is read or allocated.
    fn claim(&mut self, n: u64, what: &dyn Fn() -> String) -> std::result::Result<(), Problem> {
        if n > self.remaining() {
            return Err(format!(
                "{} at byte {} needs {n} bytes but the file ends after {} more (truncated or corrupt)",
                what(),
                self.pos,
                self.remaining()
            ));
        }
        let end = self.pos + n;
        if end > MAX_HEADER_BYTES.saturating_add(24) {
            return Err(format!("{}: the header goes past the limit of {MAX_HEADER_BYTES} bytes", what()));
        }
        self.pos = end;
        Ok(())
    }

    fn bytes(&mut self, n: u64, what: &dyn Fn() -> String) -> std::result::Result<Vec<u8>, Problem> {
        self.claim(n, what)?;
        let mut buf = vec![0u8; n as usize];
        self.r.read_exact(&mut buf).map_err(|e| format!("{}: cannot read: {e}", what()))?;
        Ok(buf)
    }

    fn skip(&mut self, n: u64, what: &dyn Fn() -> String) -> std::result::Result<(), Problem> {
        self.claim(n, what)?;
        let copied =
            std::io::copy(&mut (&mut self.r).take(n), &mut std::io::sink()).map_err(|e| format!("{}: cannot read: {e}", what()))?;
        if copied != n {
            return Err(format!("{}: the file ended early (it changed while being read?)", what()));
        }
        Ok(())
    }

    fn u8(&mut self, what: &dyn Fn() -> String) -> std::result::Result<u8, Problem> {
        Ok(self.bytes(1, what)?[0])
    }
    fn u32(&mut self, what: &dyn Fn() -> String) -> std::result::Result<u32, Problem> {
        Ok(u32::from_le_bytes(self.bytes(4, what)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self, what: &dyn Fn() -> String) -> std::result::Result<u64, Problem> {
        Ok(u64::from_le_bytes(self.bytes(8, what)?.try_into().expect("8 bytes")))
    }

    /// A length-prefixed UTF-8 string of at most `max` bytes.
    fn string(&mut self, max: u64, what: &dyn Fn() -> String) -> std::result::Result<String, Problem> {
        let len = self.u64(&|| format!("{} (length)", what()))?;
        if len > max {
            return Err(format!("{}: length {len} exceeds the limit of {max} bytes", what()));
        }
        if len > self.remaining() {
            return Err(format!("{}: length {len} goes past the end of the file ({} bytes left)", what(), self.remaining()));
        }
        String::from_utf8(self.bytes(len, what)?).map_err(|_| format!("{}: not valid UTF-8", what()))
    }

    /// Checks one metadata value of type `t` and returns it when it is a uint32 (the alignment).
    fn value(&mut self, t: u32, what: &dyn Fn() -> String) -> std::result::Result<Option<u32>, Problem> {
        match t {
            T_STRING => {
                self.string(u64::MAX, what)?;
            }
            T_BOOL => {
                let b = self.u8(what)?;
                if b > 1 {
                    return Err(format!("{}: bool value {b} is neither 0 nor 1", what()));
                }
            }
            T_UINT32 => return Ok(Some(self.u32(what)?)),
            T_ARRAY => {
                let et = self.u32(&|| format!("{} (array element type)", what()))?;
                let len = self.u64(&|| format!("{} (array length)", what()))?;
                if et == T_ARRAY {
                    return Err(format!("{}: nested arrays are not supported (MLX's reader reads one level)", what()));
                }
                if et as usize >= VALUE_TYPE_NAMES.len() {
                    return Err(format!("{}: unknown array element type {et}", what()));
                }
                if len > MAX_ARRAY_LEN {
                    return Err(format!("{}: array length {len} exceeds the limit of {MAX_ARRAY_LEN}", what()));
                }
                let size = value_size(et);
                if size > 0 {
                    let total = len.checked_mul(size).ok_or_else(|| format!("{}: array of {len} elements overflows", what()))?;
                    if total > self.remaining() {
                        return Err(format!(
                            "{}: array of {len} {} elements ({total} bytes) goes past the end of the file ({} bytes left)",
                            what(),
                            VALUE_TYPE_NAMES[et as usize],
                            self.remaining()
                        ));
                    }
                    if et == T_BOOL {
                        let bytes = self.bytes(total, what)?;
                        if let Some(i) = bytes.iter().position(|&b| b > 1) {
                            return Err(format!("{}: bool element {i} is {} (neither 0 nor 1)", what(), bytes[i]));
                        }
                    } else {
                        self.skip(total, what)?;
                    }
                } else {
                    // Strings: every one needs at least its 8-byte length.
                    if len.checked_mul(8).is_none_or(|n| n > self.remaining()) {
                        return Err(format!(
                            "{}: array of {len} strings goes past the end of the file ({} bytes left)",
                            what(),
                            self.remaining()
                        ));
                    }
                    for i in 0..len {
                        self.string(u64::MAX, &|| format!("{} (element {i})", what()))?;
                    }
                }
            }
            _ => {
                let size = value_size(t);
                if size == 0 {
                    return Err(format!("{}: unknown value type {t}", what()));
                }
                self.skip(size, what)?;
            }
        }
        Ok(None)
    }
}

/// Opens `path` (a regular file only) and validates its GGUF header.
pub fn read_header(path: &Path) -> Result<GgufHeader> {
    let (file, len) = open_regular(path)?;
    parse(BufReader::with_capacity(1 << 16, file), len).map_err(|p| IoError::file(path, &p))
}

/// Validates the header read from `r`, a file of `file_len` bytes. Errors are the problem alone.
pub fn parse<R: Read>(r: R, file_len: u64) -> std::result::Result<GgufHeader, Problem> {
    let mut c = Cursor { r, pos: 0, file_len };
    let magic =
        c.bytes(4, &|| "magic".into()).map_err(|_| format!("not a GGUF file: {file_len} bytes, shorter than the 24-byte header"))?;
    if magic != b"GGUF" {
        return Err(format!("not a GGUF file (magic {:?}, expected \"GGUF\")", String::from_utf8_lossy(&magic)));
    }
    if file_len < 24 {
        return Err(format!("truncated: {file_len} bytes, shorter than the 24-byte GGUF header"));
    }
    let version = c.u32(&|| "version".into())?;
    if version != 2 && version != 3 {
        return Err(format!("GGUF version {version} is not supported (MLX reads versions 2 and 3, little-endian)"));
    }
    let tensor_count = c.u64(&|| "tensor count".into())?;
    let kv_count = c.u64(&|| "key/value count".into())?;
    if tensor_count > MAX_TENSORS {
        return Err(format!("tensor count {tensor_count} exceeds the limit of {MAX_TENSORS}"));
    }
    if kv_count > MAX_KEY_VALUES {
        return Err(format!("key/value count {kv_count} exceeds the limit of {MAX_KEY_VALUES}"));
    }
    // The smallest entries: a key/value with an empty key and a one-byte value (13 bytes), a
    // tensor info with an empty name and one dimension (32 bytes).
    let min_bytes = kv_count.checked_mul(13).zip(tensor_count.checked_mul(32)).and_then(|(a, b)| a.checked_add(b));
    if min_bytes.is_none_or(|n| n > c.remaining()) {
        return Err(format!(
            "tensor count {tensor_count} and key/value count {kv_count} cannot fit in the {} bytes after the header (truncated or corrupt)",
            c.remaining()
        ));
    }

    let mut keys = Vec::new();
    let mut seen = HashSet::new();
    let mut alignment = DEFAULT_ALIGNMENT;
    for i in 0..kv_count {
        let key = c.string(MAX_NAME_BYTES, &|| format!("metadata key #{i}"))?;
        let what = |suffix: &str| format!("metadata '{key}'{suffix}");
        let t = c.u32(&|| what(" (value type)"))?;
        if t as usize >= VALUE_TYPE_NAMES.len() {
            return Err(format!("{}: unknown value type {t}", what("")));
        }
        let value = c.value(t, &|| what(""))?;
        if key == "general.alignment" {
            let a = value.ok_or_else(|| format!("metadata 'general.alignment' must be a uint32, got {}", VALUE_TYPE_NAMES[t as usize]))?;
            let a = u64::from(a);
            if a == 0 || !a.is_power_of_two() || a > MAX_ALIGNMENT {
                return Err(format!("metadata 'general.alignment' = {a} must be a power of two between 1 and {MAX_ALIGNMENT}"));
            }
            alignment = a;
        }
        if !seen.insert(key.clone()) {
            return Err(format!("metadata key '{key}' appears twice"));
        }
        keys.push(key);
    }

    let mut tensors: Vec<GgufTensor> = Vec::with_capacity(tensor_count.min(4096) as usize);
    let mut names = HashSet::new();
    for i in 0..tensor_count {
        let name = c.string(MAX_NAME_BYTES, &|| format!("tensor #{i} (name)"))?;
        let what = |field: &str| format!("tensor '{name}' ({field})");
        let n_dims = c.u32(&|| what("n_dims"))?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(format!("{}: {n_dims} dimensions, must be 1 to {MAX_DIMS}", what("n_dims")));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        let mut count: u64 = 1;
        for d in 0..n_dims {
            let dim = c.u64(&|| what(&format!("dim {d}")))?;
            if dim == 0 || dim > MAX_DIM {
                return Err(format!("{}: {dim} must be 1 to {MAX_DIM}", what(&format!("dim {d}"))));
            }
            count = count.checked_mul(dim).ok_or_else(|| format!("{}: dims {dims:?} × {dim} overflow", what("dims")))?;
            dims.push(dim);
        }
        let type_id = c.u32(&|| what("type"))?;
        let Some(tt) = TENSOR_TYPES.get(type_id as usize).and_then(Option::as_ref) else {
            return Err(format!("{}: unknown tensor type {type_id}", what("type")));
        };
        if !tt.mlx {
            return Err(format!(
                "{}: {} ({type_id}) is not supported by MLX's GGUF reader (it reads {})",
                what("type"),
                tt.name,
                supported_types()
            ));
        }
        if dims[0] % tt.block != 0 {
            return Err(format!(
                "{}: the first dimension {} is not a multiple of {}'s block of {} weights",
                what("dims"),
                dims[0],
                tt.name,
                tt.block
            ));
        }
        // MLX unpacks q4_0 / q4_1 / q8_0 into uint32 words and float16 scales whose sizes it
        // computes in 32-bit `int`.
        let words = match tt.name {
            "q4_0" | "q4_1" => Some(count / 8),
            "q8_0" => Some(count / 4),
            _ => None,
        };
        if words.is_some_and(|w| w > i32::MAX as u64) {
            return Err(format!(
                "{}: {count} weights of {} exceed what MLX's reader can unpack ({} words of 32 bits at most)",
                what("dims"),
                tt.name,
                i32::MAX
            ));
        }
        let bytes = (count / tt.block).checked_mul(tt.block_bytes).ok_or_else(|| format!("{}: byte size overflows", what("dims")))?;
        let offset = c.u64(&|| what("offset"))?;
        if offset % alignment != 0 {
            return Err(format!("{}: {offset} is not a multiple of the alignment {alignment}", what("offset")));
        }
        if !names.insert(name.clone()) {
            return Err(format!("tensor name '{name}' appears twice"));
        }
        tensors.push(GgufTensor { name, dims, type_name: tt.name, offset, bytes });
    }

    let infos_end = c.pos;
    let data_start = infos_end.div_ceil(alignment).checked_mul(alignment).ok_or("data offset overflows")?;
    if !tensors.is_empty() && data_start > file_len {
        return Err(format!("the data section would start at byte {data_start}, past the end of the file ({file_len} bytes)"));
    }
    let data_len = file_len.saturating_sub(data_start);
    for t in &tensors {
        t.offset.checked_add(t.bytes).filter(|&e| e <= data_len).ok_or_else(|| {
            format!(
                "tensor '{}' (offset): bytes [{}, {} + {}) go past the end of the data section ({data_len} bytes)",
                t.name, t.offset, t.offset, t.bytes
            )
        })?;
    }
    let mut spans: Vec<&GgufTensor> = tensors.iter().collect();
    spans.sort_by_key(|t| t.offset);
    for w in spans.windows(2) {
        // Checked above: offset + bytes does not overflow.
        if w[1].offset < w[0].offset + w[0].bytes {
            return Err(format!(
                "tensors '{}' [{}, {}) and '{}' [{}, {}) overlap",
                w[0].name,
                w[0].offset,
                w[0].offset + w[0].bytes,
                w[1].name,
                w[1].offset,
                w[1].offset + w[1].bytes
            ));
        }
    }
    Ok(GgufHeader { version, keys, tensors, alignment, data_start })
}

#[cfg(test)]
#[path = "gguf_tests.rs"]
mod tests;
