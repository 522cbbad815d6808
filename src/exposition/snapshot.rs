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
                match tokio::task::spawn_blocking(move || gzip(&text)).await {
                    Ok(Ok(zipped)) => Some(Bytes::from(zipped)),
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

/// `data` as one gzip member, at the fastest level: a scrape's compression should cost little
/// CPU, and the exposition's repetitive text compresses well even so.
pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 8 + 64),
        flate2::Compression::fast(),
    );
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
}
