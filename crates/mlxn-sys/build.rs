//! Finds the MLX runtime, compiles the C++ shim against its headers and arranges for the
//! shared libraries to be found at link time and at run time.
//!
//! Where MLX comes from, in order:
//! 1. `MLXN_MLX_DIR=<prefix>`: any MLX install with `include/` and `lib/` (a CUDA build, the
//!    Metal build on Apple silicon, a source build).
//! 2. The pinned prebuilt runtime that `tooling/mlx-runtime/fetch.mjs` unpacked into the cache.
//!
//! The libraries are copied into OUT_DIR: cargo puts link-search paths inside OUT_DIR on the
//! loader path for `cargo test`, and dependants (the addon crate) read `DEP_MLX_LIB_DIR` to
//! copy the same set beside the `.node` file.
use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let pin_path = manifest.join("../../tooling/mlx-runtime/pin.json");
    println!("cargo:rerun-if-changed={}", pin_path.display());
    println!("cargo:rerun-if-env-changed=MLXN_MLX_DIR");
    println!("cargo:rerun-if-env-changed=MLXN_CACHE_DIR");
    println!("cargo:rerun-if-env-changed=XDG_CACHE_HOME");
    let pinned = read_pinned_version(&pin_path);

    let (prefix, source) = match env::var_os("MLXN_MLX_DIR") {
        Some(dir) => (PathBuf::from(dir), "MLXN_MLX_DIR"),
        None => (default_prefix(&pinned), "the fetched runtime cache"),
    };
    let include = prefix.join("include");
    let lib = prefix.join("lib");
    let lib_name = if cfg!(target_os = "macos") { "libmlx.dylib" } else { "libmlx.so" };
    if !include.join("mlx/mlx.h").is_file() || !lib.join(lib_name).is_file() {
        panic!(
            "\n\nmlxn-sys: no MLX runtime at {} (from {source}).\n\
             Expected {}/mlx/mlx.h and {}/{lib_name}.\n\
             Run `node tooling/mlx-runtime/fetch.mjs` (or `pnpm setup:mlx`) to fetch the pinned \
             MLX {pinned}, or set MLXN_MLX_DIR=<prefix with include/ and lib/> to use another \
             MLX build. See docs/building.md.\n\n",
            prefix.display(),
            include.display(),
            lib.display()
        );
    }
    let found = read_header_version(&include);
    if source != "MLXN_MLX_DIR" && found != pinned {
        panic!("mlxn-sys: cached MLX is {found}, pinned is {pinned}; re-run the fetch script");
    }
    if !found.starts_with(pinned.rsplitn(2, '.').last().unwrap()) {
        println!("cargo:warning=MLX at {} is {found}; this project pins {pinned}", prefix.display());
    }

    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let staged = out.join("mlx-lib");
    let _ = fs::remove_dir_all(&staged);
    fs::create_dir_all(&staged).unwrap();
    for entry in fs::read_dir(&lib).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let wanted = name.contains(".so") || name.ends_with(".dylib") || name.ends_with(".metallib");
        if wanted && path.is_file() {
            let dest = staged.join(&name);
            if fs::hard_link(&path, &dest).is_err() {
                fs::copy(&path, &dest).unwrap();
            }
        }
    }

    let shim_files = [
        "src/shim/array.cc",
        "src/shim/ops.cc",
        "src/shim/transforms.cc",
        "src/shim/extra.cc",
        "src/shim/linear.cc",
        "src/shim/cpu_half_matmul.cc",
        "src/shim/cpu_attention.cc",
        "src/shim/cpu_quantized_matmul.cc",
        "src/shim/io.cc",
        "src/shim/eval_thread.cc",
        "src/shim/distributed.cc",
        "src/shim/gpu_fused.cc",
        "src/shim/gpu_fused_rows.cc",
        "src/shim/gpu_kernel_compile.cc",
        "src/shim/gpu_kernel_by_name.cc",
    ];
    let mut build = cxx_build::bridge("src/lib.rs");
    build
        .files(shim_files)
        .include(&include)
        .include(manifest.join("src/shim"))
        .std("c++20")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-deprecated-declarations");
    build.compile("mlxn_shim");
    // The whole directory: its headers (shim.h, cpu_primitive.h, ...) are inputs too.
    println!("cargo:rerun-if-changed=src/shim");
    println!("cargo:rerun-if-changed=src/lib.rs");

    println!("cargo:rustc-link-search=native={}", staged.display());
    println!("cargo:rustc-link-lib=dylib=mlx");
    println!("cargo:lib_dir={}", staged.display());
    println!("cargo:version={found}");
    println!("cargo:rustc-env=MLXN_MLX_VERSION={found}");
}

fn read_pinned_version(pin: &Path) -> String {
    let text = fs::read_to_string(pin).unwrap_or_else(|e| panic!("cannot read {}: {e}", pin.display()));
    // A tiny scan instead of a JSON dependency: the pin file is ours and flat.
    let key = "\"version\"";
    let at = text.find(key).expect("pin.json has no version");
    let rest = &text[at + key.len()..];
    let start = rest.find('"').unwrap() + 1;
    let end = start + rest[start..].find('"').unwrap();
    rest[start..end].to_string()
}

fn read_header_version(include: &Path) -> String {
    let text = fs::read_to_string(include.join("mlx/version.h")).unwrap_or_default();
    let get = |name: &str| {
        text.lines().find_map(|l| l.strip_prefix(&format!("#define {name} ")).map(|v| v.trim().to_string())).unwrap_or_else(|| "?".into())
    };
    format!("{}.{}.{}", get("MLX_VERSION_MAJOR"), get("MLX_VERSION_MINOR"), get("MLX_VERSION_PATCH"))
}

fn default_prefix(version: &str) -> PathBuf {
    let root = if let Some(d) = env::var_os("MLXN_CACHE_DIR") {
        PathBuf::from(d)
    } else if let Some(x) = env::var_os("XDG_CACHE_HOME") {
        PathBuf::from(x).join("mlxn")
    } else {
        PathBuf::from(env::var_os("HOME").expect("HOME is not set")).join(".cache/mlxn")
    };
    let os = match env::var("CARGO_CFG_TARGET_OS").unwrap().as_str() {
        "macos" => "darwin".to_string(),
        other => other.to_string(),
    };
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").unwrap().as_str() {
        "x86_64" => "x64".to_string(),
        "aarch64" => "arm64".to_string(),
        other => other.to_string(),
    };
    root.join(format!("mlx-{version}-{os}-{arch}"))
}
