//! The Morello capability reference vectors (`shared/vectors/morello-cap`):
//! their file format, and checking them against any implementation of the
//! capability operations.
//!
//! An implementation is a [`CapabilityEngine`]: [`ModelEngine`] runs the
//! software model of [`crate::capability`]; the hardware engine in
//! `arch-morello` runs the same cases through Morello instructions. The
//! host tests, `cargo xtask vectors` and the kernel's hardware test all
//! check lines with [`check_line`] or whole files with [`check_file`].
//!
//! Format: a header line (`# inputs -> outputs`), then one case per line,
//! fields separated by one space. Hex fields are `0x` plus a fixed number of
//! lowercase digits (16 for 64-bit values, 32 for 65-bit ones, 5 for perms,
//! 1 for uperms, 4 for otype, 2 for flags); `exp` is decimal 0..=63 and the
//! 0/1 fields are single digits. See the vectors' README for the meaning of
//! each column.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::capability::{Capability, Length, alignment_mask, representable_length};

/// An engine could not run a case (e.g. hardware cannot take a 2^64
/// length). Such a line is skipped: neither passed nor failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsupported {
    /// Why the engine cannot run the case.
    pub reason: &'static str,
}

/// `cc128m_decompress_raw(pesbt, cursor, tag = 1)`, field by field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeResult {
    /// Decoded base.
    pub base: u64,
    /// Decoded 65-bit top.
    pub top: u128,
    /// The 18-bit permission field.
    pub permissions: u32,
    /// The 4 user permission bits (115..112).
    pub user_permissions: u8,
    /// The 15-bit object type.
    pub object_type: u16,
    /// The top byte of the cursor.
    pub flags: u8,
    /// The decoded exponent.
    pub exponent: u8,
    /// False when the exponent is malformed (51..=62).
    pub bounds_valid: bool,
}

/// SCBNDS of the root capability (at address `req_base`) by `req_len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetBoundsResult {
    /// Whether the requested bounds were represented exactly.
    pub exact: bool,
    /// The new base.
    pub base: u64,
    /// The new 65-bit top.
    pub top: u128,
    /// The new pesbt (bits 127..64).
    pub pesbt: u64,
    /// The new address (unchanged).
    pub cursor: u64,
    /// The new exponent.
    pub exponent: u8,
}

/// SCVALUE to `new_addr` of the root bounded by SCBNDS to
/// [`req_base`, `req_base + req_len`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetAddrResult {
    /// The hardware's (fast) representability check.
    pub representable: bool,
    /// The tag afterwards.
    pub tag: bool,
    /// The base decoded from the result.
    pub base: u64,
    /// The 65-bit top decoded from the result.
    pub top: u128,
}

/// CRAM and CRRL of a length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlignResult {
    /// CRAM.
    pub alignment_mask: u64,
    /// CRRL (modulo 2^64).
    pub representable_length: u64,
}

/// An implementation of the four vector operations.
pub trait CapabilityEngine {
    /// Decodes a tagged capability from its bits.
    fn decode(&mut self, pesbt: u64, cursor: u64) -> Result<DecodeResult, Unsupported>;
    /// Bounds the root capability, at address `req_base`, to `req_len` bytes
    /// (SCBNDS, rounding outward).
    fn set_bounds(
        &mut self,
        req_base: u64,
        req_len: Length,
    ) -> Result<SetBoundsResult, Unsupported>;
    /// Bounds the root as [`CapabilityEngine::set_bounds`] does, then sets
    /// the address to `new_addr` (SCVALUE).
    fn set_address(
        &mut self,
        req_base: u64,
        req_len: Length,
        new_addr: u64,
    ) -> Result<SetAddrResult, Unsupported>;
    /// CRAM and CRRL of `req_len`.
    fn align(&mut self, req_len: u64) -> Result<AlignResult, Unsupported>;
}

/// The software model ([`crate::capability`]) as an engine. It runs every
/// case.
#[derive(Clone, Copy, Debug, Default)]
pub struct ModelEngine;

