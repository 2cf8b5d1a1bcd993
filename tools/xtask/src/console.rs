//! Splitting the serial console into what μprocesses wrote and what the
//! kernel wrote. The kernel frames its own output as `ESC _ M` ... `ESC \`
//! (an APC string); everything outside frames is μprocess output.

/// A piece of console output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes a μprocess wrote.
    User(Vec<u8>),
    /// Kernel text.
    Kernel(Vec<u8>),
}

const START: &[u8] = b"\x1b_M";
const END: &[u8] = b"\x1b\\";

/// The splitter's state, fed the console in chunks of any size.
#[derive(Debug, Default)]
pub struct Demux {
    in_frame: bool,
    /// Bytes that may be the beginning of a marker split across chunks.
    pending: Vec<u8>,
}

impl Demux {
    /// Splits the next chunk of console bytes.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Piece> {
        let mut data = std::mem::take(&mut self.pending);
        data.extend_from_slice(chunk);
        let mut pieces = Vec::new();
        let mut rest = &data[..];
        loop {
            let marker = if self.in_frame { END } else { START };
            match find(rest, marker) {
                Some(at) => {
                    self.emit(&rest[..at], &mut pieces);
                    rest = &rest[at + marker.len()..];
                    self.in_frame = !self.in_frame;
                }
                None => {
                    // Keep a tail that could start the marker.
                    let keep = (1..marker.len()).rev().find(|&n| rest.ends_with(&marker[..n])).unwrap_or(0);
                    self.emit(&rest[..rest.len() - keep], &mut pieces);
                    self.pending = rest[rest.len() - keep..].to_vec();
                    return pieces;
                }
            }
        }
    }

    /// What is left at the end of the stream.
    pub fn finish(&mut self) -> Vec<Piece> {
        let rest = std::mem::take(&mut self.pending);
        let mut pieces = Vec::new();
        self.emit(&rest, &mut pieces);
        pieces
    }

    fn emit(&self, bytes: &[u8], pieces: &mut Vec<Piece>) {
        if !bytes.is_empty() {
            pieces.push(if self.in_frame { Piece::Kernel(bytes.to_vec()) } else { Piece::User(bytes.to_vec()) });
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(stream: &[u8], chunk: usize) -> (Vec<u8>, Vec<u8>) {
        let mut demux = Demux::default();
        let (mut user, mut kernel) = (Vec::new(), Vec::new());
        let mut pieces: Vec<Piece> = stream.chunks(chunk).flat_map(|c| demux.feed(c)).collect();
        pieces.extend(demux.finish());
        for piece in pieces {
            match piece {
                Piece::User(b) => user.extend(b),
                Piece::Kernel(b) => kernel.extend(b),
            }
        }
        (user, kernel)
    }

    #[test]
    fn separates_frames_at_any_chunking() {
        let stream = b"hello \x1b_M[ INFO] boot\n\x1b\\world\x1b_Mktest x ... ok\n\x1b\\!\x1b";
        for chunk in 1..stream.len() {
            let (user, kernel) = split_all(stream, chunk);
            assert_eq!(user, b"hello world!\x1b", "chunk size {chunk}");
            assert_eq!(kernel, b"[ INFO] boot\nktest x ... ok\n", "chunk size {chunk}");
        }
    }

    #[test]
    fn user_escape_sequences_pass_through() {
        let (user, kernel) = split_all(b"\x1b[1mbold\x1b[0m\x1b_", 3);
        assert_eq!(user, b"\x1b[1mbold\x1b[0m\x1b_");
        assert!(kernel.is_empty());
    }
}
