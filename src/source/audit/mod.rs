//! Kubernetes audit logs: recognizing their records and turning each audit
//! event into an [`AuditRow`].
//!
//! What is read (all of it JSON, one record per line or one pretty-printed
//! document per file):
//! - `audit.k8s.io/v1` and `v1beta1` `Event`s, one per line, as the log
//!   backend writes them (older traces without `apiVersion` are accepted: an
//!   object with `auditID` and `stage` is an audit event);
//! - `EventList` batches, as the webhook backend sends them (`items`);
//! - managed-cluster wrappers: an Azure diagnostic-log record (AKS, category
//!   `kube-audit`/`kube-audit-admin`) holds the event in `properties.log`,
//!   as a JSON string or as an object; a `{"records": [...]}` envelope holds
//!   many such records; a JSON array holds records too;
//! - a document pretty-printed over many lines: a record that is incomplete
//!   at the end of its line continues on the next lines until it is whole.
//!
//! A line that cannot be read (not JSON, cut short, an object that is not an
//! audit event) becomes a [`Record::Damaged`] with its line number; the rest
//! of the file still loads. JSON that is recognizably another Kubernetes
//! type (an `AdmissionReview`, a `v1` `Event` object) is a
//! [`Record::Foreign`]: a file made only of those is not an audit log.

mod reader;
mod row;

pub use crate::store::AuditRow;
pub use reader::{read_all, AuditReader, Record};
pub use row::{audit_row, normalize_timestamp};

#[cfg(test)]
mod tests;