impl ModelEngine {
    fn bounded_root(req_base: u64, req_len: Length) -> (Capability, bool) {
        let rounded = Capability::root().set_address(req_base).set_bounds(req_len);
        (rounded.capability, rounded.exact)
    }
}

impl CapabilityEngine for ModelEngine {
    fn decode(&mut self, pesbt: u64, cursor: u64) -> Result<DecodeResult, Unsupported> {
        let cap = Capability::from_parts(pesbt, cursor, true);
        let bounds = cap.bounds();
        Ok(DecodeResult {
            base: bounds.base,
            top: bounds.top,
            permissions: cap.permissions().bits(),
            user_permissions: cap.permissions().user_bits(),
            object_type: cap.object_type(),
            flags: cap.flags(),
            exponent: bounds.exponent,
            bounds_valid: bounds.valid,
        })
    }

    fn set_bounds(
        &mut self,
        req_base: u64,
        req_len: Length,
    ) -> Result<SetBoundsResult, Unsupported> {
        let (cap, exact) = Self::bounded_root(req_base, req_len);
        let bounds = cap.bounds();
        Ok(SetBoundsResult {
            exact,
            base: bounds.base,
            top: bounds.top,
            pesbt: cap.pesbt(),
            cursor: cap.address(),
            exponent: bounds.exponent,
        })
    }

    fn set_address(
        &mut self,
        req_base: u64,
        req_len: Length,
        new_addr: u64,
    ) -> Result<SetAddrResult, Unsupported> {
        let (cap, _) = Self::bounded_root(req_base, req_len);
        let moved = cap.set_address(new_addr);
        let bounds = moved.bounds();
        Ok(SetAddrResult {
            representable: cap.is_representable_with_address(new_addr),
            tag: moved.tag(),
            base: bounds.base,
            top: bounds.top,
        })
    }

    fn align(&mut self, req_len: u64) -> Result<AlignResult, Unsupported> {
        Ok(AlignResult {
            alignment_mask: alignment_mask(req_len),
            representable_length: representable_length(req_len),
        })
    }
}

/// How a field is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// `0x` and exactly `digits` lowercase hex digits, value at most `max`.
    Hex { digits: usize, max: u128 },
    /// Decimal without leading zeros, at most `max`.
    Decimal { max: u128 },
}

const HEX64: Format = Format::Hex {
    digits: 16,
    max: u64::MAX as u128,
};
const HEX65: Format = Format::Hex {
    digits: 32,
    max: (1 << 65) - 1,
};
const PERMS: Format = Format::Hex {
    digits: 5,
    max: 0x3ffff,
};
const UPERMS: Format = Format::Hex {
    digits: 1,
    max: 0xf,
};
const OTYPE: Format = Format::Hex {
    digits: 4,
    max: 0x7fff,
};
const FLAGS: Format = Format::Hex {
    digits: 2,
    max: 0xff,
};
const EXPONENT: Format = Format::Decimal { max: 63 };
const BIT: Format = Format::Decimal { max: 1 };

impl Format {
    fn parse(self, text: &str) -> Result<u128, String> {
        let value = match self {
            Format::Hex { digits, .. } => {
                let hex = text
                    .strip_prefix("0x")
                    .ok_or_else(|| format!("`{text}` lacks the 0x prefix"))?;
                let well_formed = hex.len() == digits
                    && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                if !well_formed {
                    return Err(format!("`{text}` is not {digits} lowercase hex digits"));
                }
                u128::from_str_radix(hex, 16).map_err(|e| format!("`{text}`: {e}"))?
            }
            Format::Decimal { .. } => {
                let canonical = !text.is_empty()
                    && text.bytes().all(|b| b.is_ascii_digit())
                    && (text == "0" || !text.starts_with('0'));
                if !canonical {
                    return Err(format!("`{text}` is not a decimal number"));
                }
                text.parse::<u128>().map_err(|e| format!("`{text}`: {e}"))?
            }
        };
        let max = match self {
            Format::Hex { max, .. } | Format::Decimal { max } => max,
        };
        if value > max {
            return Err(format!("`{text}` exceeds {max:#x}"));
        }
        Ok(value)
    }

