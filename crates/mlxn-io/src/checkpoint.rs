//! Loading and saving arrays: our header check first, then MLX's lazy reader; writes go through
//! our own writer so every file is replaced atomically.
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use mlxn_core::{Array, Dtype};

use crate::error::{IoError, Result};
use crate::safetensors::{self, Header, TensorData};

pub struct Loaded {
    pub names: Vec<String>,
    pub arrays: Vec<Array>,
    pub metadata: BTreeMap<String, String>,
}

fn dtype_from_name(name: &str) -> Dtype {
    *mlxn_core::dtype::ALL.iter().find(|d| d.name() == name).expect("known dtype")
}

/// Loads the tensors named in `only` (all when `None`) from one safetensors file, lazily.
pub fn load_file(path: &Path, only: Option<&[String]>) -> Result<Loaded> {
    let header = safetensors::read_header(path)?;
    let wanted: Vec<usize> = match only {
        None => (0..header.tensors.len()).collect(),
        Some(names) => names
            .iter()
            .map(|n| header.tensors.iter().position(|t| &t.name == n).ok_or_else(|| IoError::file(path, &format!("no tensor named '{n}'"))))
            .collect::<Result<_>>()?,
    };
    let arrays = if header.tensors.iter().any(|t| t.dtype == "float64") {
        // MLX's safetensors reader has no float64; read those files eagerly ourselves.
        read_eager(path, &header, &wanted)?
    } else {
        read_lazy(path, &header, &wanted)?
    };
    Ok(Loaded { names: wanted.iter().map(|&i| header.tensors[i].name.clone()).collect(), arrays, metadata: header.metadata })
}

fn read_lazy(path: &Path, header: &Header, wanted: &[usize]) -> Result<Vec<Array>> {
    let p = path.to_str().ok_or_else(|| IoError::file(path, "path is not valid UTF-8"))?;
    let mut names = Vec::new();
    let mut meta = Vec::new();
    let list = mlxn_sys::ffi::load_safetensors_file(p, &mut names, &mut meta).map_err(|e| IoError::file(path, e.what()))?;
    let all = mlxn_core::array::from_list(&list);
    let mut by_name: std::collections::HashMap<String, Array> = names.into_iter().zip(all).collect();
    wanted
        .iter()
        .map(|&i| {
            let t = &header.tensors[i];
            let a = by_name.remove(&t.name).ok_or_else(|| IoError::file(path, &format!("MLX did not load tensor '{}'", t.name)))?;
            let shape: Vec<i64> = a.shape().iter().map(|&d| d as i64).collect();
            if shape != t.shape || a.dtype().name() != t.dtype {
                return Err(IoError::file(path, &format!("tensor '{}' loaded with an unexpected shape or dtype", t.name)));
            }
            Ok(a)
        })
        .collect()
}

fn read_eager(path: &Path, header: &Header, wanted: &[usize]) -> Result<Vec<Array>> {
    let err = |e: std::io::Error| IoError::file(path, &format!("cannot read: {e}"));
    let (mut f, _) = crate::files::open_regular(path)?;
    wanted
        .iter()
        .map(|&i| {
            let t = &header.tensors[i];
            let mut buf = vec![0u8; (t.end - t.begin) as usize];
            f.seek(SeekFrom::Start(header.data_start + t.begin)).map_err(err)?;
            f.read_exact(&mut buf).map_err(err)?;
            let shape: Vec<i32> = t.shape.iter().map(|&d| d as i32).collect();
            Array::from_bytes(&buf, &shape, dtype_from_name(t.dtype)).map_err(|e| IoError::file(path, &e.0))
        })
        .collect()
}

/// The shapes of `arrays`, after checking that each is non-negative and its byte count fits,
/// before anything is evaluated or sized from them.
pub fn checked_shapes(names: &[String], arrays: &[Array]) -> Result<Vec<Vec<i64>>> {
    names
        .iter()
        .zip(arrays)
        .map(|(n, a)| {
            let shape: Vec<i64> = a.shape().iter().map(|&d| i64::from(d)).collect();
            safetensors::tensor_bytes(n, &shape, a.dtype().size()).map(|_| shape)
        })
        .collect()
}

/// Evaluates `arrays` and writes them to one safetensors file (atomically).
pub fn save_file(path: &Path, names: &[String], arrays: &[Array], metadata: &BTreeMap<String, String>) -> Result<()> {
    if names.len() != arrays.len() {
        return Err(IoError::msg("names and arrays differ in length"));
    }
    let mut seen = std::collections::HashSet::new();
    for n in names {
        if !seen.insert(n) {
            return Err(IoError::file(path, &format!("duplicate tensor name '{n}'")));
        }
    }
    let shapes = checked_shapes(names, arrays).map_err(|e| IoError::file(path, &e.0))?;
    let bytes: Vec<Vec<u8>> =
        arrays.iter().map(|a| a.to_bytes()).collect::<std::result::Result<_, _>>().map_err(|e| IoError::file(path, &e.0))?;
    let tensors: Vec<TensorData> = (0..names.len())
        .map(|i| TensorData { name: &names[i], dtype: arrays[i].dtype().name(), shape: &shapes[i], bytes: &bytes[i] })
        .collect();
    safetensors::write_file(path, &tensors, metadata)
}
