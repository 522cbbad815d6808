//! What the server shows: one assembled exposition as shared bytes (a scrape copies nothing),
//! its gzip made on the first scrape that asks for it and kept, and the index page's rows.

use std::io::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::OnceCell;

use super::{DiscoverySeries, ResourceView};

/// The state after the last cycle, or so far in the current one.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Every series the exporter renders itself (Bedrock, per-resource health, discovery),
    /// in the text format; a scrape appends the exporter's own metrics.
    pub text: Bytes,
    /// Every watched resource, as the index page shows it.
    pub resources: Vec<Arc<ResourceView>>,
    /// Every discovery.
    pub discoveries: Vec<DiscoverySeries>,
    /// Poll cycles finished so far; 0 until the first one ends.
    pub cycles: u64,
    /// `text` gzipped, once some scrape asked for it; `None` inside if that failed.
    gzip: OnceCell<Option<Bytes>>,
}

impl Snapshot {
    pub fn new(
        text: Bytes,
        resources: Vec<Arc<ResourceView>>,
        discoveries: Vec<DiscoverySeries>,
        cycles: u64,
    ) -> Snapshot {
        Snapshot {
            text,
            resources,
            discoveries,
            cycles,
            gzip: OnceCell::new(),
        }
    }

    /// `text` as one gzip member, compressed on a blocking thread the first time and shared by
    /// every later scrape of this snapshot (and by those that asked meanwhile). `None` if it
    /// cannot be made: the scrape is then answered uncompressed.
    pub async fn gzipped(&self) -> Option<Bytes> {
        self.gzip
            .get_or_init(|| async {
                let text = self.text.clone();
                // Kept as a sealed text too, so that it is sent without a copy.
                let zip = move || gzip(&text).map(|zipped| super::text::copy(&zipped));
                match tokio::task::spawn_blocking(zip).await {
                    Ok(Ok(zipped)) => Some(zipped),
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "cannot gzip the exposition");
                        None
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the gzip task ended early");
                        None
                    }
                }
            })
            .await
            .clone()
    }
}

/// `data` as one gzip member, at the fastest level: made once per snapshot, and the
/// exposition's repetitive text compresses well even so.
pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    gzip_at(data, flate2::Compression::fast())
}

/// `data` as one gzip member of stored (uncompressed) deflate blocks (RFC 1951, 3.2.4; RFC
/// 1952): for the few kilobytes of the exporter's own metrics, made at every scrape, where
/// compressing would cost more CPU than it saves bandwidth. Written by hand: a deflate encoder
/// at level 0 still runs its whole machinery.
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    const BLOCK: usize = u16::MAX as usize;
    let blocks = data.len().div_ceil(BLOCK).max(1);
    let mut out = Vec::with_capacity(data.len() + 5 * blocks + 18);
    // ID1 ID2, deflate, no flags, no mtime, no extra flags, unknown OS.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
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
    let mut crc = flate2::Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn gzip_at(data: &[u8], level: flate2::Compression) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 8 + 64), level);
    encoder.write_all(data)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    #[tokio::test]
    async fn the_gzip_is_made_once_and_shared() {
        let text = Bytes::from("metric_a 1\n".repeat(1000));
        let snapshot = Snapshot::new(text.clone(), Vec::new(), Vec::new(), 1);
        let first = snapshot.gzipped().await.unwrap();
        let second = snapshot.gzipped().await.unwrap();
        assert_eq!(
            first.as_ptr(),
            second.as_ptr(),
            "the same bytes, not a second gzip"
        );
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&first[..])
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, text);
        assert!(first.len() < text.len() / 10);
    }

    #[test]
    fn stored_members_decode_to_their_data() {
        for len in [0, 1, 7_000, 65_535, 65_536, 200_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut unzipped = Vec::new();
            flate2::read::GzDecoder::new(&gzip_stored(&data)[..])
                .read_to_end(&mut unzipped)
                .unwrap();
            assert_eq!(unzipped, data, "{len} bytes");
        }
    }
}
