/**
 * Op tables. Each list is in the order of the matching shared enum in
 * `crates/mlxn-sys/src/lib.rs`; the position is the code sent to the native binary.
 * (test/op-tables.test.ts checks the two stay in step.)
 */
export const UNARY = [
  'Abs',
  'Negative',
  'Sign',
  'Sqrt',
  'Rsqrt',
  'Square',
  'Reciprocal',
  'Exp',
  'Expm1',
  'Log',
  'Log2',
  'Log10',
  'Log1p',
  'Sin',
  'Cos',
  'Tan',
  'Arcsin',
  'Arccos',
  'Arctan',
  'Sinh',
  'Cosh',
  'Tanh',
  'Arcsinh',
  'Arccosh',
  'Arctanh',
  'Erf',
  'Erfinv',
  'Sigmoid',
  'Floor',
  'Ceil',
  'LogicalNot',
  'BitwiseInvert',
  'StopGradient',
  'Isnan',
  'Isinf',
  'Isfinite',
  'Isposinf',
  'Isneginf',
  'Real',
  'Imag',
  'Conjugate',
  'Degrees',
  'Radians',
  'Copy',
] as const;

export const BINARY = [
  'Add',
  'Subtract',
  'Multiply',
  'Divide',
  'FloorDivide',
  'Remainder',
  'Power',
  'Maximum',
  'Minimum',
  'Equal',
  'NotEqual',
  'Less',
  'LessEqual',
  'Greater',
  'GreaterEqual',
  'LogicalAnd',
  'LogicalOr',
  'BitwiseAnd',
  'BitwiseOr',
  'BitwiseXor',
  'LeftShift',
  'RightShift',
  'Arctan2',
  'Logaddexp',
  'Matmul',
  'Inner',
  'Outer',
  'Kron',
] as const;

export const REDUCE = ['Sum', 'Mean', 'Prod', 'Max', 'Min', 'All', 'Any', 'Logsumexp', 'Var', 'Std', 'Median'] as const;
export const SCAN = ['Cumsum', 'Cumprod', 'Cummax', 'Cummin', 'Logcumsumexp'] as const;
export const SORT = ['Sort', 'Argsort', 'Partition', 'Argpartition', 'Topk', 'Argmax', 'Argmin'] as const;
export const SCATTER = ['Set', 'Add', 'Prod', 'Max', 'Min'] as const;
export const LINALG = ['Inv', 'Pinv', 'Cholesky', 'CholeskyUpper', 'Det', 'TriInvLower', 'TriInvUpper'] as const;
export const FFT = ['Fftn', 'Ifftn', 'Rfftn', 'Irfftn'] as const;

export function code<T extends readonly string[]>(table: T, name: T[number]): number {
  return table.indexOf(name);
}
