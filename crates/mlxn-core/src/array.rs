//! `Array`: an owned handle to an MLX array, with the operations other crates need in Rust.
//! Every fallible call returns `Result<_, MlxError>` carrying MLX's message.
use std::fmt;

use cxx::UniquePtr;
use half::{bf16, f16};
use mlxn_sys::ffi::{self, ArrayList, BinaryOp, MlxArray, ReduceOp, UnaryOp};
use mlxn_sys::{Trace, TraceCallback};

use crate::dtype::Dtype;
use crate::error::{MlxError, Result};

pub struct Array {
    ptr: UniquePtr<MlxArray>,
}

/// Host element types that map one-to-one onto an MLX dtype.
pub trait Element: Copy {
    const DTYPE: Dtype;
}
macro_rules! element {
    ($($t:ty => $d:ident),*) => { $(impl Element for $t { const DTYPE: Dtype = Dtype::$d; })* };
}
element!(bool => Bool, u8 => Uint8, u16 => Uint16, u32 => Uint32, u64 => Uint64, i8 => Int8,
    i16 => Int16, i32 => Int32, i64 => Int64, f16 => Float16, bf16 => Bfloat16, f32 => Float32,
    f64 => Float64);

fn check(ptr: std::result::Result<UniquePtr<MlxArray>, cxx::Exception>) -> Result<Array> {
    Ok(Array { ptr: ptr? })
}

impl Array {
    /// Wraps a handle returned by the bridge. The pointer must be non-null.
    pub fn from_ptr(ptr: UniquePtr<MlxArray>) -> Array {
        debug_assert!(!ptr.is_null());
        Array { ptr }
    }

    /// The bridged handle, for crates that call `mlxn_sys::ffi` directly.
    pub fn raw(&self) -> &MlxArray {
        &self.ptr
    }

    pub fn from_bytes(bytes: &[u8], shape: &[i32], dtype: Dtype) -> Result<Array> {
        check(ffi::from_bytes(bytes, shape, dtype.code()))
    }

    pub fn from_slice<T: Element>(data: &[T], shape: &[i32]) -> Result<Array> {
        // SAFETY: Element types are plain old data; we view them as bytes for the copy.
        let bytes = unsafe { std::slice::from_raw_parts(data.as_ptr() as *const u8, std::mem::size_of_val(data)) };
        Self::from_bytes(bytes, shape, T::DTYPE)
    }

    pub fn scalar(value: f64, dtype: Dtype) -> Result<Array> {
        check(ffi::scalar(value, dtype.code()))
    }

    pub fn shape(&self) -> Vec<i32> {
        ffi::shape(&self.ptr)
    }
    pub fn dtype(&self) -> Dtype {
        Dtype::from_code(ffi::dtype(&self.ptr)).expect("shim returned a known dtype")
    }
    pub fn size(&self) -> usize {
        ffi::size(&self.ptr)
    }
    pub fn ndim(&self) -> usize {
        ffi::ndim(&self.ptr)
    }
    pub fn nbytes(&self) -> usize {
        ffi::nbytes(&self.ptr)
    }
    /// The bytes this array will own once evaluated: 0 for views of another array's buffer.
    pub fn owned_nbytes(&self) -> usize {
        ffi::owned_nbytes(&self.ptr)
    }
    pub fn id(&self) -> usize {
        ffi::array_id(&self.ptr)
    }

    pub fn eval(&self) -> Result<()> {
        eval(&[self])
    }

