//! The pure sums of `ctm`: what every report and every derived table is made of, with
//! no SQLite (the store reads and writes them, analytics groups them into reports).
//!
//! - [`Sums`]: token counts and money, money in integer nano-dollars so that a sum is
//!   the same to the last digit whatever order it is added in.
//! - [`SlotRow`]: the rollup. Billed responses summed per *slot* (a UTC quarter-hour,
//!   split into its first millisecond and the rest, see [`slot_of`]), session, project
//!   and model. Every real UTC offset is a whole number of quarter-hours, so a slot lies
//!   inside one local hour and day in any zone, and a filter by project or model keeps
//!   or drops whole rows: every report in any zone, with any filter, is a grouping of
//!   these rows, exactly the grouping of the responses themselves.
//! - The groupings: [`aggregate_days`] and [`aggregate_hours`] (in a zone),
//!   [`aggregate_sessions`], [`aggregate_projects`], [`aggregate_blocks`] (5-hour
//!   blocks). Rows are keyed by dimension ids ([`Id`]); texts come from [`Names`] only
//!   where an order or a label needs them.

mod blocks;
mod days;
mod filter;
mod money;
mod names;
mod projects;
mod sessions;
mod slot;
mod sums;
mod zone;

pub use blocks::{aggregate_blocks, BlockAggregate, BlockChain, BLOCK_MS};
pub use days::{aggregate_days, aggregate_hours, DayAggregate, HourKey};
pub use filter::Filter;
pub use money::{nanos_of_usd, usd_of_nanos};
pub use names::{Names, UNKNOWN};
pub use projects::{aggregate_projects, ProjectAggregate};
pub use sessions::{aggregate_sessions, ModelResponses, SessionAggregate};
pub use slot::{
    quarter_of_slot, rollup, slot_of, slots_of_quarters, Fact, Id, SlotKey, SlotRow, NONE,
    QUARTER_MS,
};
pub use sums::Sums;
pub use zone::{day_bounds, local_time, split_ranges, LocalClock};
