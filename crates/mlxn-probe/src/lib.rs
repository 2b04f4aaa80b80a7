//! A deliberately tiny sibling crate. It exists to prove the pattern every package crate
//! follows: its exports take arrays created by @mlxn/core's exports, compute with the safe
//! `mlxn_core::Array` API, and return arrays that @mlxn/core's functions accept again — all
//! inside the one addon, so there is one MLX runtime and one array class.
use mlxn_core::{Array, Dtype, Result};

/// `a * factor + 1`, computed through `mlxn_core` rather than the bridge directly.
pub fn scale_and_shift(a: &Array, factor: f64) -> Result<Array> {
    let f = Array::scalar(factor, a.dtype())?;
    let one = Array::scalar(1.0, a.dtype())?;
    a.multiply(&f)?.add(&one)
}

/// Total bytes of all arrays (shows list arguments crossing crates).
pub fn total_bytes(arrays: &[&Array]) -> usize {
    arrays.iter().map(|a| a.nbytes()).sum()
}

pub fn is_float(a: &Array) -> bool {
    matches!(a.dtype(), Dtype::Float16 | Dtype::Bfloat16 | Dtype::Float32 | Dtype::Float64)
}

#[cfg(feature = "napi")]
mod js {
    use mlxn_core::js::{JsArray, Result};
    use napi_derive::napi;

    #[napi(js_name = "probeScaleAndShift")]
    pub fn probe_scale_and_shift(a: JsArray, factor: f64) -> Result<JsArray> {
        Ok(JsArray::new(super::scale_and_shift(&a.get()?, factor)?))
    }

    #[napi(js_name = "probeTotalBytes")]
    pub fn probe_total_bytes(a: JsArray, b: JsArray) -> Result<f64> {
        Ok(super::total_bytes(&[&a.get()?, &b.get()?]) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_through_core() {
        let a = Array::from_slice(&[1.0f32, 2.0], &[2]).unwrap();
        assert_eq!(scale_and_shift(&a, 3.0).unwrap().to_f32_vec().unwrap(), vec![4.0, 7.0]);
        assert!(is_float(&a));
        assert_eq!(total_bytes(&[&a, &a]), 16);
    }
}
