//! The floating-point formats the CPU kernels read and write (cpu_half_gemm.rs,
//! cpu_attention.rs): widened to float32 for arithmetic, rounded back once.

use half::{bf16, f16};

/// A floating-point element: widened to float32 exactly, narrowed with round-to-nearest-even
/// (NaN stays NaN, overflow becomes infinity), as MLX converts.
pub trait Element: Copy + Send + Sync + 'static {
    fn widen(self) -> f32;
    fn narrow(value: f32) -> Self;
}

impl Element for f32 {
    #[inline]
    fn widen(self) -> f32 {
        self
    }
    #[inline]
    fn narrow(value: f32) -> Self {
        value
    }
}

impl Element for bf16 {
    #[inline]
    fn widen(self) -> f32 {
        // bfloat16 is float32's upper half: a shift the compiler vectorises.
        f32::from_bits((self.to_bits() as u32) << 16)
    }
    #[inline]
    fn narrow(value: f32) -> Self {
        bf16::from_f32(value)
    }
}

impl Element for f16 {
    #[inline]
    fn widen(self) -> f32 {
        self.to_f32()
    }
    #[inline]
    fn narrow(value: f32) -> Self {
        f16::from_f32(value)
    }
}

/// Runs `$body` with `$t` the element type a native bridge's dtype code names (1 bfloat16,
/// 2 float16, otherwise float32), as the shim's primitives pass it.
macro_rules! for_element {
    ($code:expr, $t:ident => $body:expr) => {
        match $code {
            1 => {
                type $t = half::bf16;
                $body
            }
            2 => {
                type $t = half::f16;
                $body
            }
            _ => {
                type $t = f32;
                $body
            }
        }
    };
}
pub(crate) use for_element;
