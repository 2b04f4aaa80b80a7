//! `#[napi]` exports, named `io*`. The TypeScript package adds options, filters and folders.
//!
//! Every export here reads files or untrusted sizes, so each is `catch_unwind`: a panic that
//! slipped past the explicit checks becomes a JS error instead of aborting the process (a
//! panic unwinding out of the N-API callback would abort it).
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use mlxn_core::js::{JsArray, Result, arg_err, mlx_err};
use napi_derive::napi;

use crate::checkpoint;
use crate::error::IoError;
use crate::{gguf, safetensors, shards, template, template_limits, tokenizer};

fn io_err(e: IoError) -> mlxn_core::js::JsError {
    mlx_err(e.0)
}

#[napi(object)]
pub struct IoTensorInfo {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<f64>,
    /// Byte offsets in the file.
    pub begin: f64,
    pub end: f64,
}

#[napi(object)]
pub struct IoHeader {
    pub tensors: Vec<IoTensorInfo>,
    pub metadata: HashMap<String, String>,
}

#[napi(object)]
pub struct IoLoaded {
    pub names: Vec<String>,
    pub arrays: Vec<JsArray>,
    pub metadata: HashMap<String, String>,
}

#[napi(object)]
pub struct IoIndex {
    pub names: Vec<String>,
    /// Absolute (folder-joined) shard paths, one per name.
    pub files: Vec<String>,
}

/// The validated header of a safetensors file.
#[napi(js_name = "ioSafetensorsHeader", catch_unwind)]
pub fn io_safetensors_header(path: String) -> Result<IoHeader> {
    let h = safetensors::read_header(Path::new(&path)).map_err(io_err)?;
    Ok(IoHeader {
        tensors: h
            .tensors
            .into_iter()
            .map(|t| IoTensorInfo {
                name: t.name,
                dtype: t.dtype.to_string(),
                shape: t.shape.iter().map(|&d| d as f64).collect(),
                begin: (h.data_start + t.begin) as f64,
                end: (h.data_start + t.end) as f64,
            })
            .collect(),
        metadata: js_metadata(&path, h.metadata)?,
    })
}

/// Loads a safetensors file (the named tensors only, when `names` is given), lazily.
#[napi(js_name = "ioLoadSafetensors", catch_unwind)]
pub fn io_load_safetensors(path: String, names: Option<Vec<String>>) -> Result<IoLoaded> {
    let l = checkpoint::load_file(Path::new(&path), names.as_deref()).map_err(io_err)?;
    let metadata = js_metadata(&path, l.metadata)?;
    Ok(IoLoaded { names: l.names, arrays: l.arrays.into_iter().map(JsArray::new).collect(), metadata })
}

/// Loads a GGUF file through MLX (an error where MLX was built without GGUF). MLX's reader
/// trusts the header, so ours validates every field of it first.
#[napi(js_name = "ioLoadGguf", catch_unwind)]
pub fn io_load_gguf(path: String) -> Result<IoLoaded> {
    gguf::read_header(Path::new(&path)).map_err(io_err)?;
    let mut names = Vec::new();
    let mut meta = Vec::new();
    let list = mlxn_sys::ffi::load_gguf_file(&path, &mut names, &mut meta).map_err(|e| {
        // gguflib opens the file read-write (and maps it shared), so a read-only file fails here.
        let hint =
            if e.what().contains("gguf_init failed") { " (MLX's GGUF reader opens files read-write: is the file writable?)" } else { "" };
        mlx_err(format!("{path}: {}{hint}", e.what()))
    })?;
    let arrays = mlxn_core::array::from_list(&list).into_iter().map(JsArray::new).collect();
    let metadata = js_metadata(&path, meta.chunks_exact(2).map(|kv| (kv[0].clone(), kv[1].clone())))?;
    Ok(IoLoaded { names, arrays, metadata })
}

/// Metadata for JS: N-API sets object keys by assignment, so a key named `__proto__` would be
/// silently dropped (it sets the prototype); it is refused with the file's name instead.
fn js_metadata(path: &str, metadata: impl IntoIterator<Item = (String, String)>) -> Result<HashMap<String, String>> {
    let map: HashMap<String, String> = metadata.into_iter().collect();
    if map.contains_key("__proto__") {
        return Err(mlx_err(format!("{path}: metadata key '__proto__' is not allowed")));
    }
    Ok(map)
}

fn owned(arrays: &[JsArray]) -> Result<Vec<mlxn_core::Array>> {
    arrays.iter().map(|a| a.get()).collect()
}

/// Writes one safetensors file atomically.
#[napi(js_name = "ioSaveSafetensors", catch_unwind)]
pub fn io_save_safetensors(path: String, names: Vec<String>, arrays: Vec<JsArray>, metadata: HashMap<String, String>) -> Result<()> {
    let arrays = owned(&arrays)?;
    let metadata: BTreeMap<_, _> = metadata.into_iter().collect();
    checkpoint::save_file(Path::new(&path), &names, &arrays, &metadata).map_err(io_err)
}

