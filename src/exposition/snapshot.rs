//! What the server shows: one assembled exposition as shared bytes (a scrape copies nothing),
//! its gzip made on the first scrape that asks for it and kept, and the index page's rows.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::OnceCell;

use super::gzip::{self, Opened};
use super::{text, DiscoverySeries, ResourceView};

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
    /// Poll cycles finished so far, by all targets; 0 until the first one ends.
    pub cycles: u64,
    /// From when `/readyz` answers 200: once every target has finished its first cycle, or has
    /// spent `interval` in it. `None`: not before some target has started.
    pub ready_at: Option<tokio::time::Instant>,
    /// `text` compressed as the open start of a gzip member, once some scrape asked for it;
    /// `None` inside if that failed.
    gzip: OnceCell<Option<Opened>>,
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
            ready_at: None,
            gzip: OnceCell::new(),
        }
    }

    /// This snapshot, ready from `at` on.
    pub fn ready_from(self, at: Option<tokio::time::Instant>) -> Snapshot {
        Snapshot {
            ready_at: at,
            ..self
        }
    }

    /// Whether `/readyz` answers 200 at `now`.
    pub fn is_ready(&self, now: tokio::time::Instant) -> bool {
        self.ready_at.is_some_and(|at| at <= now)
    }

    /// `text` compressed as the start of a gzip member (see [`gzip`]), on a blocking thread the
    /// first time, then shared by every later scrape of this snapshot (and by those that asked
    /// meanwhile). `None` if it cannot be made: the scrape is then answered uncompressed.
    pub async fn gzipped(&self) -> Option<Opened> {
        self.gzip
            .get_or_init(|| async {
                let plain = self.text.clone();
                // Kept as a sealed text too, so that it is sent without a copy.
                let zip = move || gzip::open(&plain, text::copy);
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
            first.bytes.as_ptr(),
            second.bytes.as_ptr(),
            "the same bytes, not a second compression"
        );
        let mut member = first.bytes.to_vec();
        member.extend_from_slice(&first.close(b"own 1\n"));
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&member[..])
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, [&text[..], b"own 1\n"].concat());
    }
}
