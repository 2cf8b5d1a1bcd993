//! `cargo xtask bench [--quick]`: the benchmark harness. Morsel and Linux
//! (Debian's arm64 kernel) run the same static benchmark programs
//! (`tests/bench/*.c`, see `tests/bench/README.md`) in the same run and the
//! same `qemu-system-aarch64` configuration; one table compares them.
//!
//! - The programs are built with Debian's cross compiler into
//!   `target/bench/bin/` and put, with Linux's init (`init.c`), into one
//!   initramfs, `target/bench/bench.cpio`, that both systems boot.
//! - Linux is `linux-image-*-arm64`, the kernel package that Debian's
//!   `linux-image-arm64` depends on, downloaded with the private arm64 apt
//!   state of `cargo xtask image` (`target/images/apt`); its kernel Image is
//!   kept in `target/bench/linux/`, so that later runs need no network. Its
//!   init runs every program in one boot and powers off. The baseline is
//!   Linux booted with `nokaslr` (its fastest configuration in QEMU); the
//!   full run also boots the default configuration (KASLR, hence kernel
//!   page-table isolation).
//! - Morsel runs each program as its first μprocess, one boot each.
//! - boot_to_init is measured in several boots; the full run boots each
//!   system [`FULL_BOOTS`] times.
//! - The table goes to stdout and, as JSON and as an SVG bar chart, to
//!   `target/bench/` (`results.*`, or `results-quick.*` for `--quick`).
//!
//! `--quick` runs every program with few iterations and checks that every
//! metric was measured on both systems; it judges no ratio. The full run makes the same check.

use crate::cpio;
use crate::qemu::{Boot, Input, KernelText, Machine};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Every metric, in table order, with its unit.
const METRICS: &[(&str, &str)] = &[
    ("fork_exit_wait_1mib", "us"),
    ("fork_exit_wait_16mib", "us"),
    ("fork_exit_wait_64mib", "us"),
    ("fork_exit_wait_256mib", "us"),
    ("child_first_write_1mib", "us"),
    ("fork_exec_wait", "us"),
    ("pipe_roundtrip", "us"),
    ("thread_create_join", "us"),
    ("futex_pingpong", "us"),
    ("idle_child_memory", "KiB"),
    ("boot_to_init", "ms"),
];

/// The metric measured once per boot, from the first process's start.
const BOOT_METRIC: &str = "boot_to_init";

/// The benchmark programs (`tests/bench/NAME.c` installed as
/// `/bench/NAME`), in the order they run; Linux's init runs them in one
/// boot, Morsel boots once for each.
const PROGRAMS: &[&str] = &["idle", "fork", "exec", "pipe", "threads"];

/// Morsel's boot_to_init program (Linux's init measures its own).
const BOOT_PROGRAM: &str = "boot";
/// Linux's init, `/init` in the image.
const INIT_PROGRAM: &str = "init";

/// Boots per system (and Linux configuration) for boot_to_init.
const FULL_BOOTS: usize = 5;
const QUICK_BOOTS: usize = 1;

/// The machine both systems run on (Morsel's `Machine::Virt { gic: 3 }`).
const QEMU_MACHINE: &str = "virt,gic-version=3";
const QEMU_CPU: &str = "cortex-a72";
/// Memory and cores, unless given.
const DEFAULT_MEMORY_MIB: u32 = 1024;
const DEFAULT_SMP: u32 = 1;

/// Debian's cross compiler (package `gcc-aarch64-linux-gnu`) and its flags.
const COMPILER: &str = "aarch64-linux-gnu-gcc";
const CFLAGS: &[&str] = &["-std=gnu11", "-O2", "-Wall", "-Wextra", "-static", "-pthread"];

/// The Debian metapackage whose dependency is the current arm64 kernel.
const LINUX_METAPACKAGE: &str = "linux-image-arm64";

/// Watchdogs: one Morsel boot, one Linux boot.
const QUICK_TIMEOUT: Duration = Duration::from_secs(120);
const FULL_TIMEOUT: Duration = Duration::from_secs(900);

const USAGE: &str = "usage: cargo xtask bench [--quick] [--release|--debug] [--smp N] [--memory MIB] [--boots N]";

/// What a run does.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    quick: bool,
    /// Morsel built with `--release` (the full run's default).
    release: bool,
    memory_mib: u32,
    smp: u32,
    boots: usize,
}

impl Settings {
    fn parse(args: &[String]) -> Result<Settings, String> {
        let mut quick = false;
        let mut profile = None;
        let mut memory_mib = DEFAULT_MEMORY_MIB;
        let mut smp = DEFAULT_SMP;
        let mut boots = None;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut number = |what: &str| -> Result<u32, String> {
                it.next().and_then(|v| v.parse().ok()).filter(|&n| n > 0).ok_or(format!("{arg} takes {what}\n{USAGE}"))
            };
            match arg.as_str() {
                "--quick" => quick = true,
                "--release" => profile = Some(true),
                "--debug" => profile = Some(false),
                "--smp" => smp = number("a number of cores")?,
                "--memory" => memory_mib = number("MiB")?,
                "--boots" => boots = Some(number("a number of boots")? as usize),
                other => return Err(format!("unknown argument {other}\n{USAGE}")),
            }
        }
        Ok(Settings {
            quick,
            // The quick run checks the harness with the kernel `cargo xtask
            // test` builds anyway; numbers come from the release kernel.
            release: profile.unwrap_or(!quick),
            memory_mib,
            smp,
            boots: boots.unwrap_or(if quick { QUICK_BOOTS } else { FULL_BOOTS }),
        })
    }

    fn mode(&self) -> &'static str {
        if self.quick { "quick" } else { "full" }
    }

    fn timeout(&self) -> Duration {
        if self.quick { QUICK_TIMEOUT } else { FULL_TIMEOUT }
    }

    fn profile(&self) -> &'static str {
        if self.release { "release" } else { "debug" }
    }
}

// ---------------------------------------------------------------------------
// Result lines

/// One measured metric.
#[derive(Debug, Clone, PartialEq)]
struct Metric {
    name: String,
    unit: String,
    samples: u64,
    median: f64,
    p99: f64,
}

