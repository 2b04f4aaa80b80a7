//! The flat description of a Qwen3 network that `forward.rs` builds from.
//!
//! TypeScript writes it into one `Float64Array` per call (array handles are numbers there), so
//! crossing the boundary costs one call instead of one per parameter. The layout is versioned
//! and every field is checked as it is read; a mismatch is an error, never a misread.
//!
//! ```text
//! header   VERSION, layers, heads, kvHeads, headDim, attnScale,
//!          ropeDims, ropeTraditional, ropeBase, ropeScale, maskKind, maskHandle, paced
//! embed    proj (kind 1: table, kind 2: quantized table)
//! layer ×n inputNorm, postNorm, qNorm, kNorm (norm = weight handle, eps),
//!          q, k, v, o, gate, up, down (proj), qkv, gateUp (fused proj or absent), cache
//! tail     norm
//! proj     kind (1 linear, 2 quantized; +4 with LoRA), weight, scales, biases, bias,
//!          groupSize, bits, mode (0 affine, 1 mxfp4, 2 nvfp4, 3 mxfp8), loraA, loraB, loraScale
//! cache    kind (0 none, 1 KVCache, 2 BatchKVCache), keys, values, prev, rowOffset, reserved
//! ```
//! Absent handles are -1; an absent fused projection has kind 0. A fused projection holds q, k
//! and v (or gate and up) stacked along the output axis, whose weights the separate
//! projections are views of (`fused-projections.ts`): the layer then runs one matmul for them.
use mlxn_core::ffi::{self, MlxArray};

pub const VERSION: f64 = 4.0;
pub const PROJ_LEN: usize = 11;
pub const HEADER_LEN: usize = 13;
pub const NORM_LEN: usize = 2;
pub const CACHE_LEN: usize = 6;
pub const LAYER_LEN: usize = 4 * NORM_LEN + 9 * PROJ_LEN + CACHE_LEN;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescError(pub String);

impl std::fmt::Display for DescError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, DescError> {
    Err(DescError(msg.into()))
}

/// Turns a handle number into the array it names (the JS handle table, or a test's list).
pub trait Resolve<'a> {
    fn resolve(&self, handle: f64) -> Result<&'a MlxArray, DescError>;
}

pub fn dtype_code_int32() -> u8 {
    mlxn_core::Dtype::Int32.code()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProjKind {
    Linear,
    Quantized,
}

pub struct Lora<'a> {
    pub a: &'a MlxArray,
    pub b: &'a MlxArray,
    pub scale: f64,
}

pub struct ProjDesc<'a> {
    pub kind: ProjKind,
    weight: &'a MlxArray,
    scales: Option<&'a MlxArray>,
    biases: Option<&'a MlxArray>,
    bias: Option<&'a MlxArray>,
    pub group_size: i32,
    pub bits: i32,
    pub mode: &'static str,
    pub lora: Option<Lora<'a>>,
}

impl<'a> ProjDesc<'a> {
    pub fn weight(&self) -> &'a MlxArray {
        self.weight
    }
    pub fn scales(&self) -> Result<&'a MlxArray, DescError> {
        self.scales.ok_or_else(|| DescError("a quantized projection has no scales".into()))
    }
    pub fn biases(&self) -> Option<&'a MlxArray> {
        self.biases
    }
    /// A quantized projection's weight as the bridge's quantized ops take it (its biases null
    /// when the mode has none).
    pub fn quantized_matrix(&self) -> Result<ffi::QuantizedMatrix<'a>, DescError> {
        let biases = self.biases.map_or(std::ptr::null(), |b| b as *const MlxArray);
        Ok(ffi::QuantizedMatrix {
            w: self.weight,
            scales: self.scales()?,
            biases,
            group_size: self.group_size,
            bits: self.bits,
            mode: self.mode,
        })
    }
    pub fn bias(&self) -> Option<&'a MlxArray> {
        self.bias
    }

    /// The arrays this projection reads, in a fixed order (see `rebind`); `weight` replaces the
    /// weight (a compiled block takes a `Linear` weight already transposed).
    pub fn arrays<'x>(&self, weight: Option<&'x MlxArray>, out: &mut Vec<&'x MlxArray>)
    where
        'a: 'x,
    {
        out.push(weight.unwrap_or(self.weight));
        out.extend(self.scales);
        out.extend(self.biases);
        out.extend(self.bias);
        if let Some(l) = &self.lora {
            out.push(l.a);
            out.push(l.b);
        }
    }

    /// The same projection on other arrays, taken in the order `arrays` gave.
    pub fn rebind<'b>(&self, it: &mut (impl Iterator<Item = &'b MlxArray> + ?Sized)) -> ProjDesc<'b> {
        let mut next = || it.next().expect("as many arrays as `arrays` gave");
        let weight = next();
        let scales = self.scales.map(|_| next());
        let biases = self.biases.map(|_| next());
        let bias = self.bias.map(|_| next());
        let lora = self.lora.as_ref().map(|l| Lora { a: next(), b: next(), scale: l.scale });
        ProjDesc { kind: self.kind, weight, scales, biases, bias, group_size: self.group_size, bits: self.bits, mode: self.mode, lora }
    }

    /// What a compiled block bakes in besides its inputs' shapes and dtypes.
    pub fn signature(&self) -> String {
        format!(
            "p{:?}{}{}{}{}/{}/{}/{}/{:?}",
            self.kind,
            self.scales.is_some() as u8,
            self.biases.is_some() as u8,
            self.bias.is_some() as u8,
            self.lora.is_some() as u8,
            self.group_size,
            self.bits,
            self.mode,
            self.lora.as_ref().map(|l| l.scale)
        )
    }
}

