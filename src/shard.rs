//! This replica's share of the work, when several split it (`--total-shards`, `--shard`,
//! `--shard.from-hostname`, `--shard.by`): a target belongs to the shard where the jump
//! consistent hash of the FNV-1a 64-bit hash of its key lands, its key being `account_id/region`
//! (a static target without a role: its position in the file). Pure functions, no I/O.

use std::fmt;

/// What the replicas split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// Each target is polled by one replica.
    Target,
    /// Every replica lists every target and reads and exports its share of the resources.
    Resource,
}

impl By {
    pub fn as_str(self) -> &'static str {
        match self {
            By::Target => "target",
            By::Resource => "resource",
        }
    }
}

/// One replica's share: shard `index` of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub total: u32,
    pub by: By,
}

impl Default for Shard {
    /// The whole: one replica does everything.
    fn default() -> Shard {
        Shard {
            index: 0,
            total: 1,
            by: By::Target,
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} by {}",
            self.index,
            self.total,
            self.by.as_str()
        )
    }
}

impl Shard {
    /// Whether this replica polls the target whose key is `key` (see [`target_key`]).
    pub fn owns_target(&self, key: &str) -> bool {
        self.by != By::Target || jump(fnv1a64(key.as_bytes()), self.total) == self.index
    }

    /// Whether this replica reads and exports the resource `id` (its ARN).
    pub fn owns_resource(&self, id: &str) -> bool {
        self.by != By::Resource || jump(fnv1a64(id.as_bytes()), self.total) == self.index
    }
}

/// The key a target is sharded by: `account_id/region` when its role names the account, else
/// its position in the file.
pub fn target_key(account: Option<&str>, region: &str, position: usize) -> String {
    match account {
        Some(account) => format!("{account}/{region}"),
        None => position.to_string(),
    }
}

/// The shard a host name gives: its trailing number, as a StatefulSet names its pods
/// (`bedrock-exporter-2` → 2).
pub fn from_hostname(hostname: &str) -> Option<u32> {
    let digits = hostname.len()
        - hostname
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .len();
    hostname[hostname.len() - digits..].parse().ok()
}

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Jump consistent hash (Lamping and Veach, 2014): the bucket of `key` among `buckets`. When
/// the buckets grow from n to n+1, a key stays or moves to the new one.
pub fn jump(mut key: u64, buckets: u32) -> u32 {
    let buckets = i64::from(buckets.max(1));
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < buckets {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1_i64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn jump_stays_in_range_balances_and_moves_keys_only_to_a_new_bucket() {
        for buckets in 1..=16u32 {
            let mut counts = vec![0u32; buckets as usize];
            for key in 0..10_000u64 {
                let k = fnv1a64(&key.to_le_bytes());
                let b = jump(k, buckets);
                assert!(b < buckets);
                counts[b as usize] += 1;
                let grown = jump(k, buckets + 1);
                assert!(grown == b || grown == buckets, "{key}: {b} -> {grown}");
            }
            let even = 10_000 / buckets;
            assert!(
                counts
                    .iter()
                    .all(|&c| c > even * 8 / 10 && c < even * 12 / 10),
                "{counts:?}"
            );
        }
        assert_eq!(jump(42, 0), 0, "no buckets is one");
    }

    #[test]
    fn every_target_belongs_to_exactly_one_shard() {
        for total in 1..=5 {
            for position in 0..50 {
                let key = target_key(
                    (position % 3 != 0).then_some("123456789012"),
                    &format!("region-{position}"),
                    position,
                );
                let owners = (0..total)
                    .filter(|&index| {
                        Shard {
                            index,
                            total,
                            by: By::Target,
                        }
                        .owns_target(&key)
                    })
                    .count();
                assert_eq!(owners, 1, "{key} of {total}");
            }
        }
    }

    #[test]
    fn the_shard_is_the_hostnames_trailing_number() {
        assert_eq!(from_hostname("bedrock-exporter-2"), Some(2));
        assert_eq!(from_hostname("web-10"), Some(10));
        assert_eq!(from_hostname("bedrock-exporter"), None);
        assert_eq!(from_hostname(""), None);
        assert_eq!(from_hostname("x-99999999999"), None, "beyond u32");
    }
}
