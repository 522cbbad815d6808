//! The exposition `/metrics` serves, built so that its cost follows what changed, not what is
//! watched.
//!
//! - [`render`]: one resource's lines, family by family, written when the resource changes.
//! - [`Assembler`]: every resource's lines assembled family by family into one buffer; a
//!   resource that did not change is copied from the last buffer, not rendered again.
//! - [`snapshot`]: an assembled exposition as shared bytes, with its gzip made once.
//! - [`gzip`]: that gzip as the open start of one member, which each scrape closes.
//! - [`telemetry`]: the exporter's own metrics (the `prometheus` crate), encoded again only
//!   after one changed; the process metrics at every scrape.
//!
//! The families it renders are declared in [`crate::bedrock::families`].

pub mod gzip;
pub mod render;
pub mod snapshot;
pub mod telemetry;
pub mod text;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

pub use snapshot::Snapshot;
pub use telemetry::Telemetry;

use self::render::{header, offset, render_family, sort_fingerprint, sorted, Lines, Order};
use self::text::Writer;
use crate::bedrock::families::{self, DiscoveryHealth, Subject, FAMILIES};
use crate::bedrock::series::series;
use crate::bedrock::{FetchError, Kind, Record};
use crate::fleet::{Origin, Resource};

/// The health of one kind's discovery in one target, for its series and the index page.
#[derive(Debug, Clone)]
pub struct DiscoverySeries {
    pub kind: Kind,
    pub account: String,
    pub region: String,
    /// Whether the last listing (every page) succeeded.
    pub up: bool,
    /// Resources watched because it found them.
    pub discovered: usize,
    pub last_error: Option<FetchError>,
}

/// What the index page shows of one resource; made when the resource changes, shared by every
/// snapshot until it changes again.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceView {
    pub kind: Kind,
    pub identifier: String,
    pub account: String,
    pub region: String,
    pub origin: Origin,
    pub up: bool,
    /// The resource's name once a listing or read told it.
    pub name: Option<String>,
    pub arn: Option<String>,
    pub status: Option<String>,
    /// Whether its status still changes by itself (a running job, a model being created).
    pub settled: bool,
    pub creation_time: Option<f64>,
    pub end_time: Option<f64>,
    pub training_loss: Option<f64>,
    pub validation_losses: Vec<Option<f64>>,
    /// The failure message of a resource whose status is failed; `None` otherwise.
    pub failure_message: Option<String>,
    pub last_error: Option<String>,
    pub last_success: Option<f64>,
}

impl ResourceView {
    fn of(r: &Resource) -> ResourceView {
        let record = r.record.as_ref();
        ResourceView {
            kind: r.kind,
            identifier: r.identifier.clone(),
            account: r.account.clone(),
            region: r.region.clone(),
            origin: r.origin,
            up: r.up,
            name: record.and_then(Record::name).map(str::to_owned),
            arn: r.arn.clone(),
            status: r.status().map(str::to_owned),
            settled: record.is_some_and(Record::is_settled),
            creation_time: record.and_then(Record::creation_time),
            end_time: record.and_then(Record::end_time),
            training_loss: record.and_then(|r| r.losses().0),
            validation_losses: record.map(|r| r.losses().1.to_vec()).unwrap_or_default(),
            failure_message: record
                .filter(|r| r.is_failed())
                .and_then(Record::failure_message)
                .map(str::to_owned),
            last_error: r.last_error.as_ref().map(ToString::to_string),
            last_success: r.last_success,
        }
    }
}

/// What the assembler keeps of a resource between assemblies.
#[derive(Debug)]
struct Rendered {
    /// The resource's version these lines show.
    version: u64,
    /// Where its lines are in the last assembled text.
    lines: Lines,
    fingerprint: u64,
    view: Arc<ResourceView>,
}

/// Orders in which families list resources: positions in the list of the last assembly.
type Orders = HashMap<Order, Vec<u32>>;

/// A resource's lines before any are placed: one empty slot per family it has.
fn empty_lines(kind: Kind) -> Lines {
    vec![(0, 0); families::slots(kind)].into_boxed_slice()
}