/// A line a benchmark program prints (the format is in tests/bench/bench.h).
#[derive(Debug, Clone, PartialEq)]
enum Line {
    Metric(Metric),
    Skip { name: String, reason: String },
    Info { key: String, value: String },
    Error(String),
    Done,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Parses one output line: None for lines that are not result lines
/// (kernel messages), an error for a malformed result line.
fn parse_line(line: &str) -> Option<Result<Line, String>> {
    let line = line.trim_end_matches(['\r', '\n']);
    let mut words = line.split_whitespace();
    let kind = words.next()?;
    let rest_after = |n: usize| line.split_whitespace().skip(n).collect::<Vec<_>>().join(" ");
    let named = |name: Option<&str>| -> Result<String, String> {
        name.filter(|n| valid_name(n)).map(String::from).ok_or(format!("bad name in {line:?}"))
    };
    Some(match kind {
        "metric" => parse_metric(line),
        "skip" => named(words.next()).map(|name| Line::Skip { name, reason: rest_after(2) }),
        "info" => named(words.next()).map(|key| Line::Info { key, value: rest_after(2) }),
        "error" => Ok(Line::Error(rest_after(1))),
        "done" if words.next().is_none() => Ok(Line::Done),
        _ => return None,
    })
}

/// `metric NAME unit UNIT samples N median X p99 Y [KEY VALUE]...`
fn parse_metric(line: &str) -> Result<Line, String> {
    let bad = |why: &str| format!("{why} in {line:?}");
    let words: Vec<&str> = line.split_whitespace().collect();
    let name = words.get(1).filter(|n| valid_name(n)).ok_or_else(|| bad("bad metric name"))?;
    let pairs = &words[2..];
    if !pairs.len().is_multiple_of(2) {
        return Err(bad("a key without a value"));
    }
    let fields: BTreeMap<&str, &str> = pairs.chunks(2).map(|p| (p[0], p[1])).collect();
    let field = |key: &str| fields.get(key).copied().ok_or_else(|| bad(&format!("no {key}")));
    let number = |key: &str| -> Result<f64, String> {
        field(key)?.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| bad(&format!("bad {key}")))
    };
    let samples = field("samples")?.parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| bad("bad samples"))?;
    Ok(Line::Metric(Metric {
        name: name.to_string(),
        unit: field("unit")?.to_string(),
        samples,
        median: number("median")?,
        p99: number("p99")?,
    }))
}

/// The median and the 99th percentile (nearest rank) of `values`, as the
/// programs compute them (bench.h).
fn stats(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    let rank = (99 * n).div_ceil(100);
    Some((median, v[rank - 1]))
}

/// What one system gave: its metrics, the metrics it could not measure
/// (and why), its information lines and its errors.
#[derive(Debug, Default, Clone)]
struct Results {
    metrics: BTreeMap<String, Metric>,
    skipped: BTreeMap<String, String>,
    info: BTreeMap<String, String>,
    errors: Vec<String>,
    /// boot_to_init of each boot, merged into one metric by `finish`.
    boot_samples: Vec<f64>,
    boot_unit: Option<String>,
}

impl Results {
    /// Takes in the output of one run; `what` names the run in errors.
    /// Returns whether the run printed `done`.
    fn absorb(&mut self, output: &str, what: &str) -> bool {
        let mut done = false;
        for line in output.lines() {
            match parse_line(line) {
                None => {}
                Some(Err(e)) => self.errors.push(format!("{what}: {e}")),
                Some(Ok(Line::Metric(m))) if !METRICS.contains(&(m.name.as_str(), m.unit.as_str())) => {
                    self.errors.push(format!("{what}: unknown metric {} in {}", m.name, m.unit));
                }
                Some(Ok(Line::Metric(m))) if m.name == BOOT_METRIC => {
                    self.boot_samples.push(m.median);
                    self.boot_unit = Some(m.unit);
                }
                Some(Ok(Line::Metric(m))) => {
                    if self.metrics.contains_key(&m.name) {
                        self.errors.push(format!("{what}: {} measured twice", m.name));
                    }
                    self.metrics.insert(m.name.clone(), m);
                }
                Some(Ok(Line::Skip { name, reason })) => {
                    self.skipped.insert(name, reason);
                }
                // Progress lines ("info running NAME") only show in errors.
                Some(Ok(Line::Info { key, .. })) if key == "running" => {}
                Some(Ok(Line::Info { key, value })) => {
                    self.info.entry(key).or_insert(value);
                }
                Some(Ok(Line::Error(e))) => self.errors.push(format!("{what}: {e}")),
                Some(Ok(Line::Done)) => done = true,
            }
        }
        done
    }

    /// Merges the boots' boot_to_init samples into one metric.
    fn finish(&mut self) {
        if let Some((median, p99)) = stats(&self.boot_samples) {
            let metric = Metric {
                name: BOOT_METRIC.to_string(),
                unit: self.boot_unit.clone().unwrap_or_else(|| "ms".to_string()),
                samples: self.boot_samples.len() as u64,
                median,
                p99,
            };
            self.metrics.insert(BOOT_METRIC.to_string(), metric);
        }
    }
}

/// One column of the table: a system in one configuration.
#[derive(Debug, Clone)]
struct System {
    /// `morsel`, `linux_nokaslr`, `linux_default`.
    key: &'static str,
    label: &'static str,
    results: Results,
}

impl System {
    fn is_morsel(&self) -> bool {
        self.key == MORSEL
    }

    /// Why `metric` has no value here.
    fn missing_reason(&self, metric: &str) -> String {
        match self.results.skipped.get(metric) {
            Some(detail) => format!("not measured: {detail}"),
            None => "not measured (no result line; see the errors)".to_string(),
        }
    }
}

const MORSEL: &str = "morsel";
const LINUX_NOKASLR: &str = "linux_nokaslr";
const LINUX_DEFAULT: &str = "linux_default";

/// Metrics missing on a system, one message each.
fn unexpected_gaps(systems: &[System]) -> Vec<String> {
    let mut gaps = Vec::new();
    for system in systems {
        for (metric, _) in METRICS {
            if !system.results.metrics.contains_key(*metric) {
                gaps.push(format!("{metric} on {}: {}", system.label, system.missing_reason(metric)));
            }
        }
    }
    gaps
}

// ---------------------------------------------------------------------------
// The table

/// One row: a metric on every system, and the ratios to Morsel.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    metric: &'static str,
    unit: String,
    /// Per system (in the systems' order): the metric or why it is missing.
    cells: Vec<Result<Metric, String>>,
    /// Per Linux system (in order): its median / Morsel's median.
    ratios: Vec<(&'static str, Option<f64>)>,
}

/// Linux's median over Morsel's: higher is better for Morsel, since every
/// metric is a cost (time or memory).
fn ratio(linux: Option<&Metric>, morsel: Option<&Metric>) -> Option<f64> {
    match (linux, morsel) {
        (Some(l), Some(m)) if m.median > 0.0 && l.unit == m.unit => Some(l.median / m.median),
        _ => None,
    }
}

fn rows(systems: &[System]) -> Vec<Row> {
    let morsel = systems.iter().find(|s| s.is_morsel());
    METRICS
        .iter()
        .map(|&(metric, unit)| {
            let cells = systems
                .iter()
                .map(|s| s.results.metrics.get(metric).cloned().ok_or_else(|| s.missing_reason(metric)))
                .collect();
            let ratios = systems
                .iter()
                .filter(|s| !s.is_morsel())
                .map(|s| {
                    (s.key, ratio(s.results.metrics.get(metric), morsel.and_then(|m| m.results.metrics.get(metric))))
                })
                .collect();
            Row { metric, unit: unit.to_string(), cells, ratios }
        })
        .collect()
}