    fn render(self, value: u128) -> String {
        match self {
            Format::Hex { digits, .. } => format!("0x{value:0digits$x}"),
            Format::Decimal { .. } => format!("{value}"),
        }
    }
}

/// A named column.
#[derive(Clone, Copy, Debug)]
struct Field {
    name: &'static str,
    format: Format,
}

const fn field(name: &'static str, format: Format) -> Field {
    Field { name, format }
}

const DECODE_INPUTS: &[Field] = &[field("pesbt", HEX64), field("cursor", HEX64)];
const DECODE_OUTPUTS: &[Field] = &[
    field("base", HEX64),
    field("top", HEX65),
    field("perms", PERMS),
    field("uperms", UPERMS),
    field("otype", OTYPE),
    field("flags", FLAGS),
    field("exp", EXPONENT),
    field("bounds_valid", BIT),
];
const SETBOUNDS_INPUTS: &[Field] = &[field("req_base", HEX64), field("req_len", HEX65)];
const SETBOUNDS_OUTPUTS: &[Field] = &[
    field("exact", BIT),
    field("new_base", HEX64),
    field("new_top", HEX65),
    field("new_pesbt", HEX64),
    field("new_cursor", HEX64),
    field("exp", EXPONENT),
];
const SETADDR_INPUTS: &[Field] = &[
    field("req_base", HEX64),
    field("req_len", HEX65),
    field("new_addr", HEX64),
];
const SETADDR_OUTPUTS: &[Field] = &[
    field("representable", BIT),
    field("tag", BIT),
    field("new_base", HEX64),
    field("new_top", HEX65),
];
const ALIGN_INPUTS: &[Field] = &[field("req_len", HEX64)];
const ALIGN_OUTPUTS: &[Field] = &[
    field("alignment_mask", HEX64),
    field("representable_length", HEX64),
];

/// The four vector files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VectorKind {
    /// `decode.txt`: `pesbt cursor -> base top perms uperms otype flags exp bounds_valid`.
    Decode,
    /// `setbounds.txt`: `req_base req_len -> exact new_base new_top new_pesbt new_cursor exp`.
    SetBounds,
    /// `setaddr.txt`: `req_base req_len new_addr -> representable tag new_base new_top`.
    SetAddr,
    /// `align.txt`: `req_len -> alignment_mask representable_length`.
    Align,
}

impl VectorKind {
    /// Every kind, in the order the files are usually checked.
    pub const ALL: [VectorKind; 4] = [
        VectorKind::Decode,
        VectorKind::SetBounds,
        VectorKind::SetAddr,
        VectorKind::Align,
    ];

    /// The file holding this kind's vectors.
    pub const fn file_name(self) -> &'static str {
        match self {
            VectorKind::Decode => "decode.txt",
            VectorKind::SetBounds => "setbounds.txt",
            VectorKind::SetAddr => "setaddr.txt",
            VectorKind::Align => "align.txt",
        }
    }

    /// The kind whose vectors a file of this name holds.
    pub fn from_file_name(name: &str) -> Option<VectorKind> {
        VectorKind::ALL
            .into_iter()
            .find(|kind| kind.file_name() == name)
    }

    /// The exact header line of this kind's file.
    pub const fn header(self) -> &'static str {
        match self {
            VectorKind::Decode => {
                "# pesbt cursor -> base top perms uperms otype flags exp bounds_valid"
            }
            VectorKind::SetBounds => {
                "# req_base req_len -> exact new_base new_top new_pesbt new_cursor exp"
            }
            VectorKind::SetAddr => {
                "# req_base req_len new_addr -> representable tag new_base new_top"
            }
            VectorKind::Align => "# req_len -> alignment_mask representable_length",
        }
    }

    /// Checks that `line` is this kind's header.
    pub fn check_header(self, line: &str) -> Result<(), LineError> {
        if line == self.header() {
            Ok(())
        } else {
            Err(LineError::Malformed(format!(
                "expected header `{}`, found `{line}`",
                self.header()
            )))
        }
    }

    const fn columns(self) -> (&'static [Field], &'static [Field]) {
        match self {
            VectorKind::Decode => (DECODE_INPUTS, DECODE_OUTPUTS),
            VectorKind::SetBounds => (SETBOUNDS_INPUTS, SETBOUNDS_OUTPUTS),
            VectorKind::SetAddr => (SETADDR_INPUTS, SETADDR_OUTPUTS),
            VectorKind::Align => (ALIGN_INPUTS, ALIGN_OUTPUTS),
        }
    }
}

