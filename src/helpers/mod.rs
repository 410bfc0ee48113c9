//! Small helpers every layer may use: nothing here imports the rest of the
//! crate.
pub mod csv_cell;
pub mod duration;
pub mod edit_distance;
pub mod hex;
pub mod human_duration;
pub mod paths;
pub mod pre_hashed;
pub mod trace;

pub use csv_cell::csv_text_cell;
pub use duration::{parse_duration, DurationError};
pub use edit_distance::edit_distance;
pub use hex::hex;
pub use human_duration::human_duration;
pub use paths::{absolute, directory_of};
pub use pre_hashed::{DigestMap, PreHashed};
pub use trace::trace;
