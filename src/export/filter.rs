//! Which lines an export holds: exactly the timeline's selection (the same
//! [`TimelineQuery`], built from the same arguments), so that an export and
//! `evforensics timeline` with the same filters hold the same lines.

use crate::store::timeline::{Timeline, TimelineError, TimelineQuery};

/// The timeline's query, or `None` when it can select nothing (a time
/// relative to the newest line of a database without lines).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub query: Option<TimelineQuery>,
}

impl Selection {
    /// Everything.
    pub fn all() -> Selection {
        Selection {
            query: Some(TimelineQuery::default()),
        }
    }

    /// How many lines it selects (for a progress bar's length).
    pub fn count(&self, timeline: &Timeline<'_>) -> Result<u64, TimelineError> {
        match &self.query {
            Some(q) => timeline.count(q),
            None => Ok(0),
        }
    }
}