/// One parsed data line: the inputs and the expected outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VectorCase {
    /// A decode case.
    Decode {
        /// Bits 127..64.
        pesbt: u64,
        /// Bits 63..0.
        cursor: u64,
        /// The expected decoding.
        expected: DecodeResult,
    },
    /// A setbounds case.
    SetBounds {
        /// The root's address and requested base.
        req_base: u64,
        /// The requested length.
        req_len: Length,
        /// The expected result.
        expected: SetBoundsResult,
    },
    /// A setaddr case.
    SetAddr {
        /// The root's address and requested base.
        req_base: u64,
        /// The requested length.
        req_len: Length,
        /// The new address.
        new_addr: u64,
        /// The expected result.
        expected: SetAddrResult,
    },
    /// An align case.
    Align {
        /// The length.
        req_len: u64,
        /// The expected CRAM and CRRL.
        expected: AlignResult,
    },
}

/// A field whose value differs from the expected one, both written in the
/// file's own format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldMismatch {
    /// The column name from the header.
    pub field: &'static str,
    /// The value in the file.
    pub expected: String,
    /// The value the engine computed.
    pub got: String,
}

impl fmt::Display for FieldMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, got {}",
            self.field, self.expected, self.got
        )
    }
}

/// Why a line did not pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineError {
    /// The line does not follow the format.
    Malformed(String),
    /// The engine's results differ in these fields.
    Mismatch(Vec<FieldMismatch>),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::Malformed(description) => write!(f, "malformed: {description}"),
            LineError::Mismatch(fields) => {
                f.write_str("mismatch:")?;
                for (i, mismatch) in fields.iter().enumerate() {
                    let separator = if i == 0 { " " } else { "; " };
                    write!(f, "{separator}{mismatch}")?;
                }
                Ok(())
            }
        }
    }
}

/// The outcome of a line that did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineOutcome {
    /// Every output field matched.
    Matched,
    /// The engine could not run the case.
    Skipped(Unsupported),
}

// Parsed values are narrowed with `as`: each column's format bounds its
// value to the width of the field it fills.

fn length_field(value: u128) -> Result<Length, LineError> {
    Length::new(value)
        .ok_or_else(|| LineError::Malformed(format!("req_len {value:#x} exceeds 2^64")))
}

/// Parses a data line of `kind`.
pub fn parse_line(kind: VectorKind, line: &str) -> Result<VectorCase, LineError> {
    let (inputs, outputs) = kind.columns();
    let tokens: Vec<&str> = line.split(' ').collect();
    if tokens.len() != inputs.len() + outputs.len() {
        return Err(LineError::Malformed(format!(
            "expected {} fields, found {}",
            inputs.len() + outputs.len(),
            tokens.len()
        )));
    }
    let v = tokens
        .iter()
        .zip(inputs.iter().chain(outputs))
        .map(|(token, column)| {
            column
                .format
                .parse(token)
                .map_err(|e| LineError::Malformed(format!("{}: {e}", column.name)))
        })
        .collect::<Result<Vec<u128>, LineError>>()?;
    let case = match kind {
        VectorKind::Decode => VectorCase::Decode {
            pesbt: v[0] as u64,
            cursor: v[1] as u64,
            expected: DecodeResult {
                base: v[2] as u64,
                top: v[3],
                permissions: v[4] as u32,
                user_permissions: v[5] as u8,
                object_type: v[6] as u16,
                flags: v[7] as u8,
                exponent: v[8] as u8,
                bounds_valid: v[9] == 1,
            },
        },
        VectorKind::SetBounds => VectorCase::SetBounds {
            req_base: v[0] as u64,
            req_len: length_field(v[1])?,
            expected: SetBoundsResult {
                exact: v[2] == 1,
                base: v[3] as u64,
                top: v[4],
                pesbt: v[5] as u64,
                cursor: v[6] as u64,
                exponent: v[7] as u8,
            },
        },
        VectorKind::SetAddr => VectorCase::SetAddr {
            req_base: v[0] as u64,
            req_len: length_field(v[1])?,
            new_addr: v[2] as u64,
            expected: SetAddrResult {
                representable: v[3] == 1,
                tag: v[4] == 1,
                base: v[5] as u64,
                top: v[6],
            },
        },
        VectorKind::Align => VectorCase::Align {
            req_len: v[0] as u64,
            expected: AlignResult {
                alignment_mask: v[1] as u64,
                representable_length: v[2] as u64,
            },
        },
    };
    Ok(case)
}

