use super::*;

/// A GGUF file built field by field, so a test can put any value in any field.
#[derive(Default)]
struct Gguf {
    bytes: Vec<u8>,
}

impl Gguf {
    fn header(version: u32, tensors: u64, kvs: u64) -> Gguf {
        let mut g = Gguf::default();
        g.bytes.extend_from_slice(b"GGUF");
        g.u32(version).u64(tensors).u64(kvs);
        g
    }
    fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes.push(v);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64);
        self.bytes.extend_from_slice(s.as_bytes());
        self
    }
    /// A tensor info: name, dims, type, offset.
    fn tensor(&mut self, name: &str, dims: &[u64], ty: u32, offset: u64) -> &mut Self {
        self.str(name).u32(dims.len() as u32);
        for &d in dims {
            self.u64(d);
        }
        self.u32(ty).u64(offset)
    }
    /// Pads to `align` and appends `n` bytes of data.
    fn data(&mut self, align: usize, n: usize) -> &mut Self {
        while !self.bytes.len().is_multiple_of(align) {
            self.bytes.push(0);
        }
        self.bytes.extend(std::iter::repeat_n(0u8, n));
        self
    }
    fn check(&self) -> std::result::Result<GgufHeader, String> {
        parse(&self.bytes[..], self.bytes.len() as u64)
    }
}

/// One key/value (`general.name` = "tiny") and two f32 tensors, as MLX writes them.
fn valid() -> Gguf {
    let mut g = Gguf::header(3, 2, 1);
    g.str("general.name").u32(8).str("tiny");
    g.tensor("a", &[3, 2], 0, 0).tensor("b", &[8], 0, 32).data(32, 64);
    g
}

fn err(g: &Gguf) -> String {
    g.check().expect_err("should be refused")
}

#[test]
fn accepts_a_valid_file_and_mlx_s_own_fixture() {
    let h = valid().check().unwrap();
    assert_eq!(h.keys, ["general.name"]);
    assert_eq!(h.tensors.len(), 2);
    assert_eq!(h.tensors[0], GgufTensor { name: "a".into(), dims: vec![3, 2], type_name: "f32", offset: 0, bytes: 24 });
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packages/io/test/fixtures/tiny.gguf");
    let h = read_header(&fixture).unwrap();
    assert_eq!(h.tensors.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["h", "w"]);
    assert_eq!(h.keys, ["general.name"]);
}

#[test]
fn every_truncation_is_an_error() {
    let g = valid();
    for n in 0..g.bytes.len() - 1 {
        assert!(parse(&g.bytes[..n], n as u64).is_err(), "truncated to {n} bytes");
    }
}

#[test]
fn magic_and_version() {
    let mut g = valid();
    g.bytes[0] = b'X';
    assert!(err(&g).starts_with("not a GGUF file"));
    for v in [0, 1, 4, u32::MAX, 0x0300_0000] {
        let mut g = valid();
        g.bytes[4..8].copy_from_slice(&v.to_le_bytes());
        assert_eq!(err(&g), format!("GGUF version {v} is not supported (MLX reads versions 2 and 3, little-endian)"));
    }
}

#[test]
fn counts_that_cannot_fit() {
    let mut g = valid();
    g.bytes[8..16].copy_from_slice(&3u64.to_le_bytes());
    assert!(g.check().is_err());
    let mut g = valid();
    g.bytes[8..16].copy_from_slice(&(MAX_TENSORS + 1).to_le_bytes());
    assert_eq!(err(&g), format!("tensor count {} exceeds the limit of {MAX_TENSORS}", MAX_TENSORS + 1));
    let mut g = valid();
    g.bytes[16..24].copy_from_slice(&(MAX_KEY_VALUES + 1).to_le_bytes());
    assert_eq!(err(&g), format!("key/value count {} exceeds the limit of {MAX_KEY_VALUES}", MAX_KEY_VALUES + 1));
    // Within the limits, but more than the file can hold.
    let mut g = valid();
    g.bytes[8..16].copy_from_slice(&MAX_TENSORS.to_le_bytes());
    assert!(err(&g).contains("cannot fit in the"), "{}", err(&g));
    for n in [1 << 31, 1 << 32, 1 << 62, 1 << 63, u64::MAX] {
        let mut g = valid();
        g.bytes[8..16].copy_from_slice(&n.to_le_bytes());
        assert!(err(&g).contains(&format!("tensor count {n}")), "{n}: {}", err(&g));
        let mut g = valid();
        g.bytes[16..24].copy_from_slice(&n.to_le_bytes());
        let e = err(&g);
        assert!(e.contains("key/value count") || e.contains("past the end") || e.contains("metadata"), "{n}: {e}");
    }
}

