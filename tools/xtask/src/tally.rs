//! Counting test outcomes across the runners `cargo xtask test` drives: the
//! host `cargo test` result lines, the kernel's `N passed, N failed, N
//! skipped` line, and the xtask's own checks.

/// Passed, failed and skipped counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
    /// Tests that did not run here (e.g. Morello-only).
    pub skipped: usize,
}

impl Tally {
    /// Adds another tally.
    pub fn add(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }

    /// One passed or failed check.
    pub fn check(ok: bool) -> Tally {
        Tally { passed: usize::from(ok), failed: usize::from(!ok), skipped: 0 }
    }

    /// The closing line CI reads.
    pub fn line(&self) -> String {
        format!("{} passed, {} failed, {} skipped", self.passed, self.failed, self.skipped)
    }
}

/// Reads `N passed, N failed[, N skipped]` (optionally after one `word:`).
pub fn parse_summary_line(line: &str) -> Option<(usize, usize, usize)> {
    let line = line.trim();
    let line = match line.split_once(": ") {
        Some((word, rest)) if !word.contains(' ') => rest,
        _ => line,
    };
    let mut parts = line.split(", ");
    let count = |part: Option<&str>, what: &str| -> Option<usize> {
        part?.strip_suffix(what)?.trim().parse().ok()
    };
    let passed = count(parts.next(), " passed")?;
    let failed = count(parts.next(), " failed")?;
    let skipped = match parts.next() {
        Some(p) => count(Some(p), " skipped")?,
        None => 0,
    };
    parts.next().is_none().then_some((passed, failed, skipped))
}

/// Sums the `test result: ... N passed; N failed; N ignored` lines of `cargo test`.
pub fn parse_cargo_test(output: &str) -> Tally {
    let mut tally = Tally::default();
    for line in output.lines().filter_map(|l| l.trim().strip_prefix("test result: ")) {
        for field in line.split(';') {
            let mut words = field.split_whitespace().rev();
            let (Some(name), Some(n)) = (words.next(), words.next()) else { continue };
            let Ok(n) = n.parse::<usize>() else { continue };
            match name {
                "passed" => tally.passed += n,
                "failed" => tally.failed += n,
                "ignored" => tally.skipped += n,
                _ => {}
            }
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_summary_lines() {
        assert_eq!(parse_summary_line("7 passed, 0 failed, 1 skipped"), Some((7, 0, 1)));
        assert_eq!(parse_summary_line("total: 3 passed, 2 failed"), Some((3, 2, 0)));
        assert_eq!(parse_summary_line("ktest x ... ok"), None);
        assert_eq!(parse_summary_line("3 passed, 2 failed, 1 skipped, 4 more"), None);
        assert_eq!(parse_summary_line("a b: 3 passed, 2 failed"), None);
    }

    #[test]
    fn sums_cargo_test_results() {
        let out = "running 2 tests\n\
                   test result: ok. 6 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\
                   test result: FAILED. 2 passed; 3 failed; 0 ignored; 0 measured; 0 filtered out\n";
        assert_eq!(parse_cargo_test(out), Tally { passed: 8, failed: 3, skipped: 1 });
    }
}