/// Writes a checkpoint folder: `model.safetensors` when everything fits in one shard, else
/// `model-0000i-of-0000n.safetensors` shards plus `model.safetensors.index.json`. Returns the
/// file names written.
#[napi(js_name = "ioSaveSharded", catch_unwind)]
pub fn io_save_sharded(
    folder: String,
    names: Vec<String>,
    arrays: Vec<JsArray>,
    metadata: HashMap<String, String>,
    max_shard_bytes: f64,
) -> Result<Vec<String>> {
    if max_shard_bytes.is_nan() || max_shard_bytes < 1.0 {
        return Err(arg_err("maxShardSize must be a positive number of bytes"));
    }
    if names.len() != arrays.len() {
        return Err(arg_err("names and arrays differ in length"));
    }
    let arrays = owned(&arrays)?;
    let folder = Path::new(&folder);
    std::fs::create_dir_all(folder).map_err(|e| mlx_err(format!("{}: cannot create folder: {e}", folder.display())))?;
    let metadata: BTreeMap<_, _> = metadata.into_iter().collect();
    let shapes = checkpoint::checked_shapes(&names, &arrays).map_err(|e| mlx_err(format!("{}: {}", folder.display(), e.0)))?;
    let sizes: Vec<u64> =
        shapes.iter().zip(&arrays).map(|(s, a)| safetensors::tensor_bytes("", s, a.dtype().size()).unwrap_or(u64::MAX)).collect();
    let plan = shards::plan_shards(&sizes, max_shard_bytes as u64);
    if plan.len() <= 1 {
        checkpoint::save_file(&folder.join(shards::SINGLE_FILE), &names, &arrays, &metadata).map_err(io_err)?;
        let files = vec![shards::SINGLE_FILE.to_string()];
        shards::remove_stale(folder, &files).map_err(io_err)?;
        return Ok(files);
    }
    let mut weight_map = BTreeMap::new();
    let mut files = Vec::new();
    for (i, shard) in plan.iter().enumerate() {
        let file = shards::shard_file_name(i, plan.len());
        let n: Vec<String> = shard.iter().map(|&j| names[j].clone()).collect();
        let a: Vec<mlxn_core::Array> = shard.iter().map(|&j| arrays[j].clone()).collect::<Vec<_>>();
        checkpoint::save_file(&folder.join(&file), &n, &a, &metadata).map_err(io_err)?;
        for name in n {
            weight_map.insert(name, file.clone());
        }
        files.push(file);
    }
    let total = sizes
        .iter()
        .try_fold(0u64, |t, &n| t.checked_add(n))
        .ok_or_else(|| mlx_err(format!("{}: the tensors' total size overflows", folder.display())))?;
    crate::atomic::atomic_write_bytes(&folder.join(shards::INDEX_FILE), shards::index_json(total, &weight_map).as_bytes())
        .map_err(io_err)?;
    files.push(shards::INDEX_FILE.to_string());
    shards::remove_stale(folder, &files).map_err(io_err)?;
    Ok(files)
}

/// The validated weight map of a `model.safetensors.index.json`.
#[napi(js_name = "ioReadIndex", catch_unwind)]
pub fn io_read_index(path: String) -> Result<IoIndex> {
    let idx = shards::read_index(Path::new(&path)).map_err(io_err)?;
    let (names, files) = idx.weight_map.into_iter().map(|(n, f)| (n, f.to_string_lossy().into_owned())).unzip();
    Ok(IoIndex { names, files })
}

/// Writes `contents` to `path` atomically (`atomic::atomic_write`: the one file writer of the
/// packages, used by @mlxn/io's `writeFileAtomic`).
#[napi(js_name = "ioWriteFileAtomic", catch_unwind)]
pub fn io_write_file_atomic(path: String, contents: napi::bindgen_prelude::Buffer) -> Result<()> {
    crate::atomic::atomic_write_bytes(Path::new(&path), &contents).map_err(io_err)
}

/// Limits on one template render; a field left out keeps its default.
#[napi(object)]
pub struct IoRenderLimits {
    pub max_template_bytes: Option<f64>,
    pub fuel: Option<f64>,
    pub max_bytes: Option<f64>,
    pub max_depth: Option<f64>,
}

/// A limit from JS: a positive integer that fits the target type, or the default.
fn limit<T: TryFrom<u64>>(value: Option<f64>, name: &str, default: T) -> Result<T> {
    let Some(v) = value else { return Ok(default) };
    if !(v.is_finite() && v >= 1.0 && v.fract() == 0.0 && v <= 2f64.powi(53)) {
        return Err(arg_err(format!("limits.{name} must be a positive integer, got {v}")));
    }
    T::try_from(v as u64).map_err(|_| arg_err(format!("limits.{name} is too large: {v}")))
}

