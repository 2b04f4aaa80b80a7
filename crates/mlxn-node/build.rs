//! Sets up the napi link and an `$ORIGIN` rpath, so the `.node` file finds `libmlx.so` (and
//! the libraries it bundles) in its own folder wherever the package is installed.
fn main() {
    napi_build::setup();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap();
    if os == "linux" {
        // DT_RPATH (not RUNPATH) also applies to libmlx.so's own dependencies.
        println!("cargo:rustc-cdylib-link-arg=-Wl,--disable-new-dtags,-rpath,$ORIGIN");
    } else if os == "macos" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,@loader_path");
    }
    println!("cargo:rerun-if-env-changed=DEP_MLX_LIB_DIR");
}
