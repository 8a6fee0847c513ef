//! libtorch is the one of the PyTorch wheel in the project's virtualenv (`scripts/install-torch.sh`),
//! which is not on any system library path: the binaries, tests and benchmarks carry its
//! directory as an rpath so they start without LD_LIBRARY_PATH.
fn main() {
    // Set by torch-sys (`links = "tch"`) for crates that depend on it directly.
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-changed=build.rs");
}
