//! Every line of every shared reference vector file, checked against the
//! software model. The directory is `MORELLO_CAP_VECTORS` or the workspace's
//! `../shared/vectors/morello-cap`; a missing directory or file fails.

use std::path::PathBuf;
use std::time::Instant;

use uprocess::vectors::{ModelEngine, VectorKind, check_file};

fn vector_dir() -> PathBuf {
    std::env::var_os("MORELLO_CAP_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/vectors/morello-cap"
            ))
        })
}

fn check_kind(kind: VectorKind) {
    let path = vector_dir().join(kind.file_name());
    let contents = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read reference vectors {}: {e}", path.display()));
    let start = Instant::now();
    let report = check_file(kind, &contents, &mut ModelEngine);
    println!(
        "{}: {} lines checked, {} matched, {} skipped, {} failed in {:?}",
        path.display(),
        report.checked,
        report.matched,
        report.skipped,
        report.failures.len(),
        start.elapsed()
    );
    for failure in report.failures.iter().take(20) {
        println!(
            "  line {}: {}\n    {}",
            failure.line_number, failure.line, failure.error
        );
    }
    assert!(report.checked > 0, "{} has no data lines", path.display());
    assert_eq!(report.skipped, 0, "the model must run every case");
    assert!(
        report.failures.is_empty(),
        "{} of {} lines failed",
        report.failures.len(),
        report.checked
    );
    assert_eq!(report.matched, report.checked);
}

#[test]
fn decode_vectors_match() {
    check_kind(VectorKind::Decode);
}

#[test]
fn setbounds_vectors_match() {
    check_kind(VectorKind::SetBounds);
}

#[test]
fn setaddr_vectors_match() {
    check_kind(VectorKind::SetAddr);
}

#[test]
fn align_vectors_match() {
    check_kind(VectorKind::Align);
}