#[test]
fn key_and_string_lengths() {
    for n in [MAX_NAME_BYTES + 1, 1 << 31, 1 << 62, 1 << 63, u64::MAX] {
        let mut g = Gguf::header(3, 0, 1);
        g.u64(n).data(1, 16);
        assert_eq!(err(&g), format!("metadata key #0: length {n} exceeds the limit of {MAX_NAME_BYTES} bytes"));
        let mut g = Gguf::header(3, 0, 1);
        g.str("general.name").u32(8).u64(n).data(1, 16);
        assert_eq!(err(&g), format!("metadata 'general.name': length {n} goes past the end of the file (16 bytes left)"));
    }
    let mut g = Gguf::header(3, 0, 1);
    g.str("k").u32(8).u64(3).u8(0xff).u8(0xfe).u8(b'a');
    assert_eq!(err(&g), "metadata 'k': not valid UTF-8");
}

#[test]
fn value_types() {
    for t in [13, 99, u32::MAX] {
        let mut g = Gguf::header(3, 0, 1);
        g.str("k").u32(t).data(1, 16);
        assert_eq!(err(&g), format!("metadata 'k': unknown value type {t}"));
    }
    let mut g = Gguf::header(3, 0, 1);
    g.str("k").u32(7).u8(2);
    assert_eq!(err(&g), "metadata 'k': bool value 2 is neither 0 nor 1");
    // Every fixed-size type, one value each.
    for (t, size) in [(0, 1), (1, 1), (2, 2), (3, 2), (4, 4), (5, 4), (6, 4), (7, 1), (10, 8), (11, 8), (12, 8)] {
        let mut g = Gguf::header(3, 0, 1);
        g.str("k").u32(t).data(1, size);
        assert!(g.check().is_ok(), "type {t}");
        g.bytes.pop();
        assert!(g.check().is_err(), "type {t} truncated");
    }
}

#[test]
fn arrays() {
    let mut g = Gguf::header(3, 0, 1);
    g.str("k").u32(9).u32(9).u64(1).u32(0).u64(1).u8(0);
    assert_eq!(err(&g), "metadata 'k': nested arrays are not supported (MLX's reader reads one level)");
    let mut g = Gguf::header(3, 0, 1);
    g.str("k").u32(9).u32(13).u64(0);
    assert_eq!(err(&g), "metadata 'k': unknown array element type 13");
    for n in [MAX_ARRAY_LEN + 1, 1 << 62, u64::MAX] {
        let mut g = Gguf::header(3, 0, 1);
        g.str("k").u32(9).u32(0).u64(n).data(1, 8);
        assert_eq!(err(&g), format!("metadata 'k': array length {n} exceeds the limit of {MAX_ARRAY_LEN}"));
    }
    for (t, n) in [(0u32, 9u64), (10, 2), (8, 2), (10, 1 << 30)] {
        let mut g = Gguf::header(3, 0, 1);
        g.str("k").u32(9).u32(t).u64(n).data(1, 8);
        assert!(err(&g).contains("past the end of the file"), "{t} × {n}: {}", err(&g));
    }
    let mut g = Gguf::header(3, 0, 1);
    g.str("k").u32(9).u32(7).u64(3).u8(1).u8(0).u8(5);
    assert_eq!(err(&g), "metadata 'k': bool element 2 is 5 (neither 0 nor 1)");
    let mut g = Gguf::header(3, 0, 1);
    g.str("tokens").u32(9).u32(8).u64(3).str("a").str("").str("ü");
    assert!(g.check().is_ok());
}

#[test]
fn alignment() {
    for (a, ok) in [
        (0u32, false),
        (1, true),
        (3, false),
        (48, false),
        (64, true),
        (1 << 20, true),
        (1 << 21, false),
        (1 << 31, false),
        (u32::MAX, false),
    ] {
        let mut g = Gguf::header(3, 1, 1);
        g.str("general.alignment").u32(4).u32(a).tensor("a", &[2], 0, 0).data(if ok { a as usize } else { 64 }, 8);
        assert_eq!(g.check().is_ok(), ok, "alignment {a}: {:?}", g.check());
        if !ok {
            assert_eq!(err(&g), format!("metadata 'general.alignment' = {a} must be a power of two between 1 and {MAX_ALIGNMENT}"));
        }
    }
    let mut g = Gguf::header(3, 0, 1);
    g.str("general.alignment").u32(10).u64(32);
    assert_eq!(err(&g), "metadata 'general.alignment' must be a uint32, got uint64");
}

