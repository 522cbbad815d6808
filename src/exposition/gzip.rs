//! Gzip for scrapes that ask for it, one member a response (RFC 1952), as every client reads it.
//!
//! The snapshot's text is compressed once, into the open start of a member: the header and a
//! deflate stream that ends on a sync flush rather than a final block. A scrape then closes that
//! member with the exporter's own metrics as stored (uncompressed) blocks, the last one final,
//! and the trailer for the whole: the two checksums combined, the two lengths added. A few
//! kilobytes a scrape, and no compression work.

use std::io::{self, Write as _};

use bytes::Bytes;
use flate2::write::DeflateEncoder;
use flate2::Compression;

/// ID1 ID2, deflate, no flags, no modification time, no extra flags, unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// The compressed start of a member, and what its trailer needs to know of the text.
#[derive(Debug, Clone)]
pub struct Opened {
    /// Header and deflate blocks, none final.
    pub bytes: Bytes,
    crc: u32,
    len: u64,
}

/// Compresses `text` (at the fastest level: the exposition's repetitive text compresses well
/// even so) into the start of a member; `keep` decides where its bytes live.
pub fn open(text: &[u8], keep: impl FnOnce(&[u8]) -> Bytes) -> io::Result<Opened> {
    let mut out = Vec::with_capacity(text.len() / 8 + 64);
    out.extend_from_slice(&HEADER);
    let mut encoder = DeflateEncoder::new(out, Compression::fast());
    encoder.write_all(text)?;
    // A sync flush ends on a byte boundary with every input byte emitted, and no final block.
    encoder.flush()?;
    let bytes = keep(encoder.get_ref());
    let mut crc = crc32fast::Hasher::new();
    crc.update(text);
    Ok(Opened {
        bytes,
        crc: crc.finalize(),
        len: text.len() as u64,
    })
}

impl Opened {
    /// The rest of the member: `tail` in stored blocks, the last one final, then the trailer
    /// (CRC-32 and length modulo 2^32 of the text and `tail` together).
    pub fn close(&self, tail: &[u8]) -> Vec<u8> {
        let mut out = stored_blocks(tail);
        let mut crc = crc32fast::Hasher::new_with_initial_len(self.crc, self.len);
        let mut more = crc32fast::Hasher::new();
        more.update(tail);
        crc.combine(&more);
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        out.extend_from_slice(&((self.len + tail.len() as u64) as u32).to_le_bytes());
        out
    }
}

/// `data` as stored deflate blocks (RFC 1951, 3.2.4), the last one final; one empty final block
/// for no data.
fn stored_blocks(data: &[u8]) -> Vec<u8> {
    const BLOCK: usize = u16::MAX as usize;
    let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / BLOCK + 1) + 8);
    let mut chunks = data.chunks(BLOCK).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let len = chunk.len() as u16;
        out.push(last);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    /// One member, which a reader that stops after the first member (as `curl --compressed`
    /// and browsers do) reads whole.
    #[test]
    fn an_opened_member_closed_with_a_tail_is_one_member_of_both() {
        let text: Vec<u8> = "bedrock_metric{a=\"1\"} 1\n".repeat(5_000).into_bytes();
        let opened = open(&text, Bytes::copy_from_slice).unwrap();
        assert!(opened.bytes.len() < text.len() / 10, "compressed");
        for len in [0, 1, 7_000, 65_535, 65_536, 200_000] {
            let tail: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut member = opened.bytes.to_vec();
            member.extend_from_slice(&opened.close(&tail));
            let mut decoder = flate2::read::GzDecoder::new(&member[..]);
            let mut unzipped = Vec::new();
            decoder.read_to_end(&mut unzipped).unwrap();
            assert_eq!(unzipped.len(), text.len() + tail.len(), "{len}");
            assert!(
                unzipped.starts_with(&text) && unzipped.ends_with(&tail),
                "{len}"
            );
        }
    }
}
