//! In-kernel tests: registration with [`ktest!`](crate::ktest), collection
//! from the image's `.ktests` section, and the runner that prints one line per
//! test and the closing `N passed, N failed, N skipped` line.
//!
//! A test is a function returning [`TestResult`]; the `check!` and
//! `check_eq!` macros turn a false condition into a failure with its source
//! location. Registration needs no list kept by hand: the macro places a
//! [`KTest`] record in the `.ktests` section, which the linker script keeps
//! and brackets with `__ktests_start`/`__ktests_end`.

use alloc::string::String;
use core::fmt::Write;

/// Why a test did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestError {
    /// The test ran and an expectation failed.
    Failed(String),
    /// The test does not apply to this machine (e.g. no Morello capabilities).
    Skipped(String),
}

/// What a test returns.
pub type TestResult = Result<(), TestError>;

/// One registered in-kernel test.
#[derive(Debug)]
#[repr(C)]
pub struct KTest {
    /// `module::path::name`.
    pub name: &'static str,
    /// The test itself.
    pub run: fn() -> TestResult,
}

/// Registers an in-kernel test:
///
/// ```text
/// ktest!(fn ticks_arrive() {
///     check!(ticks() > 0);
///     Ok(())
/// });
/// ```
#[macro_export]
macro_rules! ktest {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[cfg_attr(not(target_os = "none"), allow(dead_code))]
        fn $name() -> $crate::ktest::TestResult $body

        #[cfg(target_os = "none")]
        const _: () = {
            #[used]
            #[unsafe(link_section = ".ktests")]
            static REGISTRATION: $crate::ktest::KTest = $crate::ktest::KTest {
                name: concat!(module_path!(), "::", stringify!($name)),
                run: $name,
            };
        };
    };
}

/// Fails the enclosing test unless the condition holds.
#[macro_export]
macro_rules! check {
    ($cond:expr $(,)?) => {
        if !$cond {
            return Err($crate::ktest::TestError::Failed(alloc::format!(
                "{}:{}: check failed: {}",
                file!(),
                line!(),
                stringify!($cond)
            )));
        }
    };
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::ktest::TestError::Failed(alloc::format!(
                "{}:{}: {}",
                file!(),
                line!(),
                alloc::format!($($fmt)+)
            )));
        }
    };
}

/// Fails the enclosing test unless the two values are equal.
#[macro_export]
macro_rules! check_eq {
    ($left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (left, right) => {
                if left != right {
                    return Err($crate::ktest::TestError::Failed(alloc::format!(
                        "{}:{}: {} == {} failed: {:?} != {:?}",
                        file!(),
                        line!(),
                        stringify!($left),
                        stringify!($right),
                        left,
                        right
                    )));
                }
            }
        }
    };
}

/// Counts of a run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
    /// Tests that did not apply.
    pub skipped: usize,
}

impl Summary {
    /// The closing line the xtask reads.
    pub fn line(&self) -> String {
        alloc::format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Runs every test whose name contains `filter` (all when empty), printing
/// `ktest NAME ... ok|FAILED|skipped` lines and the summary to `out`.
pub fn run_tests(tests: &[KTest], filter: &str, out: &mut dyn Write) -> Summary {
    let mut summary = Summary::default();
    let selected = tests.iter().filter(|t| t.name.contains(filter));
    let count = selected.clone().count();
    let _ = writeln!(out, "running {count} ktests");
    for test in selected {
        let _ = writeln!(out, "ktest {} ...", test.name);
        match (test.run)() {
            Ok(()) => {
                summary.passed += 1;
                let _ = writeln!(out, "ktest {} ... ok", test.name);
            }
            Err(TestError::Failed(why)) => {
                summary.failed += 1;
                let _ = writeln!(out, "ktest {} ... FAILED: {}", test.name, why);
            }
            Err(TestError::Skipped(why)) => {
                summary.skipped += 1;
                let _ = writeln!(out, "ktest {} ... skipped: {}", test.name, why);
            }
        }
    }
    let _ = writeln!(out, "{}", summary.line());
    summary
}

/// The tests linked into this image.
#[cfg(target_os = "none")]
pub fn registered() -> &'static [KTest] {
    unsafe extern "C" {
        static __ktests_start: u8;
        static __ktests_end: u8;
    }
    let start = (&raw const __ktests_start).cast::<KTest>();
    let end = (&raw const __ktests_end).cast::<KTest>();
    let len = (end.addr() - start.addr()) / core::mem::size_of::<KTest>();
    // SAFETY: the linker script places only `KTest` statics (from `ktest!`)
    // between the two symbols, contiguously, aligned and initialised.
    unsafe { core::slice::from_raw_parts(start, len) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn passes() -> TestResult {
        Ok(())
    }
    fn fails() -> TestResult {
        check_eq!(1 + 1, 3);
        Ok(())
    }
    fn skips() -> TestResult {
        Err(TestError::Skipped("not here".to_string()))
    }

    const TESTS: [KTest; 3] = [
        KTest { name: "a::passes", run: passes },
        KTest { name: "a::fails", run: fails },
        KTest { name: "b::skips", run: skips },
    ];

    #[test]
    fn counts_every_outcome() {
        let mut out = String::new();
        let summary = run_tests(&TESTS, "", &mut out);
        assert_eq!(summary, Summary { passed: 1, failed: 1, skipped: 1 });
        assert!(out.contains("ktest a::fails ... FAILED: "), "{out}");
        assert!(out.contains("1 + 1 == 3 failed: 2 != 3"), "{out}");
        assert!(out.ends_with("1 passed, 1 failed, 1 skipped\n"), "{out}");
    }

    #[test]
    fn filter_selects_by_name() {
        let mut out = String::new();
        let summary = run_tests(&TESTS, "b::", &mut out);
        assert_eq!(summary, Summary { passed: 0, failed: 0, skipped: 1 });
        assert!(!out.contains("a::passes"));
    }
}