#[test]
fn n_dims_and_dims() {
    for n in [0u32, 5, 8, 9, 1 << 31, u32::MAX] {
        let mut g = Gguf::header(3, 1, 0);
        g.str("t").u32(n).data(1, 64);
        assert_eq!(err(&g), format!("tensor 't' (n_dims): {n} dimensions, must be 1 to 4"));
    }
    for d in [0u64, MAX_DIM + 1, 1 << 32, 1 << 62, 1 << 63, u64::MAX] {
        let mut g = Gguf::header(3, 1, 0);
        g.tensor("t", &[2, d], 0, 0).data(32, 64);
        assert_eq!(err(&g), format!("tensor 't' (dim 1): {d} must be 1 to {MAX_DIM}"));
    }
    // Dims that are each valid but whose data cannot be in the file.
    let mut g = Gguf::header(3, 1, 0);
    g.tensor("t", &[MAX_DIM, MAX_DIM, MAX_DIM, MAX_DIM], 0, 0).data(32, 64);
    let e = err(&g);
    assert!(e.contains("overflow") || e.contains("past the end"), "{e}");
}

#[test]
fn tensor_types() {
    for t in [4u32, 5, 31, 1000, u32::MAX] {
        let mut g = Gguf::header(3, 1, 0);
        g.tensor("blk.0.w", &[32], t, 0).data(32, 256);
        assert_eq!(err(&g), format!("tensor 'blk.0.w' (type): unknown tensor type {t}"));
    }
    let mut g = Gguf::header(3, 1, 0);
    g.tensor("blk.0.w", &[32], 6, 0).data(32, 256);
    assert!(
        err(&g).starts_with("tensor 'blk.0.w' (type): q5_0 (6) is not supported by MLX's GGUF reader (it reads f32, f16, q4_0"),
        "{}",
        err(&g)
    );
    // q4_0: blocks of 32 weights in 18 bytes.
    let mut g = Gguf::header(3, 1, 0);
    g.tensor("w", &[64, 2], 2, 0).data(32, 72);
    assert_eq!(g.check().unwrap().tensors[0].bytes, 72);
    let mut g = Gguf::header(3, 1, 0);
    g.tensor("w", &[48, 2], 2, 0).data(32, 72);
    assert_eq!(err(&g), "tensor 'w' (dims): the first dimension 48 is not a multiple of q4_0's block of 32 weights");
    // MLX unpacks q8_0 into at most 2^31 - 1 uint32 words.
    let mut g = Gguf::header(3, 1, 0);
    g.tensor("w", &[1 << 30, 1 << 3], 8, 0).data(32, 8);
    assert!(err(&g).contains("exceed what MLX's reader can unpack"), "{}", err(&g));
}

#[test]
fn offsets() {
    let mut g = Gguf::header(3, 1, 0);
    g.tensor("t", &[2], 0, 4).data(32, 64);
    assert_eq!(err(&g), "tensor 't' (offset): 4 is not a multiple of the alignment 32");
    for off in [64u64, 1 << 31, 1 << 62, u64::MAX - 31] {
        let mut g = Gguf::header(3, 1, 0);
        g.tensor("t", &[2], 0, off).data(32, 64);
        assert!(err(&g).starts_with("tensor 't' (offset): bytes ["), "{off}: {}", err(&g));
    }
    let mut g = Gguf::header(3, 2, 0);
    g.tensor("a", &[16], 0, 0).tensor("b", &[8], 0, 32).data(32, 96);
    assert_eq!(err(&g), "tensors 'a' [0, 64) and 'b' [32, 64) overlap");
    // A tensor whose header ends before the aligned data section.
    let mut g = Gguf::header(3, 1, 0);
    g.tensor("t", &[2], 0, 0);
    assert!(err(&g).contains("past the end of the file"), "{}", err(&g));
}

#[test]
fn duplicates() {
    let mut g = Gguf::header(3, 0, 2);
    g.str("k").u32(0).u8(1).str("k").u32(0).u8(2);
    assert_eq!(err(&g), "metadata key 'k' appears twice");
    let mut g = Gguf::header(3, 2, 0);
    g.tensor("a", &[2], 0, 0).tensor("a", &[2], 0, 32).data(32, 64);
    assert_eq!(err(&g), "tensor name 'a' appears twice");
}

#[test]
fn regular_files_only() {
    let e = read_header(Path::new("/dev/zero")).unwrap_err();
    assert_eq!(e.0, "/dev/zero: is a character device, not a regular file");
}
