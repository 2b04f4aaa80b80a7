//! Header validation, atomic writes, sharding helpers, and load/save round trips through MLX.
use std::collections::BTreeMap;
use std::path::PathBuf;

use mlxn_core::{Array, Dtype};
use mlxn_io::checkpoint::{load_file, save_file};
use mlxn_io::safetensors::{parse_header, read_header};
use mlxn_io::shards::{check_shard_name, plan_shards, read_index};

fn tmp(name: &str) -> PathBuf {
    // One folder per file name: tests run in parallel and one checks its folder's contents.
    let dir = std::env::temp_dir().join(format!("mlxn-io-test-{}-{}", std::process::id(), name.replace('.', "_")));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn file_with_header(json: &str, data: usize) -> Vec<u8> {
    let mut b = (json.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(json.as_bytes());
    b.extend(std::iter::repeat_n(0u8, data));
    b
}

fn check(json: &str, data: usize) -> Result<(), String> {
    parse_header(json.as_bytes(), 8 + json.len() as u64 + data as u64).map(|_| ())
}

#[test]
fn accepts_valid_headers_and_mlx_null_metadata() {
    check(r#"{"__metadata__":null,"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 8).unwrap();
    check(r#"{"__metadata__":{"a":"b"},"x":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"e":{"dtype":"F32","shape":[0],"data_offsets":[12,12]}}"#, 12).unwrap();
}

#[test]
fn refuses_bad_headers_with_clear_errors() {
    let cases = [
        (r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 4, "past the end"),
        (r#"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, "needs 12 bytes"),
        (r#"{"x":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}}"#, 8, "unknown dtype"),
        (r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, 8, "reversed"),
        (r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, 12, "overlap"),
        (r#"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}"#, 8, "shape entries"),
        (r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, 8, "data_offsets must be"),
        (r#"{"__metadata__":{"a":1}}"#, 0, "not a string"),
        (r#"[1,2]"#, 0, "not a JSON object"),
        (r#"{"x":"#, 0, "not valid JSON"),
        (r#"{"x":{"dtype":"U8","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}"#, 8, "shape entries"),
        (r#"{"x":{"dtype":"U8","shape":[2147483647,2147483647,2147483647,2147483647],"data_offsets":[0,8]}}"#, 8, "overflows"),
        (r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}}"#, 8, "unexpected key"),
    ];
    for (json, data, want) in cases {
        let e = check(json, data).unwrap_err();
        assert!(e.contains(want), "{json}: got '{e}', wanted '{want}'");
    }
}

#[test]
fn refuses_repeated_keys_at_any_level() {
    let t = r#"{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#;
    let e = check(&format!(r#"{{"x":{t},"x":{t}}}"#), 8).unwrap_err();
    assert!(e.contains("key 'x' appears twice"), "{e}");
    let e = check(r#"{"x":{"dtype":"F32","dtype":"I32","shape":[2],"data_offsets":[0,8]}}"#, 8).unwrap_err();
    assert!(e.contains("key 'dtype' appears twice"), "{e}");
    let e = check(r#"{"__metadata__":{"a":"1","a":"2"}}"#, 0).unwrap_err();
    assert!(e.contains("key 'a' appears twice"), "{e}");
}

#[test]
fn refuses_non_regular_files() {
    let e = read_header(std::path::Path::new("/dev/zero")).unwrap_err();
    assert_eq!(e.0, "/dev/zero: is a character device, not a regular file");
    let e = read_header(&std::env::temp_dir()).unwrap_err();
    assert!(e.0.ends_with("is a folder, not a regular file"), "{e}");
}

#[test]
fn refuses_truncated_files_naming_the_file() {
    let p = tmp("short.safetensors");
    std::fs::write(&p, [1u8, 2, 3]).unwrap();
    let e = read_header(&p).unwrap_err().0;
    assert!(e.contains("short.safetensors") && e.contains("truncated"), "{e}");
    let mut b = file_with_header(r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 8);
    b[0] = 0xff;
    b[1] = 0xff;
    std::fs::write(&p, &b).unwrap();
    let e = read_header(&p).unwrap_err().0;
    assert!(e.contains("larger than the file"), "{e}");
    b[7] = 0x7f;
    std::fs::write(&p, &b).unwrap();
    assert!(read_header(&p).unwrap_err().0.contains("exceeds the limit"));
}

#[test]
fn shard_names_stay_in_the_folder() {
    for ok in ["model-00001-of-00002.safetensors", "a..b.safetensors"] {
        check_shard_name(ok).unwrap();
    }
    for bad in ["../x.safetensors", "/etc/passwd", "sub/x.safetensors", "..", ".", "", "a\\b", "C:x"] {
        assert!(check_shard_name(bad).is_err(), "{bad}");
    }
    let idx = tmp("model.safetensors.index.json");
    std::fs::write(&idx, r#"{"metadata":{},"weight_map":{"w":"../evil.safetensors"}}"#).unwrap();
    let e = read_index(&idx).err().unwrap().0;
    assert!(e.contains("not a plain file name"), "{e}");
}

#[test]
fn recognises_checkpoint_file_names() {
    use mlxn_io::shards::is_checkpoint_file;
    for yes in ["model.safetensors", "model.safetensors.index.json", "model-00001-of-00003.safetensors"] {
        assert!(is_checkpoint_file(yes), "{yes}");
    }
    for no in ["config.json", "model-1-of-3.safetensors", "model-0000a-of-00003.safetensors", "adapters.safetensors"] {
        assert!(!is_checkpoint_file(no), "{no}");
    }
}

#[test]
fn plans_shards_in_order() {
    assert_eq!(plan_shards(&[4, 4, 4, 10, 1], 8), vec![vec![0, 1], vec![2], vec![3], vec![4]]);
    assert_eq!(plan_shards(&[1, 2], 100), vec![vec![0, 1]]);
    assert!(plan_shards(&[], 8).is_empty());
}

#[test]
fn round_trips_every_dtype_with_metadata() {
    let p = tmp("all.safetensors");
    let mut names = vec![];
    let mut arrays = vec![];
    for (i, d) in mlxn_core::dtype::ALL.iter().enumerate() {
        let bytes: Vec<u8> = (0..6 * d.size()).map(|j| if *d == Dtype::Bool { (j % 2) as u8 } else { (i * 31 + j * 7) as u8 }).collect();
        names.push(d.name().to_string());
        arrays.push(Array::from_bytes(&bytes, &[2, 3], *d).unwrap());
    }
    let meta: BTreeMap<String, String> = [("format".to_string(), "mlx".to_string()), ("note".to_string(), "héllo 😀".to_string())].into();
    save_file(&p, &names, &arrays, &meta).unwrap();
    let l = load_file(&p, None).unwrap();
    assert_eq!(l.metadata, meta);
    assert_eq!(l.names.len(), 14);
    for (n, a) in l.names.iter().zip(&l.arrays) {
        let i = names.iter().position(|x| x == n).unwrap();
        assert_eq!(a.dtype(), arrays[i].dtype(), "{n}");
        assert_eq!(a.shape(), vec![2, 3]);
        assert_eq!(a.to_bytes().unwrap(), arrays[i].to_bytes().unwrap(), "{n}");
    }
    // Lazy path (no float64 in the file) and filtered load.
    let p2 = tmp("bf16.safetensors");
    let w = Array::from_slice(&[half::bf16::from_f32(1.5), half::bf16::from_f32(-2.0)], &[2]).unwrap();
    save_file(&p2, &["w".into()], &[w], &BTreeMap::new()).unwrap();
    let l = load_file(&p2, Some(&["w".to_string()])).unwrap();
    assert_eq!(l.arrays[0].to_f32_vec().unwrap(), vec![1.5, -2.0]);
    assert!(load_file(&p2, Some(&["nope".to_string()])).err().unwrap().0.contains("no tensor named 'nope'"));
}

#[test]
fn atomic_write_keeps_the_old_file_on_failure() {
    let p = tmp("keep.safetensors");
    let a = Array::from_slice(&[1f32, 2.0], &[2]).unwrap();
    save_file(&p, &["a".into()], std::slice::from_ref(&a), &BTreeMap::new()).unwrap();
    let before = std::fs::read(&p).unwrap();
    // A duplicate name fails before anything is written.
    assert!(save_file(&p, &["a".into(), "a".into()], &[a.clone(), a.clone()], &BTreeMap::new()).is_err());
    // A failure inside the write (the target is a folder) leaves no temporary file behind.
    let dir = p.with_file_name("a-folder.safetensors");
    std::fs::create_dir_all(&dir).unwrap();
    assert!(save_file(&dir, &["a".into()], &[a], &BTreeMap::new()).is_err());
    assert_eq!(std::fs::read(&p).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(p.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