pub struct NormDesc<'a> {
    pub weight: &'a MlxArray,
    pub eps: f64,
}

impl<'a> NormDesc<'a> {
    /// The same norm on other arrays (`compiled` blocks rebind to their traced inputs).
    pub fn rebind<'b>(&self, arrays: &mut (impl Iterator<Item = &'b MlxArray> + ?Sized)) -> NormDesc<'b> {
        NormDesc { weight: arrays.next().expect("a norm weight"), eps: self.eps }
    }
    pub fn signature(&self) -> String {
        format!("n{}", self.eps)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CacheKind {
    Plain,
    Batch,
}

pub struct CacheDesc<'a> {
    pub kind: CacheKind,
    pub keys: Option<&'a MlxArray>,
    pub values: Option<&'a MlxArray>,
    /// Positions already written (KVCache's `offset`, BatchKVCache's `idx`).
    pub prev: i32,
    row_offset: Option<&'a MlxArray>,
    /// Where the cache is known to end (0: unknown); see `mlxn_cache::grown_capacity`.
    pub reserved: i32,
}

impl<'a> CacheDesc<'a> {
    pub fn row_offset(&self) -> Result<&'a MlxArray, DescError> {
        self.row_offset.ok_or_else(|| DescError("a BatchKVCache entry has no per-row offset".into()))
    }
}

pub struct LayerDesc<'a> {
    pub input_norm: NormDesc<'a>,
    pub post_norm: NormDesc<'a>,
    pub q_norm: NormDesc<'a>,
    pub k_norm: NormDesc<'a>,
    pub q: ProjDesc<'a>,
    pub k: ProjDesc<'a>,
    pub v: ProjDesc<'a>,
    pub o: ProjDesc<'a>,
    pub gate: ProjDesc<'a>,
    pub up: ProjDesc<'a>,
    pub down: ProjDesc<'a>,
    /// q, k and v as one projection (output `[q | k | v]`), when the model fused them.
    pub qkv: Option<ProjDesc<'a>>,
    /// gate and up as one projection (output `[gate | up]`), when the model fused them.
    pub gate_up: Option<ProjDesc<'a>>,
    pub cache: Option<CacheDesc<'a>>,
}

pub struct RopeDesc {
    pub dims: i32,
    pub traditional: bool,
    pub base: f64,
    pub scale: f64,
}

pub enum MaskDesc<'a> {
    None,
    Causal,
    Array(&'a MlxArray),
}

pub struct Desc<'a> {
    pub n_heads: i32,
    pub n_kv_heads: i32,
    pub head_dim: i32,
    pub attn_scale: f64,
    pub rope: RopeDesc,
    pub mask: MaskDesc<'a>,
    /// Only the caches of this forward are used (a prompt's prefill): a long input is evaluated
    /// layer by layer as it is built (`forward::Pacer`).
    pub paced: bool,
    pub embed: ProjDesc<'a>,
    pub layers: Vec<LayerDesc<'a>>,
    pub norm: NormDesc<'a>,
}