/// Assembles the exposition, keeping each resource's place in the last one.
#[derive(Debug, Default)]
pub struct Assembler {
    /// The last assembled text: an unchanged resource's lines are copied from here.
    text: Bytes,
    rendered: HashMap<u64, Rendered>,
    /// The resource ids of the last assembly, in the order given, which `orders` index.
    ids: Vec<u64>,
    orders: Orders,
    /// Families left out (`exclude_metrics`), by index.
    excluded: Vec<bool>,
    /// The discovery series of the last text.
    discovery_lines: Vec<Vec<u8>>,
}

/// One assembled exposition and the index page's rows, in the order of the resources given.
#[derive(Debug)]
pub struct Assembled {
    pub text: Bytes,
    pub views: Vec<Arc<ResourceView>>,
}

impl Assembler {
    /// An assembler that leaves out the families named in `excluded`.
    pub fn new(excluded: &[String]) -> Assembler {
        let mut assembler = Assembler::default();
        assembler.exclude(excluded);
        assembler
    }

    /// Leaves out the families named in `excluded` (names it does not render are ignored: the
    /// config checks them). Every resource is rendered again at the next assembly, so that a
    /// family taken back in has lines.
    pub fn exclude(&mut self, excluded: &[String]) {
        let mut flags = vec![false; families::count()];
        for name in excluded {
            if let Some(index) = families::index_of(name) {
                flags[index] = true;
            }
        }
        if flags != self.excluded {
            self.excluded = flags;
            self.rendered.clear();
        }
    }