impl DecodeResult {
    fn values(&self) -> [u128; 8] {
        [
            u128::from(self.base),
            self.top,
            u128::from(self.permissions),
            u128::from(self.user_permissions),
            u128::from(self.object_type),
            u128::from(self.flags),
            u128::from(self.exponent),
            u128::from(self.bounds_valid),
        ]
    }
}

impl SetBoundsResult {
    fn values(&self) -> [u128; 6] {
        [
            u128::from(self.exact),
            u128::from(self.base),
            self.top,
            u128::from(self.pesbt),
            u128::from(self.cursor),
            u128::from(self.exponent),
        ]
    }
}

impl SetAddrResult {
    fn values(&self) -> [u128; 4] {
        [
            u128::from(self.representable),
            u128::from(self.tag),
            u128::from(self.base),
            self.top,
        ]
    }
}

impl AlignResult {
    fn values(&self) -> [u128; 2] {
        [
            u128::from(self.alignment_mask),
            u128::from(self.representable_length),
        ]
    }
}

fn compare(columns: &[Field], expected: &[u128], got: &[u128]) -> Result<LineOutcome, LineError> {
    let mismatches: Vec<FieldMismatch> = columns
        .iter()
        .zip(expected.iter().zip(got))
        .filter(|(_, (e, g))| e != g)
        .map(|(column, (e, g))| FieldMismatch {
            field: column.name,
            expected: column.format.render(*e),
            got: column.format.render(*g),
        })
        .collect();
    if mismatches.is_empty() {
        Ok(LineOutcome::Matched)
    } else {
        Err(LineError::Mismatch(mismatches))
    }
}

/// Runs a parsed case on `engine` and compares every output field.
pub fn check_case(
    case: &VectorCase,
    engine: &mut dyn CapabilityEngine,
) -> Result<LineOutcome, LineError> {
    let outcome = match *case {
        VectorCase::Decode {
            pesbt,
            cursor,
            expected,
        } => engine
            .decode(pesbt, cursor)
            .map(|got| compare(DECODE_OUTPUTS, &expected.values(), &got.values())),
        VectorCase::SetBounds {
            req_base,
            req_len,
            expected,
        } => engine
            .set_bounds(req_base, req_len)
            .map(|got| compare(SETBOUNDS_OUTPUTS, &expected.values(), &got.values())),
        VectorCase::SetAddr {
            req_base,
            req_len,
            new_addr,
            expected,
        } => engine
            .set_address(req_base, req_len, new_addr)
            .map(|got| compare(SETADDR_OUTPUTS, &expected.values(), &got.values())),
        VectorCase::Align { req_len, expected } => engine
            .align(req_len)
            .map(|got| compare(ALIGN_OUTPUTS, &expected.values(), &got.values())),
    };
    outcome.unwrap_or_else(|unsupported| Ok(LineOutcome::Skipped(unsupported)))
}