/// Renders a chat template with `context` (a JSON object) as its variables.
#[napi(js_name = "ioRenderTemplate", catch_unwind)]
pub fn io_render_template(template: String, context: String, limits: Option<IoRenderLimits>) -> Result<String> {
    let ctx: serde_json::Value = serde_json::from_str(&context).map_err(|e| arg_err(format!("template context: {e}")))?;
    let d = template_limits::DEFAULT_LIMITS;
    let limits = match limits {
        None => d,
        Some(l) => template_limits::RenderLimits {
            max_template_bytes: limit(l.max_template_bytes, "maxTemplateBytes", d.max_template_bytes)?,
            fuel: limit(l.fuel, "fuel", d.fuel)?,
            max_bytes: limit(l.max_bytes, "maxBytes", d.max_bytes)?,
            max_depth: limit(l.max_depth, "maxDepth", d.max_depth)?,
        },
    };
    template::render(&template, &ctx, &limits).map_err(io_err)
}

#[napi(object)]
pub struct IoSpecialTokens {
    pub named: HashMap<String, String>,
    pub extra: Vec<String>,
}

/// A Hugging Face tokenizer (`tokenizer.json` + `tokenizer_config.json`).
#[napi(js_name = "IoTokenizer")]
pub struct IoTokenizer {
    inner: tokenizer::Tokenizer,
}

#[napi]
impl IoTokenizer {
    #[napi(factory, js_name = "fromFolder", catch_unwind)]
    pub fn from_folder(folder: String) -> Result<IoTokenizer> {
        Ok(IoTokenizer { inner: tokenizer::Tokenizer::from_folder(Path::new(&folder)).map_err(io_err)? })
    }
    #[napi(catch_unwind)]
    pub fn encode(&self, text: String, add_special_tokens: bool) -> Result<Vec<u32>> {
        self.inner.encode(&text, add_special_tokens).map_err(io_err)
    }
    #[napi(js_name = "encodeBatch", catch_unwind)]
    pub fn encode_batch(&self, texts: Vec<String>, add_special_tokens: bool) -> Result<Vec<Vec<u32>>> {
        self.inner.encode_batch(texts, add_special_tokens).map_err(io_err)
    }
    #[napi(catch_unwind)]
    pub fn decode(&self, ids: Vec<u32>, skip_special_tokens: bool) -> Result<String> {
        self.inner.decode(&ids, skip_special_tokens).map_err(io_err)
    }
    #[napi(js_name = "decodeBatch", catch_unwind)]
    pub fn decode_batch(&self, ids: Vec<Vec<u32>>, skip_special_tokens: bool) -> Result<Vec<String>> {
        ids.iter().map(|i| self.inner.decode(i, skip_special_tokens).map_err(io_err)).collect()
    }
    #[napi(js_name = "vocabSize", catch_unwind)]
    pub fn vocab_size(&self) -> u32 {
        self.inner.vocab_size() as u32
    }
    #[napi(js_name = "tokenToId", catch_unwind)]
    pub fn token_to_id(&self, token: String) -> Option<u32> {
        self.inner.token_to_id(&token)
    }
    #[napi(js_name = "idToToken", catch_unwind)]
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }
    #[napi(js_name = "specialTokens", catch_unwind)]
    pub fn special_tokens(&self) -> IoSpecialTokens {
        let (named, extra) = self.inner.special_tokens();
        IoSpecialTokens { named: named.into_iter().collect(), extra }
    }
    #[napi(js_name = "chatTemplate", catch_unwind)]
    pub fn chat_template(&self, name: Option<String>) -> Option<String> {
        self.inner.chat_template(name.as_deref())
    }
    /// The tokenizer as `tokenizer.json` text (what constrained decoding reads token bytes from).
    #[napi(catch_unwind)]
    pub fn serialize(&self) -> Result<String> {
        self.inner.inner.to_string(false).map_err(|e| mlx_err(format!("the tokenizer could not be serialized: {e}")))
    }
    /// The raw `tokenizer_config.json` as JSON text.
    #[napi(js_name = "configJson", catch_unwind)]
    pub fn config_json(&self) -> String {
        self.inner.config.to_string()
    }
    /// Streaming detokenizer step: the text that `id` completes (empty while a UTF-8 sequence
    /// is incomplete). `state` is the decoder's pending ids and emitted length.
    #[napi(js_name = "streamPush", catch_unwind)]
    pub fn stream_push(&self, state: &mut IoStreamState, id: u32, skip_special_tokens: bool) -> Result<String> {
        state.inner.push(&self.inner, id, skip_special_tokens).map_err(io_err)
    }
    #[napi(js_name = "streamFinish", catch_unwind)]
    pub fn stream_finish(&self, state: &mut IoStreamState, skip_special_tokens: bool) -> Result<String> {
        state.inner.finish(&self.inner, skip_special_tokens).map_err(io_err)
    }
}

/// The state of one streaming detokenizer.
#[napi(js_name = "IoStreamState")]
pub struct IoStreamState {
    inner: tokenizer::StreamDecoder,
}

#[napi]
impl IoStreamState {
    #[napi(constructor, catch_unwind)]
    pub fn new() -> Self {
        IoStreamState { inner: tokenizer::StreamDecoder::default() }
    }
}
