//! Taking `stats-cache.json` snapshots of the data roots, priced with our table: the one
//! place `ctm snapshot`, `ctm live` and `ctm serve` record Claude Code's own totals.

use std::path::PathBuf;

use ctm_pricing::{normalize_model, PriceTable};
use ctm_store::snapshots::{self, ModelPriced, Outcome, Tokens};
use ctm_store::{Store, StoreError};
use serde::Serialize;

/// What happened to one data root's `stats-cache.json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotResult {
    pub root: PathBuf,
    pub path: PathBuf,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Prices a model's lifetime tokens at the table's latest base rates (after its last
/// dated change).
///
/// Lifetime totals are not one request, so the prompt-length bands (a per-request
/// threshold) and the fast/us multipliers (per response, not recorded in the file) do not
/// apply, and the file has no dates to choose among dated rates. The file has no 5-minute/1-hour split of cache writes: all are priced at the
/// 5-minute rate, Anthropic's default lifetime.
pub fn price_lifetime(prices: &PriceTable, original: &str, t: &Tokens) -> ModelPriced {
    let name = normalize_model(original);
    let cost_usd = prices.resolve(&name).map(|row| {
        let r = row.latest_rates();
        (t.input as f64 * r.input
            + t.output as f64 * r.output
            + t.cache_write as f64 * r.cache_write_5m
            + t.cache_read as f64 * r.cache_read)
            / 1e6
    });
    ModelPriced {
        model_name: name,
        cost_usd,
    }
}

/// Records a snapshot of each root's `stats-cache.json` that changed since the last one,
/// in one write transaction.
pub fn take_snapshots(
    store: &mut Store,
    prices: &PriceTable,
    roots: &[PathBuf],
) -> Result<Vec<SnapshotResult>, StoreError> {
    let tx = store.write()?;
    let prices = crate::prices_in_force(&tx, prices).map_err(|e| match e {
        crate::IngestError::Store(e) => e,
        other => StoreError::Invalid(other.to_string()),
    })?;
    let price = |original: &str, t: &Tokens| price_lifetime(&prices, original, t);
    let mut results = Vec::with_capacity(roots.len());
    for root in roots {
        let path = root.join(snapshots::FILE_NAME);
        let outcome = snapshots::take_file(&tx, &path, &price)?;
        results.push(SnapshotResult {
            root: root.clone(),
            path,
            outcome,
        });
    }
    tx.commit()?;
    Ok(results)
}

/// True when the outcome recorded a new snapshot.
pub fn taken(result: &SnapshotResult) -> bool {
    matches!(result.outcome, Outcome::Taken { .. })
}