struct Reader<'a, 'r, R: Resolve<'a>> {
    data: &'r [f64],
    at: usize,
    resolver: &'r R,
    _l: std::marker::PhantomData<&'a ()>,
}

impl<'a, 'r, R: Resolve<'a>> Reader<'a, 'r, R> {
    fn num(&mut self, what: &str) -> Result<f64, DescError> {
        let Some(&v) = self.data.get(self.at) else { return err(format!("the description ends before {what}")) };
        self.at += 1;
        if !v.is_finite() {
            return err(format!("{what} is not a finite number"));
        }
        Ok(v)
    }
    fn int(&mut self, what: &str, lo: i64, hi: i64) -> Result<i32, DescError> {
        let v = self.num(what)?;
        if v.fract() != 0.0 || v < lo as f64 || v > hi as f64 {
            return err(format!("{what} must be an integer in [{lo}, {hi}], got {v}"));
        }
        Ok(v as i32)
    }
    fn opt_array(&mut self, what: &str) -> Result<Option<&'a MlxArray>, DescError> {
        let h = self.num(what)?;
        if h == -1.0 { Ok(None) } else { self.resolver.resolve(h).map(Some) }
    }
    fn array(&mut self, what: &str) -> Result<&'a MlxArray, DescError> {
        self.opt_array(what)?.ok_or_else(|| DescError(format!("{what} is missing")))
    }
    fn norm(&mut self) -> Result<NormDesc<'a>, DescError> {
        let w = self.array("a norm weight")?;
        Ok(NormDesc { weight: w, eps: self.num("a norm eps")? })
    }
    fn proj(&mut self, what: &str) -> Result<ProjDesc<'a>, DescError> {
        let code = self.int(what, 1, 6)?;
        let kind = match code & 3 {
            1 => ProjKind::Linear,
            2 => ProjKind::Quantized,
            _ => return err(format!("{what}: unknown projection kind {code}")),
        };
        let weight = self.array("a weight")?;
        let scales = self.opt_array("scales")?;
        let biases = self.opt_array("biases")?;
        let bias = self.opt_array("a bias")?;
        let group_size = self.int("a group size", 0, 1 << 20)?;
        let bits = self.int("bits", 0, 16)?;
        let mode = match self.int("a quantization mode", 0, 3)? {
            0 => "affine",
            1 => "mxfp4",
            2 => "nvfp4",
            _ => "mxfp8",
        };
        let lora_a = self.opt_array("loraA")?;
        let lora_b = self.opt_array("loraB")?;
        let lora_scale = self.num("a LoRA scale")?;
        let lora = if code & 4 != 0 {
            match (lora_a, lora_b) {
                (Some(a), Some(b)) => Some(Lora { a, b, scale: lora_scale }),
                _ => return err(format!("{what}: a LoRA projection needs loraA and loraB")),
            }
        } else {
            None
        };
        if kind == ProjKind::Quantized && scales.is_none() {
            return err(format!("{what}: a quantized projection needs scales"));
        }
        Ok(ProjDesc { kind, weight, scales, biases, bias, group_size, bits, mode, lora })
    }
    /// A projection that may be absent (kind 0: its other fields are skipped).
    fn opt_proj(&mut self, what: &str) -> Result<Option<ProjDesc<'a>>, DescError> {
        if self.data.get(self.at) == Some(&0.0) {
            self.at += PROJ_LEN;
            return Ok(None);
        }
        let p = self.proj(what)?;
        if p.lora.is_some() {
            return err(format!("{what} cannot carry LoRA (LoRA layers keep their projections apart)"));
        }
        Ok(Some(p))
    }
    fn cache(&mut self) -> Result<Option<CacheDesc<'a>>, DescError> {
        let kind = match self.int("a cache kind", 0, 2)? {
            0 => None,
            1 => Some(CacheKind::Plain),
            _ => Some(CacheKind::Batch),
        };
        let keys = self.opt_array("cached keys")?;
        let values = self.opt_array("cached values")?;
        let prev = self.int("a cache position", 0, i32::MAX as i64 / 2)?;
        let row_offset = self.opt_array("a per-row offset")?;
        let reserved = self.int("a cache reservation", 0, i32::MAX as i64 / 2)?;
        let Some(kind) = kind else { return Ok(None) };
        if keys.is_some() != values.is_some() {
            return err("a cache has keys without values or values without keys");
        }
        if kind == CacheKind::Batch && row_offset.is_none() {
            return err("a BatchKVCache entry needs its per-row offsets");
        }
        Ok(Some(CacheDesc { kind, keys, values, prev, row_offset, reserved }))
    }
}

