//! `cargo xtask vectors [DIR]`: checks the software capability model against
//! a directory of Morello capability reference vectors, line by line.

use crate::tally::Tally;
use std::path::{Path, PathBuf};
use uprocess::vectors::{ModelEngine, VectorKind, check_file};

/// How many failing lines are printed per file.
const SHOWN_FAILURES: usize = 20;

/// The vector directory: the argument, else `MORELLO_CAP_VECTORS`, else the
/// shared vectors beside the repository.
pub fn directory(arg: Option<&str>) -> PathBuf {
    arg.map(PathBuf::from)
        .or_else(|| std::env::var_os("MORELLO_CAP_VECTORS").map(PathBuf::from))
        .unwrap_or_else(|| crate::repo_root().join("../shared/vectors/morello-cap"))
}

/// Checks every vector file in `dir`; a missing or unreadable file counts as
/// one failure. Counts are lines.
pub fn check(dir: &Path) -> Tally {
    let mut tally = Tally::default();
    println!("vectors: {}", dir.display());
    for kind in VectorKind::ALL {
        let path = dir.join(kind.file_name());
        let contents = match std::fs::read_to_string(&path) {
            Ok(c) => c,
            Err(e) => {
                println!("{}: cannot read {}: {e}", kind.file_name(), path.display());
                tally.failed += 1;
                continue;
            }
        };
        let report = check_file(kind, &contents, &mut ModelEngine);
        println!(
            "{}: {} lines checked, {} matched, {} skipped, {} failed",
            kind.file_name(),
            report.checked,
            report.matched,
            report.skipped,
            report.failures.len()
        );
        for failure in report.failures.iter().take(SHOWN_FAILURES) {
            println!("  line {}: {}\n    {}", failure.line_number, failure.error, failure.line);
        }
        if report.failures.len() > SHOWN_FAILURES {
            println!("  ... and {} more", report.failures.len() - SHOWN_FAILURES);
        }
        if report.checked == 0 {
            println!("  {} has no data lines", kind.file_name());
            tally.failed += 1;
        }
        tally.passed += report.matched;
        tally.skipped += report.skipped;
        tally.failed += report.failures.len();
    }
    tally
}