/// A number with about four significant digits.
fn number(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn label_of(systems: &[System], key: &str) -> &'static str {
    systems.iter().find(|s| s.key == key).map_or("?", |s| s.label)
}

/// What the footer says about the run and the systems.
fn footer(systems: &[System], s: &Settings) -> Vec<String> {
    let mut lines = vec![
        "ratio = Linux median / Morsel median: higher is better for Morsel (every metric is a cost)".to_string(),
        format!(
            "QEMU: -M {QEMU_MACHINE} -cpu {QEMU_CPU} -m {} -smp {}, TCG; {} run ({} boot(s) per system for boot_to_init)",
            s.memory_mib,
            s.smp,
            s.mode(),
            s.boots
        ),
    ];
    if let Some(morsel) = systems.iter().find(|s| s.is_morsel()) {
        let page = morsel.results.info.get("page_size").map_or("4096".to_string(), |p| p.clone());
        lines.push(format!(
            "Morsel: page size {} (Morsel maps 4 KiB pages only, no huge pages); {} kernel",
            page_size_text(&page),
            s.profile()
        ));
    }
    if let Some(linux) = systems.iter().find(|s| !s.is_morsel()) {
        let info = &linux.results.info;
        let kernel = info.get("kernel").map_or("Linux", String::as_str);
        let page = info.get("page_size").map_or("?".to_string(), |p| page_size_text(p));
        let thp = info.get("transparent_hugepage").map_or("?", String::as_str);
        lines.push(format!(
            "Linux: {kernel} (Debian), page size {page}, {}; \
             nokaslr is the baseline (KASLR turns on kernel page-table isolation)",
            thp_text(thp)
        ));
    }
    for system in systems {
        for (metric, _) in METRICS {
            if !system.results.metrics.contains_key(*metric) {
                lines.push(format!("{}: {metric}: {}", system.label, system.missing_reason(metric)));
            }
        }
        for error in &system.results.errors {
            lines.push(format!("{}: error: {error}", system.label));
        }
    }
    lines
}

/// What Linux's `/sys/kernel/mm/transparent_hugepage/enabled` says.
fn thp_text(setting: &str) -> String {
    if setting.contains("[always]") {
        format!("transparent huge pages on, as by default ({setting})")
    } else if setting.contains("[never]") {
        // mm/huge_memory.c turns them off by default below 512 MiB of RAM.
        format!("transparent huge pages off in this run ({setting}; on by default, off below 512 MiB of memory)")
    } else {
        format!("transparent huge pages: {setting} (on by default)")
    }
}

fn page_size_text(bytes: &str) -> String {
    match bytes.parse::<u64>() {
        Ok(b) if b % 1024 == 0 => format!("{} KiB", b / 1024),
        _ => format!("{bytes} bytes"),
    }
}

/// The table as text.
fn table(systems: &[System], s: &Settings) -> String {
    let rows = rows(systems);
    let mut header = vec!["metric".to_string(), "unit".to_string()];
    for system in systems {
        header.push(format!("{} median", system.label));
        header.push("p99".to_string());
        header.push("n".to_string());
    }
    if let Some(row) = rows.first() {
        for (key, _) in &row.ratios {
            header.push(format!("{}/Morsel", label_of(systems, key)));
        }
    }
    let mut lines = vec![header];
    for row in &rows {
        let mut line = vec![row.metric.to_string(), row.unit.clone()];
        for cell in &row.cells {
            match cell {
                Ok(m) => line.extend([number(m.median), number(m.p99), m.samples.to_string()]),
                Err(_) => line.extend(["n/a".to_string(), "-".to_string(), "0".to_string()]),
            }
        }
        for (_, r) in &row.ratios {
            line.push(r.map_or("-".to_string(), |r| format!("{r:.2}x")));
        }
        lines.push(line);
    }
    let columns = lines[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| lines.iter().map(|l| l.get(c).map_or(0, |t| t.chars().count())).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let cells: Vec<String> = line
            .iter()
            .enumerate()
            .map(
                |(c, text)| {
                    if c < 2 { format!("{text:<w$}", w = widths[c]) } else { format!("{text:>w$}", w = widths[c]) }
                },
            )
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (columns - 1)));
            out.push('\n');
        }
    }
    out.push('\n');
    for line in footer(systems, s) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_number(v: f64) -> String {
    if v.is_finite() { format!("{v}") } else { "null".to_string() }
}

/// The table as JSON.
fn json(systems: &[System], s: &Settings, duration: Duration) -> String {
    let mut out = String::from("{\n");
    let _ = writeln!(out, "  \"mode\": {},", json_string(s.mode()));
    let _ = writeln!(
        out,
        "  \"qemu\": {{\"machine\": {}, \"cpu\": {}, \"memory_mib\": {}, \"smp\": {}}},",
        json_string(QEMU_MACHINE),
        json_string(QEMU_CPU),
        s.memory_mib,
        s.smp
    );
    let _ = writeln!(out, "  \"morsel_kernel_profile\": {},", json_string(s.profile()));
    let _ = writeln!(out, "  \"duration_s\": {},", json_number(duration.as_secs_f64()));
    let _ = writeln!(out, "  \"ratio\": {},", json_string("Linux median / Morsel median; higher is better for Morsel"));
    out.push_str("  \"systems\": [\n");
    for (i, system) in systems.iter().enumerate() {
        let info: Vec<String> =
            system.results.info.iter().map(|(k, v)| format!("{}: {}", json_string(k), json_string(v))).collect();
        let errors: Vec<String> = system.results.errors.iter().map(|e| json_string(e)).collect();
        let _ = writeln!(
            out,
            "    {{\"key\": {}, \"label\": {}, \"info\": {{{}}}, \"errors\": [{}]}}{}",
            json_string(system.key),
            json_string(system.label),
            info.join(", "),
            errors.join(", "),
            if i + 1 < systems.len() { "," } else { "" }
        );
    }
    out.push_str("  ],\n  \"metrics\": [\n");
    let rows = rows(systems);
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = systems
            .iter()
            .zip(&row.cells)
            .map(|(system, cell)| {
                let value = match cell {
                    Ok(m) => format!(
                        "{{\"median\": {}, \"p99\": {}, \"samples\": {}}}",
                        json_number(m.median),
                        json_number(m.p99),
                        m.samples
                    ),
                    Err(why) => format!("{{\"missing\": {}}}", json_string(why)),
                };
                format!("{}: {value}", json_string(system.key))
            })
            .collect();
        let ratios: Vec<String> = row
            .ratios
            .iter()
            .map(|(key, r)| format!("{}: {}", json_string(key), r.map_or("null".to_string(), json_number)))
            .collect();
        let _ = writeln!(
            out,
            "    {{\"name\": {}, \"unit\": {}, \"results\": {{{}}}, \"ratio_to_morsel\": {{{}}}}}{}",
            json_string(row.metric),
            json_string(&row.unit),
            cells.join(", "),
            ratios.join(", "),
            if i + 1 < rows.len() { "," } else { "" }
        );
    }
    out.push_str("  ],\n");
    let notes: Vec<String> = footer(systems, s).iter().map(|l| json_string(l)).collect();
    let _ = writeln!(out, "  \"notes\": [\n    {}\n  ]", notes.join(",\n    "));
    out.push_str("}\n");
    out
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `text` in lines of at most about `width` characters, broken at spaces;
/// the continuation lines are indented.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let line = lines.last_mut().expect("a line");
        if !line.trim().is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(format!("    {word}"));
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

