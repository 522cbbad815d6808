//! The kinds of Bedrock resource the exporter watches. A kind is one module, which declares in
//! one place everything the rest of the program needs of it:
//!
//! - its [`KindSpec`]: the `kind` label, config key, List and Get operations, identity label,
//!   statuses and which of them are read every interval, the REST path and summaries key of its
//!   List call, and its families with their HELP;
//! - its record (one Get answer; a List summary is a record with fewer fields), which implements
//!   [`KindRecord`]: its identity, status and times, what a summary carries and lacks, the
//!   strings and collections the boundary checks, its series family by family, its List and Get
//!   calls through the SDK, and its JSON shapes as the service sends them (for the simulator).
//!
//! The `kinds!` list below turns the modules into [`Kind`], [`Record`] and [`Operation`], which
//! the fleet, the exposition, the simulator and the config work with whatever the kind.

use std::fmt;
use std::future::Future;

use aws_sdk_bedrock::Client;
use serde_json::Value;

mod check;
pub mod customization;
pub mod json;

use super::boundary::Fields;
use super::series::Ident;
use super::{FetchError, ListQuery, Page};

/// What a kind is, fixed.
#[derive(Debug)]
pub struct KindSpec {
    /// The `kind` label.
    pub label: &'static str,
    /// The config key of its static list, and of its block under `discover`.
    pub config_key: &'static str,
    /// What one is called in messages ("model customization job").
    pub noun: &'static str,
    /// Its List and Get operations, as the `operation` label.
    pub list: &'static str,
    pub get: &'static str,
    /// The label that names a resource on its Bedrock series.
    pub identity_label: &'static str,
    /// Every status the API defines: the state set of its status family.
    pub statuses: &'static [&'static str],
    /// Statuses in which it still changes by itself, and is read every `interval`.
    pub running: &'static [&'static str],
    /// The List call's query parameter for one status, if it has one.
    pub status_param: Option<&'static str>,
    /// The REST path of its List call; its Get call is this path and the identifier, unless
    /// its record says otherwise ([`KindRecord::get_path`]).
    pub path: &'static str,
    /// The key of a List answer's summaries.
    pub summaries_key: &'static str,
    /// Its families, any order (the exposition sorts all families by name).
    pub families: &'static [FamilyDef],
    /// Checks a configured identifier against what its Get call takes (the API's pattern and
    /// length): `Err` says what is wrong, after the identifier.
    pub check_identifier: fn(&str) -> Result<(), String>,
    /// Checks a `name_contains` against what its List call takes for `nameContains`.
    pub check_name_part: fn(&str) -> Result<(), String>,
    /// The keys of its block under `discover`.
    pub discover_keys: &'static [&'static str],
    /// The one of them that filters by name (`name_contains`; copy jobs have no name of their
    /// own: `target_model_name_contains`), taken as [`ListQuery::name_contains`].
    pub name_filter_key: &'static str,
    /// Whether a discovered resource that has settled is read again at `terminal_interval`:
    /// for a kind whose summary cannot show every change (custom models have no modification
    /// time). Otherwise its listing watches it, and it is read only when its summary changes.
    pub reread_when_settled: bool,
    /// Its discovery's `created_within` when not given (`None`: everything).
    pub created_within: Option<std::time::Duration>,
    /// Whether its discovery also lists, by status, those in a running status created before
    /// `created_within` (so that a long-running one is never lost).
    pub lists_running_of_any_age: bool,
}

/// One metric family of a kind (every one a gauge).
#[derive(Debug)]
pub struct FamilyDef {
    pub name: &'static str,
    pub help: &'static str,
}