    /// Evaluates and returns the row-major bytes of the array.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let dense = Array::from_ptr(ffi::materialize(&self.ptr)?);
        Ok(dense.with_bytes(|b| b.to_vec()))
    }

    /// Runs `f` over the bytes of an evaluated, row-contiguous array without copying.
    pub(crate) fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let n = self.nbytes();
        // SAFETY: `materialize` guarantees the data is available and row-contiguous; the
        // handle keeps the buffer alive for the duration of `f`.
        let p = unsafe { ffi::data_ptr(&self.ptr) };
        if n == 0 || p.is_null() {
            return f(&[]);
        }
        f(unsafe { std::slice::from_raw_parts(p, n) })
    }

    /// Evaluates and materializes (row-contiguous) for zero-copy reads.
    pub fn materialize(&self) -> Result<Array> {
        Ok(Array::from_ptr(ffi::materialize(&self.ptr)?))
    }

    /// Values converted to f32 (floating and integer dtypes; complex is rejected).
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        let dense = self.materialize()?;
        let dtype = dense.dtype();
        dense.with_bytes(|b| -> Result<Vec<f32>> {
            let n = b.len() / dtype.size();
            macro_rules! read {
                ($t:ty, $conv:expr) => {{
                    let mut out = Vec::with_capacity(n);
                    for c in b.chunks_exact(std::mem::size_of::<$t>()) {
                        let v = <$t>::from_le_bytes(c.try_into().unwrap());
                        out.push($conv(v));
                    }
                    Ok(out)
                }};
            }
            match dtype {
                Dtype::Float32 => read!(f32, |v| v),
                Dtype::Float64 => read!(f64, |v: f64| v as f32),
                Dtype::Float16 => read!(u16, |v| f16::from_bits(v).to_f32()),
                Dtype::Bfloat16 => read!(u16, |v| bf16::from_bits(v).to_f32()),
                Dtype::Int32 => read!(i32, |v: i32| v as f32),
                Dtype::Int64 => read!(i64, |v: i64| v as f32),
                Dtype::Uint32 => read!(u32, |v: u32| v as f32),
                Dtype::Bool | Dtype::Uint8 => Ok(b.iter().map(|&v| v as f32).collect()),
                Dtype::Int8 => Ok(b.iter().map(|&v| v as i8 as f32).collect()),
                other => Err(MlxError(format!("to_f32_vec does not support {}", other.name()))),
            }
        })
    }

    pub fn unary(&self, op: UnaryOp) -> Result<Array> {
        check(ffi::unary(op, &self.ptr))
    }
    pub fn binary(&self, op: BinaryOp, other: &Array) -> Result<Array> {
        check(ffi::binary(op, &self.ptr, &other.ptr))
    }
    pub fn add(&self, other: &Array) -> Result<Array> {
        self.binary(BinaryOp::Add, other)
    }
    pub fn multiply(&self, other: &Array) -> Result<Array> {
        self.binary(BinaryOp::Multiply, other)
    }
    pub fn matmul(&self, other: &Array) -> Result<Array> {
        self.binary(BinaryOp::Matmul, other)
    }
    pub fn reduce(&self, op: ReduceOp, axes: Option<&[i32]>, keepdims: bool) -> Result<Array> {
        check(ffi::reduce(op, &self.ptr, axes.unwrap_or(&[]), axes.is_none(), keepdims, 0))
    }
    pub fn sum(&self, axes: Option<&[i32]>, keepdims: bool) -> Result<Array> {
        self.reduce(ReduceOp::Sum, axes, keepdims)
    }
    pub fn reshape(&self, shape: &[i32]) -> Result<Array> {
        check(ffi::reshape(&self.ptr, shape))
    }
    pub fn astype(&self, dtype: Dtype) -> Result<Array> {
        check(ffi::astype(&self.ptr, dtype.code()))
    }
}

impl Clone for Array {
    /// Cheap: another handle to the same graph node.
    fn clone(&self) -> Self {
        Array::from_ptr(ffi::clone_array(&self.ptr))
    }
}

impl fmt::Debug for Array {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match ffi::describe(&self.ptr) {
            Ok(s) => f.write_str(&s),
            Err(e) => write!(f, "<array: {}>", e.what()),
        }
    }
}

/// Packs arrays into the bridge's list type.
pub fn to_list<'a>(arrays: impl IntoIterator<Item = &'a Array>) -> UniquePtr<ArrayList> {
    let mut list = ffi::list_new();
    for a in arrays {
        ffi::list_push(list.pin_mut(), a.raw());
    }
    list
}

/// Unpacks a bridge list into owned arrays.
pub fn from_list(list: &ArrayList) -> Vec<Array> {
    (0..ffi::list_len(list)).map(|i| Array::from_ptr(ffi::list_get(list, i))).collect()
}

pub fn eval(arrays: &[&Array]) -> Result<()> {
    Ok(ffi::eval(&to_list(arrays.iter().copied()))?)
}

/// A Rust closure as the body of an MLX transform.
struct ClosureTrace<F>(F);

impl<F: FnMut(&[Array]) -> Result<Vec<Array>>> Trace for ClosureTrace<F> {
    fn call(&mut self, inputs: &ArrayList) -> std::result::Result<UniquePtr<ArrayList>, String> {
        let args = from_list(inputs);
        let outs = (self.0)(&args).map_err(|e| e.0)?;
        Ok(to_list(outs.iter()))
    }
}

/// Values and gradients of `f` (whose first output is a scalar loss) at `inputs`, with
/// respect to the inputs named by `argnums`.
pub fn value_and_grad<F>(f: F, inputs: &[Array], argnums: &[i32]) -> Result<(Vec<Array>, Vec<Array>)>
where
    F: FnMut(&[Array]) -> Result<Vec<Array>>,
{
    let mut body = ClosureTrace(f);
    // SAFETY: `body` lives on this stack frame for the whole bridged call.
    let mut cb = unsafe { TraceCallback::new(&mut body) };
    let mut grads = ffi::list_new();
    let values = ffi::value_and_grad(&mut cb, &to_list(inputs.iter()), argnums, grads.pin_mut())?;
    Ok((from_list(&values), from_list(&grads)))
}