    /// Assembles the exposition of `resources` and `discoveries`: family by family, in name
    /// order, each family's resources in the order of their first series. Resources whose
    /// version changed are rendered; the others are copied from the last assembly.
    pub fn assemble(
        &mut self,
        resources: &[&Resource],
        discoveries: &[DiscoverySeries],
    ) -> Assembled {
        // Note what changed; it is rendered as the text is written.
        let mut fresh: Vec<bool> = Vec::with_capacity(resources.len());
        let ids: Vec<u64> = resources.iter().map(|r| r.id).collect();
        let mut layout_changed = ids != self.ids;
        for r in resources {
            match self.rendered.get(&r.id) {
                Some(kept) if kept.version == r.version => fresh.push(false),
                kept => {
                    let fingerprint = sort_fingerprint(r);
                    layout_changed |= kept.is_none_or(|k| k.fingerprint != fingerprint);
                    fresh.push(true);
                    self.rendered.insert(
                        r.id,
                        Rendered {
                            version: r.version,
                            lines: empty_lines(r.kind),
                            fingerprint,
                            view: Arc::new(ResourceView::of(r)),
                        },
                    );
                }
            }
        }
        if layout_changed || self.orders.is_empty() {
            self.orders = Kind::ALL
                .iter()
                .map(|&kind| Order::Identity(kind))
                .chain([Order::Health])
                .map(|order| (order, sorted(order, resources)))
                .collect();
            self.ids = ids;
        }

        // Nothing changed: the last text is still right, and stays the one text in memory.
        let discovery_lines = Self::discovery_lines(discoveries);
        if !layout_changed
            && !fresh.contains(&true)
            && discovery_lines == self.discovery_lines
            && !self.text.is_empty()
        {
            let views = resources
                .iter()
                .filter_map(|r| self.rendered.get(&r.id).map(|kept| kept.view.clone()))
                .collect();
            return Assembled {
                text: self.text.clone(),
                views,
            };
        }

        // Written once, front to back, into a sealed memory file the server sends without
        // copying; the heap if the file cannot be written.
        let mut placed: Vec<Lines> = resources.iter().map(|r| empty_lines(r.kind)).collect();
        let mut writer = Writer::new();
        let written = self
            .write(
                resources,
                &fresh,
                &discovery_lines,
                &mut placed,
                &mut writer,
            )
            .and_then(|()| writer.finish());
        let text = written.unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot write the exposition to a memory file; using the heap");
            let mut heap = Writer::heap();
            let _ = self.write(resources, &fresh, &discovery_lines, &mut placed, &mut heap);
            heap.finish().unwrap_or_default()
        });

        // Keep what the next assembly copies from, and forget what is no longer watched.
        let mut views = Vec::with_capacity(resources.len());
        let mut kept = HashMap::with_capacity(resources.len());
        for (r, lines) in resources.iter().zip(placed) {
            if let Some(mut rendered) = self.rendered.remove(&r.id) {
                rendered.lines = lines;
                views.push(rendered.view.clone());
                kept.insert(r.id, rendered);
            }
        }
        self.rendered = kept;
        self.text = text.clone();
        self.discovery_lines = discovery_lines;
        Assembled { text, views }
    }

    /// Writes the exposition family by family: each family's header when it has lines, then
    /// its lines, resource by resource in its order: rendered for those that changed, copied
    /// from the last text for the others. Notes where each resource's lines went in `placed`.
    /// Unchanged resources that follow each other in the last text too are copied as one run.
    fn write(
        &self,
        resources: &[&Resource],
        fresh: &[bool],
        discovery_lines: &[Vec<u8>],
        placed: &mut [Lines],
        out: &mut Writer,
    ) -> std::io::Result<()> {
        // Where each unchanged resource's lines are in the last text, looked up once.
        let kept: Vec<Option<&Lines>> = resources
            .iter()
            .zip(fresh)
            .map(|(r, &fresh)| {
                if fresh {
                    None
                } else {
                    self.rendered.get(&r.id).map(|kept| &kept.lines)
                }
            })
            .collect();
        let mut rendered = Vec::new();
        let mut heading = Vec::new();
        for family in (0..families::count()).filter(|f| !self.excluded.get(*f).is_some_and(|x| *x))
        {
            heading.clear();
            header(&mut heading, family);
            let mut family_out = FamilyWriter {
                out,
                heading: &heading,
                headed: false,
                old: &self.text,
                run: None,
            };
            family_out.put(&discovery_lines[family])?;
            let subject = FAMILIES[family].subject;
            let order = Order::of(subject).map_or(&[][..], |order| &self.orders[&order]);
            for &position in order {
                let position = position as usize;
                let Some(slot) = families::slot(subject, resources[position].kind) else {
                    continue;
                };
                placed[position][slot] = match kept[position] {
                    Some(lines) => family_out.copy(lines[slot])?,
                    None if fresh[position] => {
                        rendered.clear();
                        render_family(resources[position], family, &mut rendered);
                        family_out.put(&rendered)?
                    }
                    None => (0, 0),
                };
            }
            family_out.flush()?;
        }
        Ok(())
    }

    /// The series of the discovery families, by family (few: two a discovery).
    fn discovery_lines(discoveries: &[DiscoverySeries]) -> Vec<Vec<u8>> {
        let mut lines = vec![Vec::new(); families::count()];
        let mut sorted: Vec<&DiscoverySeries> = discoveries.iter().collect();
        sorted.sort_by(|a, b| {
            (a.account.as_str(), a.kind.as_str(), a.region.as_str()).cmp(&(
                b.account.as_str(),
                b.kind.as_str(),
                b.region.as_str(),
            ))
        });
        for (family, out) in lines.iter_mut().enumerate() {
            let Subject::Discovery(what) = FAMILIES[family].subject else {
                continue;
            };
            for d in &sorted {
                let labels = [
                    ("account_id", d.account.as_str()),
                    ("kind", d.kind.as_str()),
                    ("region", d.region.as_str()),
                ];
                let value = match what {
                    DiscoveryHealth::Up if d.up => 1.0,
                    DiscoveryHealth::Up => 0.0,
                    DiscoveryHealth::Discovered => d.discovered as f64,
                };
                series(out, FAMILIES[family].name, &labels, value);
            }
        }
        lines
    }
}

/// One family's part of a text being written: its header before its first line, and lines
/// copied from the last text gathered into runs while they follow each other there.
struct FamilyWriter<'a> {
    out: &'a mut Writer,
    heading: &'a [u8],
    headed: bool,
    old: &'a [u8],
    /// A run of the last text still to be written: its start and end there.
    run: Option<(usize, usize)>,
}