/// What every kind's record does. `Self` is one Get answer, or a List summary (a record with
/// only the fields summaries carry).
pub trait KindRecord:
    fmt::Debug + Clone + Default + PartialEq + Send + Sync + Sized + 'static
{
    /// The kind's fixed description.
    fn spec() -> &'static KindSpec;

    fn arn(&self) -> Option<&str>;
    /// The value of its identity label.
    fn name(&self) -> Option<&str>;
    fn status(&self) -> Option<&str>;
    fn creation_time(&self) -> Option<f64>;
    /// Its last modification time, where the API has one.
    fn last_modified(&self) -> Option<f64> {
        None
    }
    /// When it ended, where the API says.
    fn end_time(&self) -> Option<f64> {
        None
    }
    fn failure_message(&self) -> Option<&str> {
        None
    }
    /// The last training loss and the validation losses (one per validator), where it has them.
    fn losses(&self) -> (Option<f64>, &[Option<f64>]) {
        (None, &[])
    }

    /// Whether it no longer changes by itself (its status is not a running one).
    fn is_settled(&self) -> bool {
        !self
            .status()
            .is_some_and(|s| Self::spec().running.contains(&s))
    }

    /// Whether this summary lacks something its kind exports, so that a discovered resource
    /// needs a Get. A kind whose summaries carry everything makes no Get for what it discovers:
    /// a summary that shows a change counts as a read.
    fn summary_lacks(&self) -> bool {
        true
    }

    /// This record as a List summary has it: only the fields summaries carry.
    fn summary(&self) -> Self;

    /// Takes the fields a newer summary carries, keeping the rest from the last read.
    fn update_from_summary(&mut self, summary: &Self);

    /// Passes every string and collection to the boundary's checks.
    fn check(&mut self, fields: &mut Fields);

    /// Its series of family `family` (an index into its spec's families).
    fn render(&self, family: usize, id: &Ident, out: &mut Vec<u8>);

    /// A Get call through the SDK, for a name or ARN.
    fn get(
        client: &Client,
        identifier: &str,
    ) -> impl Future<Output = Result<Self, FetchError>> + Send;

    /// One List page through the SDK (full pages), from `next_token`.
    fn list(
        client: &Client,
        query: &ListQuery,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<Page<Self>, FetchError>> + Send;

    /// Its Get answer, as the service sends it.
    fn get_json(&self) -> Value;

    /// Its List summary, as the service sends it.
    fn summary_json(&self) -> Value;

    /// Takes a List query parameter only this kind has (`None`: not one of its own), checked as
    /// the service checks it.
    fn list_param(_query: &mut ListQuery, _name: &str, _value: &str) -> Option<Result<(), String>> {
        None
    }

    /// Whether it passes the filters only this kind has.
    fn matches(&self, _query: &ListQuery) -> bool {
        true
    }

    /// The REST path its Get call puts the identifier under, where that is not its List call's
    /// path (provisioned throughputs: `/provisioned-model-throughput/{id}` beside
    /// `/provisioned-model-throughputs`; batch inference jobs: `/model-invocation-job/{id}`).
    fn get_path() -> &'static str {
        Self::spec().path
    }

    /// Whether its Get call also takes `identifier`, neither its name nor its ARN (a batch
    /// inference job's job id).
    fn known_as(&self, _identifier: &str) -> bool {
        false
    }

    /// What its List call's name filter ([`ListQuery::name_contains`]) looks at: its name,
    /// or for a kind without a name of its own another one (a copy job's target model name).
    fn filtered_name(&self) -> Option<&str> {
        self.name()
    }
}

