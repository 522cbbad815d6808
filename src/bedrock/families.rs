//! Every metric family the exporter renders itself, in the order the exposition lists them (by
//! name): each kind's families, as its module declares them, and the health of what is watched
//! (each resource, each discovery). Built once, from [`Kind::ALL`].

use std::sync::LazyLock;

use super::Kind;

/// What a family's series describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A resource of this kind: its family number `family` in the kind's spec.
    Kind { kind: Kind, family: usize },
    /// The health of each watched resource, whatever its kind.
    Resource(Health),
    /// The health of each discovery.
    Discovery(DiscoveryHealth),
}

/// The families of each watched resource's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Up,
    LastSuccess,
}

/// The families of each discovery's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryHealth {
    Up,
    Discovered,
}

/// One metric family (every one a gauge).
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub subject: Subject,
}

/// The families that are not a kind's.
const HEALTH: [(&str, &str, Subject); 4] = [
    (
        "bedrock_exporter_discovered_resources",
        "Resources watched because discovery found them.",
        Subject::Discovery(DiscoveryHealth::Discovered),
    ),
    (
        "bedrock_exporter_discovery_up",
        "Whether the last listing of a discovery (every page) succeeded (1) or failed (0).",
        Subject::Discovery(DiscoveryHealth::Up),
    ),
    (
        "bedrock_exporter_target_last_success_timestamp_seconds",
        "Time of the last successful read of a watched resource, in seconds since the Unix epoch.",
        Subject::Resource(Health::LastSuccess),
    ),
    (
        "bedrock_exporter_target_up",
        "Whether the last read of a watched resource succeeded (1) or failed (0).",
        Subject::Resource(Health::Up),
    ),
];

/// Every family, sorted by name: the order of the exposition.
pub static FAMILIES: LazyLock<Vec<Family>> = LazyLock::new(|| {
    let kinds = Kind::ALL.iter().flat_map(|&kind| {
        kind.spec()
            .families
            .iter()
            .enumerate()
            .map(move |(family, def)| Family {
                name: def.name,
                help: def.help,
                subject: Subject::Kind { kind, family },
            })
    });
    let health = HEALTH.iter().map(|&(name, help, subject)| Family {
        name,
        help,
        subject,
    });
    let mut all: Vec<Family> = kinds.chain(health).collect();
    all.sort_by_key(|f| f.name);
    all
});

/// How many families there are.
pub fn count() -> usize {
    FAMILIES.len()
}

/// The index of the family named `name`, if the exporter renders it.
pub fn index_of(name: &str) -> Option<usize> {
    FAMILIES.iter().position(|f| f.name == name)
}

/// The Bedrock families by name (every kind's): those `exclude_metrics` may name.
pub fn bedrock_names() -> impl Iterator<Item = &'static str> {
    FAMILIES
        .iter()
        .filter(|f| matches!(f.subject, Subject::Kind { .. }))
        .map(|f| f.name)
}

/// Where a family's lines sit among the slots of a resource of `kind`: its kind's families
/// first, in spec order, then the health families. `None`: it has no lines there.
pub fn slot(subject: Subject, kind: Kind) -> Option<usize> {
    match subject {
        Subject::Kind { kind: k, family } => (k == kind).then_some(family),
        Subject::Resource(Health::Up) => Some(kind.spec().families.len()),
        Subject::Resource(Health::LastSuccess) => Some(kind.spec().families.len() + 1),
        Subject::Discovery(_) => None,
    }
}

/// How many slots a resource of `kind` has.
pub fn slots(kind: Kind) -> usize {
    kind.spec().families.len() + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_sorted_unique_and_each_kind_owns_its_prefix() {
        assert!(FAMILIES.windows(2).all(|w| w[0].name < w[1].name));
        for family in FAMILIES.iter() {
            assert!(family.name.starts_with("bedrock_"), "{}", family.name);
            if let Subject::Kind { kind, family: n } = family.subject {
                assert_eq!(kind.spec().families[n].name, family.name);
            }
        }
        assert_eq!(
            bedrock_names().count(),
            Kind::ALL
                .iter()
                .map(|k| k.spec().families.len())
                .sum::<usize>()
        );
        let up = index_of("bedrock_exporter_target_up").unwrap();
        assert_eq!(
            slot(FAMILIES[up].subject, Kind::Job),
            Some(slots(Kind::Job) - 2)
        );
    }
}
