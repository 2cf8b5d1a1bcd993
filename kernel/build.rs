//! Links the kernel image with its linker script when building for the bare
//! machine, and samples the Morello capability reference vectors into the
//! image for the hardware-versus-model ktest.

use std::path::{Path, PathBuf};

/// About how many data lines of each vector file the sample takes, spread
/// evenly over the file.
const SAMPLE_LINES: usize = 600;
const VECTOR_FILES: [&str; 4] = ["decode.txt", "setbounds.txt", "setaddr.txt", "align.txt"];

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=link.ld");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bins=-T{}", manifest.join("link.ld").display());
        println!("cargo:rustc-link-arg-bins=--no-relax");
    }
    sample_vectors(manifest);
}

/// Writes `OUT_DIR/vectors/NAME` for each vector file: its header and about
/// `SAMPLE_LINES` data lines, evenly spaced. Without the vectors the files are empty and
/// the ktest says so.
fn sample_vectors(manifest: &Path) {
    println!("cargo:rerun-if-env-changed=MORELLO_CAP_VECTORS");
    let source = std::env::var_os("MORELLO_CAP_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../shared/vectors/morello-cap"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("vectors");
    std::fs::create_dir_all(&out).expect("create OUT_DIR/vectors");
    for name in VECTOR_FILES {
        let path = source.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        let sample = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut lines = text.lines();
                let header = lines.next().unwrap_or("");
                let stride = (text.lines().count().saturating_sub(1) / SAMPLE_LINES).max(1);
                let mut sample = format!("{header}\n");
                for line in lines.step_by(stride) {
                    sample.push_str(line);
                    sample.push('\n');
                }
                sample
            }
            Err(_) => String::new(),
        };
        std::fs::write(out.join(name), sample).expect("write vector sample");
    }
}