/// Declares the kinds: each `Variant => module::Record`. Generates [`Kind`], [`Record`] and the
/// calls that dispatch to each kind's module.
macro_rules! kinds {
    ($($variant:ident => $module:ident :: $record:ident),+ $(,)?) => {
        $(pub mod $module;)+
        $(pub use $module::$record;)+

        /// What a watched resource is, as the `kind` label.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $($variant),+
        }

        impl Kind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),+];

            /// What the kind is.
            pub fn spec(self) -> &'static KindSpec {
                match self {
                    $(Kind::$variant => <$record as KindRecord>::spec()),+
                }
            }

            /// The REST path its Get call puts the identifier under.
            pub fn get_path(self) -> &'static str {
                match self {
                    $(Kind::$variant => <$record as KindRecord>::get_path()),+
                }
            }
        }

        /// A resource of any kind, as read or as listed.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Record {
            $($variant($record)),+
        }

        $(impl From<$record> for Record {
            fn from(record: $record) -> Record {
                Record::$variant(record)
            }
        })+

        impl Record {
            pub fn kind(&self) -> Kind {
                match self {
                    $(Record::$variant(_) => Kind::$variant),+
                }
            }

            pub fn arn(&self) -> Option<&str> {
                match self { $(Record::$variant(r) => r.arn()),+ }
            }

            /// The value of its kind's identity label.
            pub fn name(&self) -> Option<&str> {
                match self { $(Record::$variant(r) => r.name()),+ }
            }

            pub fn status(&self) -> Option<&str> {
                match self { $(Record::$variant(r) => r.status()),+ }
            }

            pub fn creation_time(&self) -> Option<f64> {
                match self { $(Record::$variant(r) => r.creation_time()),+ }
            }

            /// Its last modification time, where its kind has one.
            pub fn last_modified(&self) -> Option<f64> {
                match self { $(Record::$variant(r) => r.last_modified()),+ }
            }

            /// When it ended, where its kind says.
            pub fn end_time(&self) -> Option<f64> {
                match self { $(Record::$variant(r) => r.end_time()),+ }
            }

            pub fn failure_message(&self) -> Option<&str> {
                match self { $(Record::$variant(r) => r.failure_message()),+ }
            }

            /// The last training loss, and the validation losses (one per validator).
            pub fn losses(&self) -> (Option<f64>, &[Option<f64>]) {
                match self { $(Record::$variant(r) => r.losses()),+ }
            }

            /// Whether it no longer changes by itself.
            pub fn is_settled(&self) -> bool {
                match self { $(Record::$variant(r) => r.is_settled()),+ }
            }

            /// Whether its summary lacks something its kind exports (a discovered one needs a Get).
            pub fn summary_lacks(&self) -> bool {
                match self { $(Record::$variant(r) => r.summary_lacks()),+ }
            }

            /// This record as a List summary has it.
            pub fn summary(&self) -> Record {
                match self { $(Record::$variant(r) => Record::$variant(r.summary())),+ }
            }

            /// Takes the fields a newer summary of the same resource carries.
            pub fn update_from_summary(&mut self, summary: &Record) {
                match (self, summary) {
                    $((Record::$variant(r), Record::$variant(s)) => r.update_from_summary(s),)+
                    #[allow(unreachable_patterns)]
                    _ => {}
                }
            }

            /// Passes every string and collection to the boundary's checks.
            pub fn check(&mut self, fields: &mut Fields) {
                match self { $(Record::$variant(r) => r.check(fields)),+ }
            }

            /// Its series of its kind's family `family`.
            pub fn render(&self, family: usize, id: &Ident, out: &mut Vec<u8>) {
                match self { $(Record::$variant(r) => r.render(family, id, out)),+ }
            }

            /// Its Get answer as the service sends it.
            pub fn get_json(&self) -> Value {
                match self { $(Record::$variant(r) => r.get_json()),+ }
            }

            /// Its List summary as the service sends it.
            pub fn summary_json(&self) -> Value {
                match self { $(Record::$variant(r) => r.summary_json()),+ }
            }

            /// Whether it passes the filters only its kind has.
            pub fn matches(&self, query: &ListQuery) -> bool {
                match self { $(Record::$variant(r) => r.matches(query)),+ }
            }

            /// Whether its Get call also takes `identifier`, neither its name nor its ARN.
            pub fn known_as(&self, identifier: &str) -> bool {
                match self { $(Record::$variant(r) => r.known_as(identifier)),+ }
            }

            /// What its kind's name filter looks at.
            pub fn filtered_name(&self) -> Option<&str> {
                match self { $(Record::$variant(r) => r.filtered_name()),+ }
            }

            /// Whether its status says it failed.
            pub fn is_failed(&self) -> bool {
                self.status() == Some("Failed")
            }

            /// Whether it is in a status its kind reads every interval.
            pub fn is_running(&self) -> bool {
                self.status().is_some_and(|s| self.kind().spec().running.contains(&s))
            }
        }

        /// A Get call of `kind` through the SDK.
        pub(crate) async fn get(
            client: &Client,
            kind: Kind,
            identifier: &str,
        ) -> Result<Record, FetchError> {
            match kind {
                $(Kind::$variant => <$record>::get(client, identifier).await.map(Record::$variant)),+
            }
        }

        /// One List page of `query`'s kind through the SDK.
        pub(crate) async fn list(
            client: &Client,
            query: &ListQuery,
            next_token: Option<String>,
        ) -> Result<Page<Record>, FetchError> {
            match query.kind {
                $(Kind::$variant => <$record>::list(client, query, next_token)
                    .await
                    .map(|page| page.map(Record::$variant))),+
            }
        }

        /// Takes a List query parameter only `query`'s kind has.
        pub fn list_param(query: &mut ListQuery, name: &str, value: &str) -> Option<Result<(), String>> {
            match query.kind {
                $(Kind::$variant => <$record>::list_param(query, name, value)),+
            }
        }
    };
}

kinds! {
    Job => job::JobRecord,
    Model => model::ModelRecord,
    Deployment => deployment::DeploymentRecord,
    ProvisionedThroughput => provisioned_throughput::ProvisionedThroughputRecord,
    EvaluationJob => evaluation_job::EvaluationJobRecord,
    BatchInferenceJob => batch_inference_job::BatchInferenceJobRecord,
    ImportJob => import_job::ImportJobRecord,
    CopyJob => copy_job::CopyJobRecord,
    ImportedModel => imported_model::ImportedModelRecord,
}

/// The operations the exporter calls: each kind's List and Get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    List(Kind),
    Get(Kind),
}

impl Operation {
    /// Every operation, each kind's List then Get.
    pub fn all() -> Vec<Operation> {
        Kind::ALL
            .iter()
            .flat_map(|&kind| [Operation::List(kind), Operation::Get(kind)])
            .collect()
    }

    /// The operation's API name, used as the `operation` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::List(kind) => kind.spec().list,
            Operation::Get(kind) => kind.spec().get,
        }
    }
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        self.spec().label
    }

    /// The call that reads one resource of this kind.
    pub fn get_operation(self) -> Operation {
        Operation::Get(self)
    }

    /// The call that lists resources of this kind, a page at a time.
    pub fn list_operation(self) -> Operation {
        Operation::List(self)
    }
}