/// Parses a data line of `kind` and checks it on `engine`.
pub fn check_line(
    kind: VectorKind,
    line: &str,
    engine: &mut dyn CapabilityEngine,
) -> Result<LineOutcome, LineError> {
    check_case(&parse_line(kind, line)?, engine)
}

/// A line that did not pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineFailure {
    /// 1-based line number in the file (the header is line 1).
    pub line_number: usize,
    /// The line's text.
    pub line: String,
    /// What went wrong.
    pub error: LineError,
}

/// The result of checking a whole file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReport {
    /// The kind of vectors checked.
    pub kind: VectorKind,
    /// Data lines checked (the header excluded).
    pub checked: usize,
    /// Lines whose every field matched.
    pub matched: usize,
    /// Lines the engine could not run.
    pub skipped: usize,
    /// Malformed or mismatching lines (a bad header included), in order.
    pub failures: Vec<LineFailure>,
}

impl FileReport {
    /// True when no line failed and at least one matched.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.matched > 0
    }
}

/// Checks a whole file of `kind`: its header, then every data line.
pub fn check_file(
    kind: VectorKind,
    contents: &str,
    engine: &mut dyn CapabilityEngine,
) -> FileReport {
    let mut report = FileReport {
        kind,
        checked: 0,
        matched: 0,
        skipped: 0,
        failures: Vec::new(),
    };
    let mut lines = contents.lines().enumerate();
    match lines.next() {
        Some((_, header)) => {
            if let Err(error) = kind.check_header(header) {
                report.failures.push(LineFailure {
                    line_number: 1,
                    line: String::from(header),
                    error,
                });
            }
        }
        None => report.failures.push(LineFailure {
            line_number: 1,
            line: String::new(),
            error: LineError::Malformed(String::from("empty file: no header")),
        }),
    }
    for (index, line) in lines {
        report.checked += 1;
        match check_line(kind, line, engine) {
            Ok(LineOutcome::Matched) => report.matched += 1,
            Ok(LineOutcome::Skipped(_)) => report.skipped += 1,
            Err(error) => report.failures.push(LineFailure {
                line_number: index + 1,
                line: String::from(line),
                error,
            }),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    const DECODE_LINE: &str = "0x47e44000224f0005 0xff8211c00000582f 0xff8211c000000000 \
        0x0000000000000000ff8211c000018920 0x11f91 0x4 0x0000 0xff 2 1";

    #[test]
    fn headers_name_the_columns() {
        for kind in VectorKind::ALL {
            let (inputs, outputs) = kind.columns();
            let names =
                |fields: &[Field]| fields.iter().map(|f| f.name).collect::<Vec<_>>().join(" ");
            let header = format!("# {} -> {}", names(inputs), names(outputs));
            assert_eq!(header, kind.header());
            assert_eq!(VectorKind::from_file_name(kind.file_name()), Some(kind));
            assert!(kind.check_header(kind.header()).is_ok());
            assert!(kind.check_header("# something else").is_err());
        }
        assert_eq!(VectorKind::from_file_name("README.md"), None);
    }

    #[test]
    fn a_decode_line_matches_the_model() {
        assert_eq!(
            check_line(VectorKind::Decode, DECODE_LINE, &mut ModelEngine),
            Ok(LineOutcome::Matched)
        );
    }

    #[test]
    fn mismatches_name_fields_in_file_format() {
        let wrong = DECODE_LINE
            .replace(" 0x4 ", " 0x5 ")
            .replace(" 2 1", " 3 1");
        let error = check_line(VectorKind::Decode, &wrong, &mut ModelEngine).unwrap_err();
        let LineError::Mismatch(fields) = &error else {
            panic!("expected a mismatch, got {error}")
        };
        let summary: Vec<_> = fields
            .iter()
            .map(|m| (m.field, m.expected.as_str(), m.got.as_str()))
            .collect();
        assert_eq!(summary, [("uperms", "0x5", "0x4"), ("exp", "3", "2")]);
        assert_eq!(
            error.to_string(),
            "mismatch: uperms: expected 0x5, got 0x4; exp: expected 3, got 2"
        );
    }

    #[test]
    fn malformed_lines_are_rejected() {
        let cases = [
            DECODE_LINE.replace("0x47e4", "0x47E4"),
            DECODE_LINE.replace("0x11f91", "0x11f9"),
            DECODE_LINE.replace(" 2 1", " 02 1"),
            DECODE_LINE.replace(" 2 1", " 64 1"),
            DECODE_LINE.replace(" 2 1", " 2 2"),
            DECODE_LINE.replace(" 0x4 ", " 0x4  "),
            DECODE_LINE.replace(" 0x4 ", " 4 "),
            DECODE_LINE.replace(" 2 1", " 2"),
            DECODE_LINE.replace(" 0x0000 ", " 0x8000 "),
            String::new(),
        ];
        for line in cases {
            let result = check_line(VectorKind::Decode, &line, &mut ModelEngine);
            assert!(
                matches!(result, Err(LineError::Malformed(_))),
                "{line:?} gave {result:?}"
            );
        }
        // A 65-bit length above 2^64 parses as a field but is not a length.
        let line = "0x0000000000000000 0x00000000000000010000000000000001 0 0x0000000000000000 \
            0x00000000000000010000000000000000 0xffffc00000010005 0x0000000000000000 50";
        assert!(matches!(
            check_line(VectorKind::SetBounds, line, &mut ModelEngine),
            Err(LineError::Malformed(_))
        ));
    }

    /// An engine that runs only lengths below 2^64, like hardware.
    struct NarrowEngine;

    impl CapabilityEngine for NarrowEngine {
        fn decode(&mut self, pesbt: u64, cursor: u64) -> Result<DecodeResult, Unsupported> {
            ModelEngine.decode(pesbt, cursor)
        }
        fn set_bounds(
            &mut self,
            req_base: u64,
            req_len: Length,
        ) -> Result<SetBoundsResult, Unsupported> {
            if req_len == Length::FULL {
                return Err(Unsupported {
                    reason: "length 2^64",
                });
            }
            ModelEngine.set_bounds(req_base, req_len)
        }
        fn set_address(
            &mut self,
            req_base: u64,
            req_len: Length,
            new_addr: u64,
        ) -> Result<SetAddrResult, Unsupported> {
            ModelEngine.set_address(req_base, req_len, new_addr)
        }
        fn align(&mut self, req_len: u64) -> Result<AlignResult, Unsupported> {
            ModelEngine.align(req_len)
        }
    }

    #[test]
    fn unsupported_cases_are_skipped_not_passed() {
        let file = format!(
            "{}\n{}\n{}\n",
            VectorKind::SetBounds.header(),
            "0x0000000000000000 0x00000000000000010000000000000000 1 0x0000000000000000 \
             0x00000000000000010000000000000000 0xffffc00000010005 0x0000000000000000 50",
            "0x0000000000001000 0x00000000000000000000000000000010 1 0x0000000000001000 \
             0x00000000000000000000000000001010 0xffffc00050101000 0x0000000000001000 0",
        );
        let model = check_file(VectorKind::SetBounds, &file, &mut ModelEngine);
        assert_eq!((model.checked, model.matched, model.skipped), (2, 2, 0));
        assert!(model.passed());
        let narrow = check_file(VectorKind::SetBounds, &file, &mut NarrowEngine);
        assert_eq!((narrow.checked, narrow.matched, narrow.skipped), (2, 1, 1));
        assert!(narrow.failures.is_empty());
    }

    #[test]
    fn file_level_failures_are_reported_with_line_numbers() {
        let file = format!("# wrong header\n{DECODE_LINE}\nnot a line\n");
        let report = check_file(VectorKind::Decode, &file, &mut ModelEngine);
        assert_eq!((report.checked, report.matched), (2, 1));
        let numbers: Vec<_> = report.failures.iter().map(|f| f.line_number).collect();
        assert_eq!(numbers, [1, 3]);
        assert!(!report.passed());
        let empty = check_file(VectorKind::Decode, "", &mut ModelEngine);
        assert!(!empty.passed());
        assert_eq!(empty.failures.len(), 1);
    }
}