/// Calls `f` compiled by MLX under the cache entry `id` (traced again only for new input
/// shapes or dtypes): MLX fuses element-wise chains and replays the traced graph in C++ on
/// later calls. Ids are shared with `@mlxn/core`'s `compile`, which counts up from 1; Rust
/// callers take theirs from [`NATIVE_COMPILE_IDS`] upwards.
pub fn compile_call<F>(id: usize, f: F, inputs: &[&MlxArray]) -> Result<Vec<Array>>
where
    F: FnMut(&[Array]) -> Result<Vec<Array>>,
{
    let mut body = ClosureTrace(f);
    // SAFETY: `body` lives on this stack frame for the whole bridged call.
    let mut cb = unsafe { TraceCallback::new(&mut body) };
    let mut list = ffi::list_new();
    for a in inputs {
        ffi::list_push(list.pin_mut(), a);
    }
    let outs = ffi::compile_call(&mut cb, id, false, &list)?;
    Ok(from_list(&outs))
}

/// The first compile-cache id reserved for compiled functions built in Rust.
pub const NATIVE_COMPILE_IDS: usize = 1 << 40;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_values_and_shape() {
        let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
        assert_eq!(a.shape(), vec![2, 2]);
        assert_eq!(a.dtype(), Dtype::Float32);
        assert_eq!(a.to_f32_vec().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn matmul_matches_hand_computation() {
        let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
        let b = Array::from_slice(&[5.0f32, 6.0, 7.0, 8.0], &[2, 2]).unwrap();
        assert_eq!(a.matmul(&b).unwrap().to_f32_vec().unwrap(), vec![19.0, 22.0, 43.0, 50.0]);
    }

    #[test]
    fn shape_errors_come_back_as_err_with_mlx_message() {
        let a = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3]).unwrap();
        let b = Array::from_slice(&[1.0f32, 2.0], &[2]).unwrap();
        let err = a.add(&b).unwrap_err();
        assert!(err.0.contains("broadcast"), "{err}");
        let err = a.reshape(&[2, 2]).unwrap_err();
        assert!(err.0.contains("reshape"), "{err}");
    }

    #[test]
    fn byte_length_is_checked() {
        let err = Array::from_bytes(&[0u8; 3], &[1], Dtype::Float32).unwrap_err();
        assert!(err.0.contains("bytes"), "{err}");
    }

    #[test]
    fn half_precision_reads_convert_to_f32() {
        let data = [f16::from_f32(1.5), f16::from_f32(-2.25)];
        let a = Array::from_slice(&data, &[2]).unwrap();
        assert_eq!(a.to_f32_vec().unwrap(), vec![1.5, -2.25]);
        let b = a.astype(Dtype::Bfloat16).unwrap();
        assert_eq!(b.to_f32_vec().unwrap(), vec![1.5, -2.25]);
    }

    #[test]
    fn transposed_views_read_in_row_major_order() {
        let a = Array::from_slice(&[1i32, 2, 3, 4, 5, 6], &[2, 3]).unwrap();
        let t = Array::from_ptr(ffi::transpose(a.raw(), &[], true).unwrap());
        assert_eq!(t.to_f32_vec().unwrap(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    #[test]
    fn value_and_grad_of_a_rust_closure() {
        // f(x) = sum(x^2) → grad 2x
        let x = Array::from_slice(&[1.0f32, -2.0, 3.0], &[3]).unwrap();
        let (vals, grads) = value_and_grad(|xs| Ok(vec![xs[0].multiply(&xs[0])?.sum(None, false)?]), &[x], &[0]).unwrap();
        assert_eq!(vals[0].to_f32_vec().unwrap(), vec![14.0]);
        assert_eq!(grads[0].to_f32_vec().unwrap(), vec![2.0, -4.0, 6.0]);
    }

    #[test]
    fn an_error_inside_a_traced_closure_propagates() {
        let x = Array::from_slice(&[1.0f32], &[1]).unwrap();
        let err = value_and_grad(|_| Err(MlxError("user failure".into())), &[x], &[0]).unwrap_err();
        assert!(err.0.contains("user failure"), "{err}");
    }

    #[test]
    fn version_is_the_pinned_one() {
        assert_eq!(crate::mlx_version(), mlxn_sys::MLX_VERSION);
    }
}