impl FamilyWriter<'_> {
    /// Writes `lines`; returns where they went.
    fn put(&mut self, lines: &[u8]) -> std::io::Result<(u32, u32)> {
        if lines.is_empty() {
            return Ok((0, 0));
        }
        self.flush()?;
        self.head()?;
        let start = self.out.position();
        self.out.write(lines)?;
        Ok((offset(start), offset(lines.len())))
    }

    /// Copies the lines at `(start, len)` of the last text; returns where they go.
    fn copy(&mut self, (start, len): (u32, u32)) -> std::io::Result<(u32, u32)> {
        let (start, end) = (start as usize, start as usize + len as usize);
        if start == end || end > self.old.len() {
            return Ok((0, 0));
        }
        self.head()?;
        let at = match &mut self.run {
            Some((run_start, run_end)) if *run_end == start => {
                let at = self.out.position() + (start - *run_start);
                *run_end = end;
                at
            }
            _ => {
                self.flush()?;
                self.run = Some((start, end));
                self.out.position()
            }
        };
        Ok((offset(at), len))
    }

    fn head(&mut self) -> std::io::Result<()> {
        if !self.headed {
            self.out.write(self.heading)?;
            self.headed = true;
        }
        Ok(())
    }

    /// Writes the pending run.
    fn flush(&mut self) -> std::io::Result<()> {
        match self.run.take() {
            Some((start, end)) => self.out.write(&self.old[start..end]),
            None => Ok(()),
        }
    }
}

