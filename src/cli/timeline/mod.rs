//! `evforensics timeline`: one merged, time-ordered story of Event
//! occurrences and audit entries (queried by [`crate::store::timeline`]),
//! printed as text, CSV, JSON lines, Timesketch JSONL or a self-contained
//! HTML page, or as `kubectl describe`'s Events table. The command parses its arguments into a query once; each
//! format is a [`line::LineWriter`] in a file of its own.

mod command;
mod csv;
mod describe;
mod filters;
mod html;
mod html_data;
mod jsonl;
mod kinds;
mod line;
mod text;
mod timesketch;

pub use command::{run, TimelineArgs};
pub use filters::FilterArgs;
