//! Give the interposer's symbols the HIP runtime's version tags (hip.map).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=hip.map");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={dir}/hip.map");
}
