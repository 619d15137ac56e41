//! Pricing history again: the one function every change of the table in force goes
//! through (`ctm pricing update`, `ctm pricing reset`, `ctm db reprice`).

use ctm_aggregate::{nanos_of_usd, usd_of_nanos};
use ctm_pricing::PriceTable;
use ctm_store::Transaction;
use ctm_store::{derive, facts, StoreError};
use serde::Serialize;

use crate::price_response;

/// Rows read and written per part, so memory stays bounded on any history.
const PART: usize = 50_000;

/// What repricing changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Repriced {
    /// Responses in the store (billed or not).
    pub responses: u64,
    /// Responses whose cost or priced flag changed.
    pub cost_changed: u64,
    /// Responses whose stored price changed in any way, provenance included.
    pub rows_changed: u64,
    /// Billed cost before and after, USD.
    pub total_before_usd: f64,
    pub total_after_usd: f64,
    /// Billed responses without a price, before and after.
    pub unpriced_before: u64,
    pub unpriced_after: u64,
}

/// Prices every stored response again with `prices`, in the caller's transaction, and
/// rebuilds the derived tables from the facts when a cost changed, so they match the
/// facts in the same commit.
pub fn reprice(tx: &Transaction, prices: &PriceTable) -> Result<Repriced, StoreError> {
    let mut r = Repriced::default();
    let mut repricer = facts::Repricer::default();
    // The billed totals in nano-dollars, summed as integers: exact in any order.
    let (mut before_nanos, mut after_nanos) = (0i64, 0i64);
    let mut after = i64::MIN;
    loop {
        let part = repricer.responses_after(tx, after, PART)?;
        let Some(last) = part.last() else { break };
        after = last.id;
        for row in &part {
            let p = price_response(prices, &row.response);
            let cost_nanos = nanos_of_usd(p.cost_usd);
            r.responses += 1;
            if row.billed {
                before_nanos += row.cost_nanos;
                after_nanos += cost_nanos;
                r.unpriced_before += u64::from(!row.priced);
                r.unpriced_after += u64::from(!p.priced);
            }
            if row.cost_nanos != cost_nanos || row.priced != p.priced {
                r.cost_changed += 1;
            }
            r.rows_changed += u64::from(repricer.set(tx, row.id, &p)?);
        }
    }
    r.total_before_usd = usd_of_nanos(before_nanos);
    r.total_after_usd = usd_of_nanos(after_nanos);
    if r.cost_changed > 0 {
        derive::rebuild_all(tx)?;
    }
    Ok(r)
}
