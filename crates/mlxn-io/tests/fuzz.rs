//! Mutated safetensors files (bit flips, truncations, header edits): every case must end in an
//! error or in a load whose arrays hold exactly the bytes the header points at. A crash or a
//! hang fails the test binary.
use std::collections::BTreeMap;

use mlxn_core::Array;
use mlxn_io::checkpoint::{load_file, save_file};
use mlxn_io::safetensors::read_header;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const EDITS: [(&str, &str); 12] = [
    ("\"F32\"", "\"F16\""),
    ("\"BF16\"", "\"I64\""),
    ("\"I32\"", "\"X32\""),
    ("[0,", "[1,"),
    ("\"shape\":[", "\"shape\":[7,"),
    ("\"data_offsets\":[", "\"data_offsets\":[99999999999,"),
    ("]", "]]"),
    ("{", "{\"z\":{},"),
    (":", "::"),
    ("\"U8\"", "\"BOOL\""),
    (",", ",,"),
    ("\"shape\":[", "\"shape\":[-"),
];

#[test]
fn fuzz_mutated_files_error_or_load_correctly() {
    let dir = std::env::temp_dir().join(format!("mlxn-io-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = dir.join("base.safetensors");
    let a = Array::from_slice(&(0..24).map(|i| i as f32 * 0.5).collect::<Vec<_>>(), &[2, 3, 4]).unwrap();
    let b = Array::from_slice(&[half::bf16::from_f32(1.0); 5], &[5]).unwrap();
    let c = Array::from_slice(&[7i32, -1, 3], &[3]).unwrap();
    let d = Array::from_slice(&[1u8, 2, 3, 4], &[2, 2]).unwrap();
    let meta: BTreeMap<String, String> = [("k".into(), "v".into())].into();
    save_file(&base, &["a".into(), "b".into(), "c".into(), "d".into()], &[a, b, c, d], &meta).unwrap();
    let original = std::fs::read(&base).unwrap();
    let header_len = u64::from_le_bytes(original[..8].try_into().unwrap()) as usize;

    let mut rng = Rng(0x9e3779b97f4a7c15);
    let (mut ok, mut err) = (0, 0);
    let case_path = dir.join("case.safetensors");
    for case in 0..1500 {
        let mut bytes = original.clone();
        match case % 5 {
            0 => {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(bytes.len());
                    bytes[i] ^= 1 << rng.below(8);
                }
            }
            1 => {
                // Flips inside the length prefix and header, where they matter most.
                let i = rng.below(8 + header_len);
                bytes[i] ^= 1 << rng.below(8);
            }
            2 => bytes.truncate(rng.below(bytes.len())),
            3 => {
                let text = String::from_utf8_lossy(&original[8..8 + header_len]).into_owned();
                let (from, to) = EDITS[rng.below(EDITS.len())];
                let edited = text.replacen(from, to, 1);
                let mut out = (edited.len() as u64).to_le_bytes().to_vec();
                out.extend_from_slice(edited.as_bytes());
                out.extend_from_slice(&original[8 + header_len..]);
                bytes = out;
            }
            _ => {
                let i = rng.below(8);
                bytes[i] = rng.next() as u8;
            }
        }
        std::fs::write(&case_path, &bytes).unwrap();
        match load_file(&case_path, None) {
            Err(e) => {
                assert!(e.0.contains("case.safetensors"), "error must name the file: {}", e.0);
                err += 1;
            }
            Ok(loaded) => {
                let header = read_header(&case_path).unwrap();
                for (name, arr) in loaded.names.iter().zip(&loaded.arrays) {
                    let t = header.tensors.iter().find(|t| &t.name == name).unwrap();
                    let s = (header.data_start + t.begin) as usize;
                    let e = (header.data_start + t.end) as usize;
                    let got = arr.to_bytes().unwrap_or_else(|e| panic!("case {case}: '{name}' failed at evaluation: {e}"));
                    if t.dtype == "bool" {
                        // MLX may normalise bool bytes; compare truthiness.
                        let want: Vec<bool> = bytes[s..e].iter().map(|&x| x != 0).collect();
                        assert_eq!(got.iter().map(|&x| x != 0).collect::<Vec<_>>(), want, "case {case}");
                    } else {
                        assert_eq!(got, &bytes[s..e], "case {case}: tensor '{name}' bytes differ");
                    }
                }
                ok += 1;
            }
        }
    }
    eprintln!("fuzz: {ok} loaded correctly, {err} refused");
    assert!(ok > 0 && err > 0);
    assert_eq!(ok + err, 1500);
}
