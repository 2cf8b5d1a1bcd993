//! Links the kernel image with its linker script when building for the bare
//! machine.

fn main() {
    println!("cargo:rerun-if-changed=link.ld");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("link.ld");
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
        println!("cargo:rustc-link-arg-bins=--no-relax");
    }
}