/// The exposition of `resources` and `discoveries` from scratch: what an assembler makes at its
/// first assembly, for tests and benchmarks.
pub fn render_all(resources: &[&Resource], discoveries: &[DiscoverySeries]) -> Bytes {
    Assembler::default().assemble(resources, discoveries).text
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;
    use crate::bedrock::{JobRecord, ModelRecord, Record, StatusDetails};

    /// A small deterministic generator, so the test is the same on every run.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, below: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (self.0 >> 33) % below
        }
    }

    fn job(rng: &mut Lcg, name: &str, account: &str, region: &str) -> Record {
        let statuses = ["InProgress", "Completed", "Failed", "Stopping", "Paused"];
        Record::Job(JobRecord {
            job_arn: Some(format!("arn:aws:bedrock:{region}:{account}:model-customization-job/amazon.titan-text-express-v1:0:8k/{name}")),
            job_name: Some(name.to_owned()),
            status: Some(statuses[rng.next(5) as usize].to_owned()),
            status_details: StatusDetails {
                training: Some("InProgress".to_owned()),
                ..StatusDetails::default()
            },
            failure_message: Some(format!("broken \"record\" {}\nsecond line", rng.next(3))),
            creation_time: Some(1_000.0),
            last_modified_time: Some(rng.next(1000) as f64),
            training_loss: (rng.next(2) == 0).then(|| rng.next(100) as f64 / 7.0),
            validation_losses: (0..rng.next(12)).map(|i| Some(i as f64)).collect(),
            hyper_parameters: [("epochCount".to_owned(), rng.next(9).to_string())].into(),
            ..JobRecord::default()
        })
    }

    fn model(rng: &mut Lcg, name: &str) -> Record {
        Record::Model(ModelRecord {
            model_name: Some(name.to_owned()),
            model_status: Some(["Active", "Creating", "Failed"][rng.next(3) as usize].to_owned()),
            job_name: Some(format!("job-{}", rng.next(4))),
            training_loss: Some(rng.next(10) as f64),
            ..ModelRecord::default()
        })
    }

    /// Whatever changes between assemblies, copying unchanged lines gives the exposition a
    /// fresh render of the same resources gives.
    #[test]
    fn an_incremental_assembly_equals_a_fresh_one() {
        let mut rng = Lcg(7);
        let now = Instant::now();
        let mut resources: Vec<Resource> = Vec::new();
        let mut assembler = Assembler::default();
        let discoveries = [DiscoverySeries {
            kind: Kind::Job,
            account: "111111111111".to_owned(),
            region: "us-east-1".to_owned(),
            up: true,
            discovered: 3,
            last_error: None,
        }];
        for round in 0..40 {
            // Add a few, change a few, remove a few, read some back as failures.
            for _ in 0..rng.next(6) {
                let n = rng.next(1_000);
                let account = ["111111111111", "222222222222"][rng.next(2) as usize];
                let region = ["us-east-1", "eu-west-1"][rng.next(2) as usize];
                let (kind, record) = if rng.next(3) == 0 {
                    (Kind::Model, model(&mut rng, &format!("model-{n}")))
                } else {
                    (
                        Kind::Job,
                        job(&mut rng, &format!("job-{n}"), account, region),
                    )
                };
                let mut r =
                    Resource::configured(kind, &format!("id-{round}-{n}"), region, account, now);
                if rng.next(4) > 0 {
                    r.read(record, f64::from(round));
                }
                resources.push(r);
            }
            for r in resources.iter_mut() {
                match rng.next(10) {
                    0 => {
                        let n = rng.next(50);
                        let record = match r.kind {
                            Kind::Job => job(
                                &mut rng,
                                &format!("job-{n}"),
                                &r.account.clone(),
                                &r.region.clone(),
                            ),
                            _ => model(&mut rng, &format!("model-{n}")),
                        };
                        r.read(record, f64::from(round));
                    }
                    1 => r.failed(FetchError::new(
                        crate::bedrock::ErrorKind::Throttling,
                        "slow down",
                    )),
                    2 if rng.next(4) == 0 => {
                        r.failed(FetchError::new(crate::bedrock::ErrorKind::NotFound, "gone"))
                    }
                    _ => {}
                }
            }
            if !resources.is_empty() && rng.next(3) == 0 {
                let gone = rng.next(resources.len() as u64) as usize;
                resources.remove(gone);
            }
            let all: Vec<&Resource> = resources.iter().collect();
            let assembled = assembler.assemble(&all, &discoveries);
            let fresh = render_all(&all, &discoveries);
            assert_eq!(
                String::from_utf8_lossy(&assembled.text),
                String::from_utf8_lossy(&fresh),
                "round {round}"
            );
            assert_eq!(assembled.views.len(), resources.len());
        }
        assert!(
            resources.len() > 20,
            "the test grew a fleet: {}",
            resources.len()
        );
    }

    #[test]
    fn an_assembly_without_changes_keeps_the_same_text() {
        let mut rng = Lcg(3);
        let mut r = Resource::configured(Kind::Job, "job-a", "us-east-1", "", Instant::now());
        r.read(job(&mut rng, "job-a", "111111111111", "us-east-1"), 1.0);
        let mut assembler = Assembler::default();
        let first = assembler.assemble(&[&r], &[]).text;
        let again = assembler.assemble(&[&r], &[]).text;
        assert_eq!(first.as_ptr(), again.as_ptr(), "not written a second time");
        r.read(job(&mut rng, "job-a", "111111111111", "us-east-1"), 2.0);
        let changed = assembler.assemble(&[&r], &[]).text;
        assert_ne!(first.as_ptr(), changed.as_ptr());
    }

    #[test]
    fn excluded_families_are_left_out_and_come_back() {
        let mut rng = Lcg(1);
        let mut r = Resource::configured(Kind::Job, "job-a", "us-east-1", "", Instant::now());
        r.read(job(&mut rng, "job-a", "111111111111", "us-east-1"), 1.0);
        let mut assembler = Assembler::new(&["bedrock_customization_job_stage_status".to_owned()]);
        let text = assembler.assemble(&[&r], &[]).text;
        let text = String::from_utf8_lossy(&text);
        assert!(
            !text.contains("bedrock_customization_job_stage_status"),
            "{text}"
        );
        assert!(text.contains("bedrock_customization_job_status{"), "{text}");
        assembler.exclude(&[]);
        let text = assembler.assemble(&[&r], &[]).text;
        assert!(String::from_utf8_lossy(&text).contains("bedrock_customization_job_stage_status{"));
    }
}