/// Bar colours, by system.
fn colour(key: &str) -> &'static str {
    match key {
        MORSEL => "#2b7bb9",
        LINUX_NOKASLR => "#e08a2c",
        _ => "#9a9a9a",
    }
}

/// The table as an SVG bar chart: one group of bars per metric, each bar
/// as long as its median relative to the longest in the group, labelled
/// with the median and the ratio.
fn svg(systems: &[System], s: &Settings) -> String {
    const WIDTH: usize = 980;
    const LABEL: usize = 230;
    const BAR_MAX: usize = 520;
    const BAR: usize = 16;
    const GAP: usize = 14;
    let rows = rows(systems);
    let notes: Vec<String> = footer(systems, s).iter().flat_map(|n| wrap(n, 150)).collect();
    let group = systems.len() * (BAR + 3) + GAP;
    let top = 70;
    let height = top + rows.len() * group + 20 + notes.len() * 16 + 10;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="10" y="22" font-size="16" font-weight="bold">Morsel and Linux in QEMU ({} run): median per metric, shorter is better</text>"#,
        s.mode()
    );
    for (i, system) in systems.iter().enumerate() {
        let x = 10 + i * 200;
        let _ = writeln!(out, r#"<rect x="{x}" y="36" width="14" height="14" fill="{}"/>"#, colour(system.key));
        let _ = writeln!(out, r#"<text x="{}" y="48">{}</text>"#, x + 20, xml(system.label));
    }
    for (r, row) in rows.iter().enumerate() {
        let y0 = top + r * group;
        let _ = writeln!(
            out,
            r##"<text x="10" y="{}" font-weight="bold">{}</text><text x="10" y="{}" fill="#555">{}</text>"##,
            y0 + 13,
            xml(row.metric),
            y0 + 28,
            xml(&row.unit)
        );
        let longest = row.cells.iter().filter_map(|c| c.as_ref().ok()).map(|m| m.median).fold(0.0, f64::max);
        for (i, (system, cell)) in systems.iter().zip(&row.cells).enumerate() {
            let y = y0 + i * (BAR + 3);
            match cell {
                Ok(m) => {
                    let len = if longest > 0.0 { (m.median / longest * BAR_MAX as f64).max(1.0) } else { 1.0 };
                    let ratio = row
                        .ratios
                        .iter()
                        .find(|(k, _)| *k == system.key)
                        .and_then(|(_, r)| *r)
                        .map_or(String::new(), |r| format!("  (Linux/Morsel {r:.2})"));
                    let _ = writeln!(
                        out,
                        r#"<rect x="{LABEL}" y="{y}" width="{len:.1}" height="{BAR}" fill="{}"/><text x="{:.1}" y="{}">{} {}{}</text>"#,
                        colour(system.key),
                        LABEL as f64 + len + 5.0,
                        y + 12,
                        number(m.median),
                        xml(&m.unit),
                        ratio
                    );
                }
                Err(why) => {
                    let text =
                        if why.contains(system.label) { why.clone() } else { format!("{}: {why}", system.label) };
                    let _ = writeln!(out, r##"<text x="{LABEL}" y="{}" fill="#b00">{}</text>"##, y + 12, xml(&text));
                }
            }
        }
    }
    let mut y = top + rows.len() * group + 20;
    for note in &notes {
        let _ = writeln!(out, r##"<text x="10" y="{y}" font-size="11" fill="#333">{}</text>"##, xml(note));
        y += 16;
    }
    out.push_str("</svg>\n");
    out
}

// ---------------------------------------------------------------------------
// Building the programs and the images

fn bench_dir() -> PathBuf {
    crate::repo_root().join("target/bench")
}

fn at<E: std::fmt::Display>(path: &Path) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

/// Builds every `tests/bench/*.c` into `target/bench/bin/`, in parallel.
fn build_programs() -> Result<PathBuf, String> {
    crate::toolchain::require_program(COMPILER, "gcc-aarch64-linux-gnu")?;
    let source = crate::repo_root().join("tests/bench");
    let bin = bench_dir().join("bin");
    fs::create_dir_all(&bin).map_err(at(&bin))?;
    let mut sources: Vec<PathBuf> = fs::read_dir(&source)
        .map_err(at(&source))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    let mut children: Vec<(String, Child)> = Vec::new();
    for path in &sources {
        let name = path.file_stem().and_then(|s| s.to_str()).ok_or("a benchmark source name is not UTF-8")?;
        let child = Command::new(COMPILER)
            .args(CFLAGS)
            .arg("-o")
            .arg(bin.join(name))
            .arg(path)
            .spawn()
            .map_err(|e| format!("cannot run {COMPILER}: {e} (Debian package gcc-aarch64-linux-gnu)"))?;
        children.push((name.to_string(), child));
    }
    let mut failed = Vec::new();
    for (name, mut child) in children {
        if !child.wait().is_ok_and(|status| status.success()) {
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        return Err(format!("cannot build the benchmark programs {}", failed.join(", ")));
    }
    let needed = PROGRAMS.iter().chain([&BOOT_PROGRAM, &INIT_PROGRAM, &"true"]);
    for name in needed {
        if !bin.join(name).is_file() {
            return Err(format!("tests/bench/{name}.c is missing"));
        }
    }
    Ok(bin)
}

/// The initramfs both systems boot: `/init` (Linux's init) and every
/// program as `/bench/NAME`, with the directories init mounts on.
fn write_initramfs(bin: &Path) -> Result<PathBuf, String> {
    let image = bench_dir().join("bench.cpio");
    let partial = bench_dir().join("bench.cpio.partial");
    let file = fs::File::create(&partial).map_err(at(&partial))?;
    let mut w = cpio::Writer::new(BufWriter::new(file));
    let io = |e: std::io::Error| format!("{}: {e}", partial.display());
    for (dir, perm) in
        [("bench", 0o755), ("dev", 0o755), ("proc", 0o555), ("sys", 0o555), ("tmp", 0o1777), ("root", 0o700)]
    {
        w.directory(dir.as_bytes(), perm, 0).map_err(io)?;
    }
    let mut names: Vec<String> = fs::read_dir(bin)
        .map_err(at(bin))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    for name in &names {
        let data = fs::read(bin.join(name)).map_err(at(&bin.join(name)))?;
        if name == INIT_PROGRAM {
            w.file(b"init", 0o755, 0, &data).map_err(io)?;
        }
        w.file(format!("bench/{name}").as_bytes(), 0o755, 0, &data).map_err(io)?;
    }
    w.finish().map_err(io)?.into_inner().map_err(|e| format!("{}: {}", partial.display(), e.error()))?;
    fs::rename(&partial, &image).map_err(at(&image))?;
    Ok(image)
}

// ---------------------------------------------------------------------------
// Debian's kernel

/// apt-get (or apt-cache) with the private arm64 state `cargo xtask image`
/// keeps under `target/images/apt`, its package lists fetched.
fn apt() -> Result<crate::image::Apt, String> {
    let apt = crate::image::Apt::new(&crate::repo_root().join("target/images"))?;
    apt.ensure_lists()?;
    Ok(apt)
}

/// Runs a command; an error names it and carries its stderr.
fn run_tool(cmd: &mut Command, what: &str, package: &str) -> Result<Vec<u8>, String> {
    let out = cmd.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{what}: not installed (Debian package {package})"),
        _ => format!("cannot run {what}: {e}"),
    })?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!("{what} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr).trim_end()))
    }
}

/// The kernel package `linux-image-arm64` depends on (from `apt-cache
/// depends` output).
fn kernel_package(depends: &str) -> Option<String> {
    depends
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(|p| p.trim().trim_start_matches('<').trim_end_matches('>'))
        .find(|p| p.starts_with("linux-image-") && p.ends_with("-arm64") && *p != LINUX_METAPACKAGE)
        .map(String::from)
}

/// What a kernel file is.
#[derive(Debug, PartialEq)]
enum KernelFormat {
    /// An arm64 `Image` (the `ARM\x64` magic at 0x38): QEMU boots it.
    Image,
    /// gzip-compressed.
    Gzip,
    Unknown,
}

fn kernel_format(bytes: &[u8]) -> KernelFormat {
    if bytes.len() > 0x3c && &bytes[0x38..0x3c] == b"ARM\x64" {
        KernelFormat::Image
    } else if bytes.starts_with(&[0x1f, 0x8b]) {
        KernelFormat::Gzip
    } else {
        KernelFormat::Unknown
    }
}

/// Debian's arm64 kernel as an uncompressed Image in `target/bench/linux/`:
/// the cached one if there is one (no network), else downloaded.
fn linux_kernel() -> Result<PathBuf, String> {
    let dir = bench_dir().join("linux");
    fs::create_dir_all(&dir).map_err(at(&dir))?;
    let mut cached: Vec<PathBuf> = fs::read_dir(&dir)
        .map_err(at(&dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "Image"))
        .collect();
    cached.sort();
    if let Some(image) = cached.pop() {
        return Ok(image);
    }
    let apt = apt()?;
    let depends = run_tool(apt.command("apt-cache").args(["depends", LINUX_METAPACKAGE]), "apt-cache depends", "apt")
        .map_err(|e| format!("cannot find Debian's arm64 kernel ({LINUX_METAPACKAGE}): {e}"))?;
    let package = kernel_package(&String::from_utf8_lossy(&depends))
        .ok_or(format!("{LINUX_METAPACKAGE} names no linux-image-*-arm64 package in the arm64 package lists"))?;
    eprintln!("xtask: bench: downloading {package} (Debian's arm64 kernel, from {LINUX_METAPACKAGE})");
    let downloads = dir.join("download");
    let _ = fs::remove_dir_all(&downloads);
    fs::create_dir_all(&downloads).map_err(at(&downloads))?;
    run_tool(apt.command("apt-get").current_dir(&downloads).args(["-q", "download", &package]), "apt-get download", "apt")
        .map_err(|e| format!("cannot download {package}: {e}"))?;
    let deb = fs::read_dir(&downloads)
        .map_err(at(&downloads))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or(format!("apt-get download left no {package} .deb in {}", downloads.display()))?;
    // Only the kernel: dpkg-deb --fsys-tarfile DEB | tar -x ./boot/vmlinuz-*
    let mut tar_out = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(&deb)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run dpkg-deb: {e} (Debian package dpkg)"))?;
    let tar_stream = tar_out.stdout.take().ok_or("no pipe from dpkg-deb")?;
    let tar = Command::new("tar")
        .current_dir(&downloads)
        .args(["-x", "--wildcards", "./boot/vmlinuz-*"])
        .stdin(tar_stream)
        .output()
        .map_err(|e| format!("cannot run tar: {e} (Debian package tar)"))?;
    let _ = tar_out.wait();
    if !tar.status.success() {
        return Err(format!(
            "{} has no ./boot/vmlinuz-*: {}",
            deb.display(),
            String::from_utf8_lossy(&tar.stderr).trim()
        ));
    }
    let vmlinuz = fs::read_dir(downloads.join("boot"))
        .map_err(at(&downloads.join("boot")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
        .ok_or(format!("{} holds no vmlinuz", deb.display()))?;
    let mut bytes = fs::read(&vmlinuz).map_err(at(&vmlinuz))?;
    if kernel_format(&bytes) == KernelFormat::Gzip {
        let gzip = crate::toolchain::require_program("gzip", "gzip")?;
        bytes = run_tool(Command::new(gzip).arg("-dc").arg(&vmlinuz), "gzip -dc", "gzip")?;
    }
    if kernel_format(&bytes) != KernelFormat::Image {
        return Err(format!("{} is neither an arm64 Image nor a gzip-compressed one", vmlinuz.display()));
    }
    let image = dir.join(format!("{package}.Image"));
    fs::write(&image, &bytes).map_err(at(&image))?;
    fs::rename(&deb, dir.join(deb.file_name().unwrap_or_default())).map_err(at(&deb))?;
    let _ = fs::remove_dir_all(&downloads);
    eprintln!("xtask: bench: Linux kernel {}", image.display());
    Ok(image)
}

// ---------------------------------------------------------------------------
// Running

/// How a Linux boot ended.
#[derive(Debug)]
struct LinuxBoot {
    output: String,
    status: Option<i32>,
    timed_out: bool,
    stderr: String,
    /// From QEMU's start to the boot_to_init line on the host's side.
    host_to_init: Option<Duration>,
}

/// Boots Linux with `init_args` for its init, in the benchmark machine;
/// `kaslr` false adds `nokaslr`.
fn boot_linux(
    kernel: &Path,
    initrd: &Path,
    s: &Settings,
    kaslr: bool,
    init_args: &[String],
) -> Result<LinuxBoot, String> {
    let qemu = crate::toolchain::require_program("qemu-system-aarch64", "qemu-system-arm")?;
    let mut append = vec!["console=ttyAMA0"];
    if !kaslr {
        append.push("nokaslr");
    }
    // panic=-1 with -no-reboot: a dying init ends QEMU at once.
    append.extend(["quiet", "panic=-1", "--"]);
    let append = format!("{} {}", append.join(" "), init_args.join(" "));
    let started = Instant::now();
    let mut child = Command::new(qemu)
        .args(["-M", QEMU_MACHINE, "-cpu", QEMU_CPU])
        .args(["-m", &s.memory_mib.to_string(), "-smp", &s.smp.to_string()])
        .args(["-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", &append])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start QEMU: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let mut stderr = child.stderr.take().ok_or("no stderr pipe")?;
    let (first_tx, first_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buffer = [0u8; 4096];
        let mut seen = false;
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buffer[..n]);
            if !seen && String::from_utf8_lossy(&all).contains("metric boot_to_init") {
                seen = true;
                let _ = first_tx.send(started.elapsed());
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break (status.code(), false);
        }
        if started.elapsed() > s.timeout() {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = reader.join().map_err(|_| "the console reader panicked")?;
    let stderr = errors.join().unwrap_or_default();
    Ok(LinuxBoot { output, status, timed_out, stderr, host_to_init: first_rx.try_recv().ok() })
}

/// Runs Linux in one configuration: every program in one boot, then the
/// remaining boots for boot_to_init.
fn run_linux(kernel: &Path, initrd: &Path, s: &Settings, kaslr: bool, results: &mut Results) -> Result<(), String> {
    let name = if kaslr { "Linux (default)" } else { "Linux (nokaslr)" };
    let mut args = vec![s.mode().to_string()];
    args.extend(PROGRAMS.iter().map(|p| p.to_string()));
    for boot in 0..s.boots {
        let started = Instant::now();
        let init_args = if boot == 0 { args.clone() } else { vec!["boot-only".to_string()] };
        let run = boot_linux(kernel, initrd, s, kaslr, &init_args)?;
        let what = format!("{name} boot {}", boot + 1);
        let done = results.absorb(&run.output, &what);
        if let Some(t) = run.host_to_init {
            results
                .info
                .entry("host_qemu_start_to_init_line_ms".to_string())
                .or_insert(format!("{:.0}", t.as_secs_f64() * 1e3));
        }
        eprintln!(
            "xtask: bench: {what}: {:.1} s{}",
            started.elapsed().as_secs_f64(),
            if done { "" } else { ", did not finish" }
        );
        if !done || run.timed_out {
            let tail: Vec<&str> = run.output.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
            results.errors.push(format!(
                "{what} did not finish (QEMU status {:?}{}); last lines: {}{}",
                run.status,
                if run.timed_out { ", watchdog fired" } else { "" },
                tail.join(" | "),
                if run.stderr.trim().is_empty() { String::new() } else { format!("; QEMU: {}", run.stderr.trim()) }
            ));
            if boot == 0 {
                break;
            }
        }
    }
    Ok(())
}

/// Runs `argv` as Morsel's first μprocess: what it printed, whether the
/// boot ended with status 0, and how it ended (the status and the kernel's
/// last lines).
fn boot_morsel(kernel: &Path, initrd: &Path, s: &Settings, argv: &[String]) -> Result<(String, bool, String), String> {
    let bootargs = crate::qemu::program_bootargs(argv, "/");
    let outcome = Boot {
        kernel,
        machine: Machine::Virt { gic: 3, el2: false },
        initrd: Some(initrd),
        bootargs,
        memory_mib: s.memory_mib,
        smp: s.smp,
        gdb: false,
        timeout: s.timeout(),
        input: Input::Dialogue(Vec::new()),
        kernel_text: KernelText::Hidden,
    }
    .run_captured()?;
    let output = String::from_utf8_lossy(&outcome.user_output).into_owned();
    let ok = outcome.status == Some(0) && !outcome.timed_out;
    let kernel_tail: Vec<&str> =
        outcome.kernel_output.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect();
    let why = format!(
        "exit status {:?}{}; kernel: {}",
        outcome.status,
        if outcome.timed_out { " (watchdog fired)" } else { "" },
        kernel_tail.join(" | ")
    );
    Ok((output, ok, why))
}

/// Runs every program on Morsel, one boot each, and the boot program.
fn run_morsel(kernel: &Path, initrd: &Path, s: &Settings, results: &mut Results) {
    let mut runs: Vec<&str> = vec![BOOT_PROGRAM; s.boots];
    runs.extend(PROGRAMS);
    for (i, program) in runs.iter().enumerate() {
        let started = Instant::now();
        let argv = vec![format!("/bench/{program}"), s.mode().to_string()];
        let what = if *program == BOOT_PROGRAM {
            format!("Morsel {program} (boot {})", i + 1)
        } else {
            format!("Morsel {program}")
        };
        match boot_morsel(kernel, initrd, s, &argv) {
            Ok((output, ok, how)) => {
                // What it printed before failing still counts.
                let before = results.metrics.len() + results.skipped.len() + results.boot_samples.len();
                results.absorb(&output, &what);
                let after = results.metrics.len() + results.skipped.len() + results.boot_samples.len();
                if !ok {
                    results.errors.push(format!("{what}: {how}"));
                } else if after == before {
                    let shown: Vec<&str> = output.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
                    results.errors.push(format!(
                        "{what}: no result line; its output ({} bytes) ends: {}; {how}",
                        output.len(),
                        shown.join(" | ")
                    ));
                }
            }
            Err(e) => results.errors.push(format!("{what}: {e}")),
        }
        eprintln!("xtask: bench: {what}: {:.1} s", started.elapsed().as_secs_f64());
    }
}

/// `cargo xtask bench ARGS`.
pub fn main(args: &[String]) -> ExitCode {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let started = Instant::now();
    let s = Settings::parse(args)?;
    eprintln!("xtask: bench: {} run, Morsel {} kernel, -m {} -smp {}", s.mode(), s.profile(), s.memory_mib, s.smp);
    let bin = build_programs()?;
    let initrd = write_initramfs(&bin)?;
    let linux = linux_kernel()?;
    let kernel = crate::build_kernel(s.release, &[])?;

    let mut morsel = Results::default();
    run_morsel(&kernel, &initrd, &s, &mut morsel);
    let mut systems = vec![System { key: MORSEL, label: "Morsel", results: morsel }];
    let mut configurations = vec![(LINUX_NOKASLR, "Linux nokaslr", false)];
    if !s.quick {
        configurations.push((LINUX_DEFAULT, "Linux default", true));
    }
    for (key, label, kaslr) in configurations {
        let mut results = Results::default();
        run_linux(&linux, &initrd, &s, kaslr, &mut results)?;
        systems.push(System { key, label, results });
    }
    for system in &mut systems {
        system.results.finish();
    }

    let duration = started.elapsed();
    print!("{}", table(&systems, &s));
    let out = bench_dir();
    let stem = if s.quick { "results-quick" } else { "results" };
    let json_path = out.join(format!("{stem}.json"));
    let svg_path = out.join(format!("{stem}.svg"));
    fs::write(&json_path, json(&systems, &s, duration)).map_err(at(&json_path))?;
    fs::write(&svg_path, svg(&systems, &s)).map_err(at(&svg_path))?;
    println!("xtask: bench: wrote {} and {}", json_path.display(), svg_path.display());
    let gaps = unexpected_gaps(&systems);
    println!("xtask: bench: {} run took {:.0} s", s.mode(), duration.as_secs_f64());
    if gaps.is_empty() {
        println!("xtask: bench: every metric was measured on every system");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("xtask: bench: FAILED: {} metric(s) missing:", gaps.len());
        for gap in &gaps {
            println!("  {gap}");
        }
        Ok(ExitCode::FAILURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str, unit: &str, median: f64) -> Metric {
        Metric { name: name.to_string(), unit: unit.to_string(), samples: 10, median, p99: median * 1.5 }
    }

    fn system(key: &'static str, label: &'static str, metrics: &[Metric]) -> System {
        let mut results = Results::default();
        for m in metrics {
            results.metrics.insert(m.name.clone(), m.clone());
        }
        System { key, label, results }
    }

    /// Every metric in METRICS, with the same median.
    fn all(median: f64) -> Vec<Metric> {
        METRICS.iter().map(|(name, unit)| metric(name, unit, median)).collect()
    }

    fn settings() -> Settings {
        Settings::parse(&["--quick".to_string()]).unwrap()
    }

    #[test]
    fn metric_lines_parse() {
        let line =
            "metric fork_exit_wait_1mib unit us samples 200 median 1129.336 p99 1666.112 min 954.352 max 1787.568\r";
        assert_eq!(
            parse_line(line),
            Some(Ok(Line::Metric(Metric {
                name: "fork_exit_wait_1mib".to_string(),
                unit: "us".to_string(),
                samples: 200,
                median: 1129.336,
                p99: 1666.112,
            })))
        );
        // The keys may come in any order; unknown ones are ignored.
        let Some(Ok(Line::Metric(m))) = parse_line("metric x p99 2 median 1 samples 3 unit KiB extra 7") else {
            panic!("not parsed");
        };
        assert_eq!((m.unit.as_str(), m.samples, m.median, m.p99), ("KiB", 3, 1.0, 2.0));
    }

    #[test]
    fn malformed_metric_lines_are_errors() {
        for line in [
            "metric",
            "metric Fork unit us samples 1 median 1 p99 1",
            "metric x unit us samples 1 median 1",
            "metric x unit us samples 0 median 1 p99 1",
            "metric x unit us samples 1 median one p99 1",
            "metric x unit us samples 1 median nan p99 1",
            "metric x unit us samples 1 median 1 p99",
        ] {
            assert!(matches!(parse_line(line), Some(Err(_))), "{line:?} was accepted");
        }
    }

    #[test]
    fn other_result_lines_and_noise() {
        assert_eq!(
            parse_line("skip futex_pingpong pthread_create: Invalid argument"),
            Some(Ok(Line::Skip { name: "futex_pingpong".into(), reason: "pthread_create: Invalid argument".into() }))
        );
        assert_eq!(
            parse_line("info transparent_hugepage [always] madvise never"),
            Some(Ok(Line::Info { key: "transparent_hugepage".into(), value: "[always] madvise never".into() }))
        );
        assert_eq!(parse_line("error fork: No memory"), Some(Ok(Line::Error("fork: No memory".into()))));
        assert_eq!(parse_line("done\r"), Some(Ok(Line::Done)));
        for noise in ["", "[    5.853913] reboot: Power down", "done and dusted", "metrics are nice"] {
            assert_eq!(parse_line(noise), None, "{noise:?}");
        }
    }

    #[test]
    fn stats_are_median_and_nearest_rank_p99() {
        assert_eq!(stats(&[]), None);
        assert_eq!(stats(&[5.0]), Some((5.0, 5.0)));
        assert_eq!(stats(&[3.0, 1.0, 2.0]), Some((2.0, 3.0)));
        assert_eq!(stats(&[4.0, 1.0, 3.0, 2.0]), Some((2.5, 4.0)));
        let hundred: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(stats(&hundred), Some((50.5, 99.0)));
        let thousand: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(stats(&thousand), Some((500.5, 990.0)));
    }

    #[test]
    fn boots_merge_into_one_boot_metric() {
        let mut r = Results::default();
        for ms in ["120", "100", "110"] {
            let done = r.absorb(
                &format!("metric boot_to_init unit ms samples 1 median {ms} p99 {ms}\ninfo running x\ndone\n"),
                "boot",
            );
            assert!(done);
        }
        r.absorb("metric pipe_roundtrip unit us samples 5 median 9 p99 10\nmetric pipe_roundtrip unit us samples 5 median 9 p99 10\n", "pipe");
        r.absorb("metric broken\nerror it broke\nmetric pipe_roundtrip unit ms samples 1 median 1 p99 1\n", "bad");
        r.finish();
        let boot = &r.metrics[BOOT_METRIC];
        assert_eq!((boot.samples, boot.median, boot.p99, boot.unit.as_str()), (3, 110.0, 120.0, "ms"));
        assert!(!r.info.contains_key("running"));
        assert_eq!(r.errors.len(), 4, "{:?}", r.errors);
        assert!(r.errors.iter().any(|e| e.contains("unknown metric pipe_roundtrip in ms")));
        assert!(r.errors.iter().any(|e| e.contains("measured twice")));
        assert!(r.errors.iter().any(|e| e == "bad: it broke"));
    }

    #[test]
    fn ratios_are_linux_over_morsel() {
        let systems = vec![
            system(
                MORSEL,
                "Morsel",
                &[metric("fork_exit_wait_1mib", "us", 250.0), metric("idle_child_memory", "KiB", 40.0)],
            ),
            system(
                LINUX_NOKASLR,
                "Linux nokaslr",
                &[metric("fork_exit_wait_1mib", "us", 1000.0), metric("idle_child_memory", "MiB", 1.0)],
            ),
            system(LINUX_DEFAULT, "Linux default", &[metric("fork_exit_wait_1mib", "us", 2000.0)]),
        ];
        let rows = rows(&systems);
        assert_eq!(rows.len(), METRICS.len());
        let fork = rows.iter().find(|r| r.metric == "fork_exit_wait_1mib").unwrap();
        assert_eq!(fork.ratios, vec![(LINUX_NOKASLR, Some(4.0)), (LINUX_DEFAULT, Some(8.0))]);
        assert_eq!(fork.cells[0].as_ref().unwrap().median, 250.0);
        // Different units give no ratio; a missing side gives none either.
        let memory = rows.iter().find(|r| r.metric == "idle_child_memory").unwrap();
        assert_eq!(memory.ratios, vec![(LINUX_NOKASLR, None), (LINUX_DEFAULT, None)]);
        let pipe = rows.iter().find(|r| r.metric == "pipe_roundtrip").unwrap();
        assert!(pipe.cells.iter().all(|c| c.is_err()));
        assert_eq!(ratio(Some(&metric("x", "us", 1.0)), Some(&metric("x", "us", 0.0))), None);
    }

    #[test]
    fn every_metric_must_be_measured_on_every_system() {
        let complete = vec![system(MORSEL, "Morsel", &all(1.0)), system(LINUX_NOKASLR, "Linux nokaslr", &all(2.0))];
        assert_eq!(unexpected_gaps(&complete), Vec::<String>::new());

        // A metric missing on Linux fails.
        let linux_gap = vec![system(MORSEL, "Morsel", &all(1.0)), system(LINUX_NOKASLR, "Linux nokaslr", &all(2.0)[1..])];
        assert_eq!(unexpected_gaps(&linux_gap).len(), 1);

        // A metric missing on Morsel fails, with its reason.
        let complete_metrics = all(1.0);
        let mut morsel = system(MORSEL, "Morsel", &complete_metrics[1..]);
        morsel.results.skipped.insert(complete_metrics[0].name.clone(), "it crashed".to_string());
        let gaps = unexpected_gaps(&[morsel, system(LINUX_NOKASLR, "Linux nokaslr", &all(2.0))]);
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert!(gaps[0].starts_with(&complete_metrics[0].name) && gaps[0].contains("it crashed"), "{gaps:?}");
    }

    #[test]
    fn the_table_shows_values_ratios_gaps_and_page_sizes() {
        let without_threads: Vec<Metric> =
            all(100.0).into_iter().filter(|m| !m.name.starts_with("thread") && !m.name.starts_with("futex")).collect();
        let mut morsel = system(MORSEL, "Morsel", &without_threads);
        morsel.results.skipped.insert("thread_create_join".into(), "the program failed".into());
        morsel.results.info.insert("page_size".into(), "4096".into());
        let mut linux = system(LINUX_NOKASLR, "Linux nokaslr", &all(250.0));
        linux.results.info.insert("transparent_hugepage".into(), "[always] madvise never".into());
        linux.results.info.insert("page_size".into(), "4096".into());
        let systems = [morsel, linux];
        let text = table(&systems, &settings());
        let line = text.lines().find(|l| l.starts_with("fork_exit_wait_1mib ")).unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words, ["fork_exit_wait_1mib", "us", "100.0", "150.0", "10", "250.0", "375.0", "10", "2.50x"]);
        let threads = text.lines().find(|l| l.starts_with("thread_create_join ")).unwrap();
        assert!(threads.contains("n/a") && threads.trim_end().ends_with('-'), "{threads}");
        assert!(text.contains("thread_create_join: not measured: the program failed"), "{text}");
        assert!(
            text.contains("page size 4 KiB")
                && text.contains("transparent huge pages on, as by default ([always] madvise never)"),
            "{text}"
        );
        assert!(text.contains("ratio = Linux median / Morsel median"));

        let json = json(&systems, &settings(), Duration::from_secs(3));
        assert!(json.contains(r#""ratio_to_morsel": {"linux_nokaslr": 2.5}"#), "{json}");
        assert!(json.contains(r#""morsel": {"missing": "not measured: the program failed"}"#), "{json}");
        assert_eq!(json.matches('{').count(), json.matches('}').count());
        assert_eq!(json.matches('[').count(), json.matches(']').count());
        let svg = svg(&systems, &settings());
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("Linux/Morsel 2.50") && !svg.contains("<>"));
    }

    #[test]
    fn json_and_xml_text_is_escaped() {
        assert_eq!(json_string("a \"b\" \\ c\n\u{1}"), r#""a \"b\" \\ c\n\u0001""#);
        assert_eq!(json_number(f64::NAN), "null");
        assert_eq!(xml("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
        assert_eq!(wrap("aaa bbb ccc", 7), ["aaa bbb", "    ccc"]);
    }

    #[test]
    fn the_footer_says_whether_linux_had_huge_pages() {
        assert!(thp_text("[always] madvise never").starts_with("transparent huge pages on"));
        assert!(thp_text("always madvise [never]").starts_with("transparent huge pages off in this run"));
        assert!(thp_text("?").contains("on by default"));
    }

    #[test]
    fn numbers_keep_about_four_digits() {
        assert_eq!(number(195803.44), "195803");
        assert_eq!(number(135.136), "135.1");
        assert_eq!(number(13.088), "13.09");
        assert_eq!(number(0.5), "0.500");
    }

    #[test]
    fn the_kernel_package_comes_from_apt_cache_depends() {
        let out = "linux-image-arm64\n  Depends: linux-image-6.1.0-56-arm64\n  Recommends: irqbalance\n";
        assert_eq!(kernel_package(out).as_deref(), Some("linux-image-6.1.0-56-arm64"));
        assert_eq!(
            kernel_package("linux-image-arm64\n  Depends: <linux-image-6.12.9-arm64>\n").as_deref(),
            Some("linux-image-6.12.9-arm64")
        );
        assert_eq!(kernel_package("linux-image-arm64\n  Depends: kmod\n"), None);
    }

    #[test]
    fn kernel_files_are_recognised() {
        let mut image = vec![0u8; 0x40];
        image[0x38..0x3c].copy_from_slice(b"ARM\x64");
        assert_eq!(kernel_format(&image), KernelFormat::Image);
        assert_eq!(kernel_format(&[0x1f, 0x8b, 8, 0]), KernelFormat::Gzip);
        assert_eq!(kernel_format(b"MZ\0\0zimg"), KernelFormat::Unknown);
    }

    #[test]
    fn arguments_choose_the_run() {
        let parse = |args: &[&str]| Settings::parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        let full = parse(&[]).unwrap();
        assert_eq!(
            (full.quick, full.release, full.boots, full.memory_mib, full.smp),
            (false, true, FULL_BOOTS, 1024, 1)
        );
        let quick = parse(&["--quick"]).unwrap();
        assert_eq!((quick.quick, quick.release, quick.boots), (true, false, QUICK_BOOTS));
        let custom = parse(&["--quick", "--release", "--smp", "2", "--memory", "2048", "--boots", "3"]).unwrap();
        assert_eq!((custom.release, custom.smp, custom.memory_mib, custom.boots), (true, 2, 2048, 3));
        assert!(parse(&["--smp"]).is_err());
        assert!(parse(&["--smp", "0"]).is_err());
        assert!(parse(&["--fast"]).unwrap_err().contains("--fast"));
    }
}
