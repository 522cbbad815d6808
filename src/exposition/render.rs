//! One resource's series, family by family: what a resource contributes to the exposition,
//! rendered when it changes and kept until it does again. A kind's families are written by its
//! module ([`crate::bedrock::KindRecord::render`]); the health families here. The text format
//! itself is [`crate::bedrock::series`].
//!
//! Within a family, resources are listed by their identity (account, name, region; health
//! families by account, identifier, kind, region), each resource's series together, sorted by
//! their label values.

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::bedrock::families::{Health, Subject, FAMILIES};
use crate::bedrock::series::{self, Ident};
use crate::bedrock::{Kind, Record};
use crate::fleet::Resource;

/// Where each of a resource's families' lines are in a buffer: (start, length) in bytes, one
/// slot per family it has ([`crate::bedrock::families::slot`]).
pub type Lines = Box<[(u32, u32)]>;

/// A buffer offset as stored in [`Lines`]; an exposition is far below 4 GiB.
pub fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Appends `resource`'s series of one family (by index) to `out`.
pub fn render_family(resource: &Resource, index: usize, out: &mut Vec<u8>) {
    let family = &FAMILIES[index];
    match family.subject {
        Subject::Resource(Health::Up) => {
            let up = if resource.up { 1.0 } else { 0.0 };
            series::series(out, family.name, &health_labels(resource), up);
        }
        Subject::Resource(Health::LastSuccess) => {
            if let Some(at) = resource.last_success {
                series::series(out, family.name, &health_labels(resource), at);
            }
        }
        Subject::Kind { kind, family } if kind == resource.kind => {
            if let Some(record) = &resource.record {
                record.render(family, &ident(resource), out);
            }
        }
        Subject::Kind { .. } | Subject::Discovery(_) => {}
    }
}

fn health_labels(resource: &Resource) -> [(&str, &str); 4] {
    [
        ("account_id", resource.account.as_str()),
        ("identifier", resource.identifier.as_str()),
        ("kind", resource.kind.as_str()),
        ("region", resource.region.as_str()),
    ]
}

/// The identity labels of a resource's Bedrock series.
fn ident(r: &Resource) -> Ident<'_> {
    Ident {
        account: &r.account,
        label: r.kind.spec().identity_label,
        name: name(r),
        region: &r.region,
    }
}

/// Writes a family's `# HELP` and `# TYPE` lines.
pub fn header(out: &mut Vec<u8>, family: usize) {
    let family = &FAMILIES[family];
    series::header(out, family.name, family.help);
}

/// The order a family lists its resources in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    /// The resources of one kind, by account, name and region.
    Identity(Kind),
    /// Every resource, by account, identifier, kind and region.
    Health,
}

impl Order {
    /// The order of a family's resources; `None` for the discovery families.
    pub fn of(subject: Subject) -> Option<Order> {
        match subject {
            Subject::Kind { kind, .. } => Some(Order::Identity(kind)),
            Subject::Resource(_) => Some(Order::Health),
            Subject::Discovery(_) => None,
        }
    }
}

/// The positions of `resources` in `order`.
pub fn sorted(order: Order, resources: &[&Resource]) -> Vec<u32> {
    let at = |i: &u32| resources[*i as usize];
    match order {
        Order::Identity(kind) => {
            let mut positions: Vec<u32> = (0..resources.len())
                .filter(|&i| resources[i].kind == kind)
                .map(offset)
                .collect();
            positions.sort_by(|a, b| identity(at(a)).cmp(&identity(at(b))));
            positions
        }
        Order::Health => {
            let mut positions: Vec<u32> = (0..resources.len()).map(offset).collect();
            positions.sort_by(|a, b| health(at(a)).cmp(&health(at(b))));
            positions
        }
    }
}

fn identity(r: &Resource) -> (&str, &str, &str) {
    (r.account.as_str(), name(r), r.region.as_str())
}

fn health(r: &Resource) -> (&str, &str, &str, &str) {
    (
        r.account.as_str(),
        r.identifier.as_str(),
        r.kind.as_str(),
        r.region.as_str(),
    )
}

/// The name label of a resource's Bedrock series.
fn name(r: &Resource) -> &str {
    r.record
        .as_ref()
        .and_then(Record::name)
        .unwrap_or(&r.identifier)
}

/// A hash of everything resources are sorted by: when it changes, the orders must be made anew.
pub fn sort_fingerprint(r: &Resource) -> u64 {
    let mut hasher = DefaultHasher::new();
    identity(r).hash(&mut hasher);
    health(r).hash(&mut hasher);
    hasher.finish()
}