/// Reads and checks a description.
pub fn parse<'a, R: Resolve<'a>>(data: &[f64], resolver: &R) -> Result<Desc<'a>, DescError> {
    let mut r = Reader { data, at: 0, resolver, _l: std::marker::PhantomData };
    if r.num("the version")? != VERSION {
        return err("the description was written for another version of the binary");
    }
    let layers = r.int("the layer count", 0, 1 << 16)? as usize;
    let expected = HEADER_LEN + PROJ_LEN + layers * LAYER_LEN + NORM_LEN;
    if data.len() != expected {
        return err(format!("the description has {} numbers; {layers} layers need {expected}", data.len()));
    }
    let n_heads = r.int("the head count", 1, 1 << 16)?;
    let n_kv_heads = r.int("the key/value head count", 1, 1 << 16)?;
    let head_dim = r.int("the head size", 1, 1 << 16)?;
    let attn_scale = r.num("the attention scale")?;
    let rope = RopeDesc {
        dims: r.int("the rope dims", 1, 1 << 16)?,
        traditional: r.int("the rope layout", 0, 1)? == 1,
        base: r.num("the rope base")?,
        scale: r.num("the rope scale")?,
    };
    let mask_kind = r.int("the mask kind", 0, 2)?;
    let mask_handle = r.opt_array("the mask")?;
    let mask = match (mask_kind, mask_handle) {
        (0, _) => MaskDesc::None,
        (1, _) => MaskDesc::Causal,
        (_, Some(a)) => MaskDesc::Array(a),
        (_, None) => return err("an array mask needs its array"),
    };
    let paced = r.int("the pacing flag", 0, 1)? == 1;
    let embed = r.proj("the embedding")?;
    let mut out = Vec::with_capacity(layers);
    for _ in 0..layers {
        out.push(LayerDesc {
            input_norm: r.norm()?,
            post_norm: r.norm()?,
            q_norm: r.norm()?,
            k_norm: r.norm()?,
            q: r.proj("q_proj")?,
            k: r.proj("k_proj")?,
            v: r.proj("v_proj")?,
            o: r.proj("o_proj")?,
            gate: r.proj("gate_proj")?,
            up: r.proj("up_proj")?,
            down: r.proj("down_proj")?,
            qkv: r.opt_proj("the fused q/k/v projection")?,
            gate_up: r.opt_proj("the fused gate/up projection")?,
            cache: r.cache()?,
        });
    }
    let norm = r.norm()?;
    Ok(Desc { n_heads, n_kv_heads, head_dim, attn_scale, rope, mask, paced, embed, layers: out, norm })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoArrays;
    impl<'a> Resolve<'a> for NoArrays {
        fn resolve(&self, h: f64) -> Result<&'a MlxArray, DescError> {
            err(format!("no array {h}"))
        }
    }

    #[test]
    fn rejects_other_versions_and_lengths() {
        let e = parse(&[1.0, 0.0], &NoArrays).err().unwrap();
        assert!(e.0.contains("another version"), "{e}");
        let e = parse(&[VERSION, 3.0, 0.0], &NoArrays).err().unwrap();
        assert!(e.0.contains("3 layers need"), "{e}");
    }

    #[test]
    fn rejects_non_integers_and_unknown_handles() {
        let mut d = vec![VERSION, 0.0, 2.5];
        d.resize(HEADER_LEN + PROJ_LEN + NORM_LEN, 0.0);
        let e = parse(&d, &NoArrays).err().unwrap();
        assert!(e.0.contains("head count"), "{e}");
        let mut d = vec![VERSION, 0.0, 2.0, 1.0, 8.0, 0.3, 8.0, 0.0, 1e4, 1.0, 0.0, -1.0, 0.0, 1.0, 42.0];
        d.resize(HEADER_LEN + PROJ_LEN + NORM_LEN, 0.0);
        let e = parse(&d, &NoArrays).err().unwrap();
        assert!(e.0.contains("no array 42"), "{e}");
    }
}
