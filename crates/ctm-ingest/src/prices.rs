//! Which price table is in force: the one `ctm pricing update` kept in the store, else
//! the one embedded in the binary, each with the user's config overrides.
//!
//! A caller hands the ingest the table it loaded; the ingest checks, under the write
//! lock, that it is still the one in force, so a monitor that keeps running while
//! another process runs `ctm pricing update` or `reset` prices its new responses with
//! the new table, and never one stale response slips in beside a repriced history.

use std::borrow::Cow;

use ctm_pricing::{Origin, PriceTable, PricingError};
use ctm_store::price_table;
use ctm_store::Connection;

use crate::IngestError;

/// `given` if it is the table in force, else the table in force with `given`'s config
/// overrides applied to it. Costs a one-row query when nothing changed.
pub fn prices_in_force<'p>(
    conn: &Connection,
    given: &'p PriceTable,
) -> Result<Cow<'p, PriceTable>, IngestError> {
    let stale = |e: PricingError| IngestError::StoredPrices(e.to_string());
    match price_table::stored(conn)? {
        Some(s) if s.version == given.base_version() => Ok(Cow::Borrowed(given)),
        Some(s) => {
            let base = PriceTable::from_stored_toml(&s.body).map_err(stale)?;
            Ok(Cow::Owned(given.rebased(base).map_err(stale)?))
        }
        None if given.origin() == Origin::Stored => Ok(Cow::Owned(
            given.rebased(PriceTable::embedded()).map_err(stale)?,
        )),
        None => Ok(Cow::Borrowed(given)),
    }
}
