//! The kernel log: `log` records written to the console, one line each,
//! filtered by the level given with `morsel.log=LEVEL` on the command line.

use crate::platform::platform;
use log::{LevelFilter, Metadata, Record};

struct ConsoleLogger;

impl log::Log for ConsoleLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            platform()
                .console
                .write_fmt(format_args!("[{:>5}] {}\n", record.level(), record.args()));
        }
    }

    fn flush(&self) {}
}

static LOGGER: ConsoleLogger = ConsoleLogger;

/// Installs the logger at `level` (error, warn, info, debug, trace, off;
/// info when absent or unknown).
pub fn init(level: Option<&str>) {
    let filter = level.and_then(|l| l.parse::<LevelFilter>().ok()).unwrap_or(LevelFilter::Info);
    // Only the first call installs; bring-up calls it once.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(filter);
}
