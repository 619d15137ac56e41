//! Pricing many requests at once from their sums, exactly as pricing each and adding
//! their costs rounded to nano-dollars would (`--reprice` over the team database's
//! rollup).
//!
//! Requests that share a model, `speed == "fast"` and `inference_geo == "us"`, made
//! within a time span no price change falls in, whose prompts all lie on the same side
//! of every band threshold in force, are each billed at the same rates and multiplier.
//! When each of those rates is a whole number of nano-dollars per token (and the search
//! fee per search), every request's cost rounds to exactly its tokens times them, so the
//! group's cost is its summed tokens times them: integers, in any order. Otherwise
//! [`PriceTable::price_group`] says so, and the caller prices the requests one by one.

use crate::table::PriceTable;

/// Requests of one model and flags, made within `[from_ms, until_ms)`, whose prompts
/// (input + cache writes + cache reads) lie within `[min_prompt, max_prompt]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestGroup<'a> {
    pub model: &'a str,
    pub from_ms: i64,
    pub until_ms: i64,
    pub min_prompt: u64,
    pub max_prompt: u64,
    /// The group's output tokens in all: a bound for any one request's.
    pub output_tokens: u64,
    pub fast: bool,
    pub us: bool,
}

/// Nano-dollars per token of each kind, and per web search, that price every request of
/// a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitNanos {
    pub input: i64,
    pub output: i64,
    pub cache_write_5m: i64,
    pub cache_write_1h: i64,
    pub cache_read: i64,
    pub web_search: i64,
}

/// How a group of requests is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupPrice {
    /// Its model has no price: every request is unpriced, at zero cost.
    Unpriced,
    /// Every request is priced at these.
    Units(UnitNanos),
}

/// Tokens per request (prompt and output) up to which a rate within [`WHOLE`] of a
/// whole number of nano-dollars moves no request's cost by a quarter of one.
const MAX_TOKENS: u64 = 100_000_000;
/// How near a whole number of nano-dollars per token a computed rate must be: a rate
/// whose decimal form is whole lands within a few units in the last place.
const WHOLE: f64 = 1e-9;

impl PriceTable {
    /// The prices that bill every request of `g` as pricing each one would, rounded to
    /// nano-dollars; `None` when its requests are not all billed alike, or their rates
    /// are not whole nano-dollars per token (then price them one by one).
    pub fn price_group(&self, g: &RequestGroup) -> Option<GroupPrice> {
        let Some(row) = self.resolve_index(g.model) else {
            return Some(GroupPrice::Unpriced);
        };
        if g.until_ms <= g.from_ms
            || g.max_prompt < g.min_prompt
            || g.max_prompt.saturating_add(g.output_tokens) > MAX_TOKENS
        {
            return None;
        }
        let s = &self.schedules[row];
        // No rate, band or fast window starts or ends inside the span.
        let inside = |t: i64| g.from_ms < t && t < g.until_ms;
        if s.rates.iter().any(|(from, _)| inside(*from))
            || s.bands.iter().any(|b| inside(b.0) || inside(b.1))
            || s.fast.iter().any(|f| inside(f.0) || inside(f.1))
        {
            return None;
        }
        // Every prompt on the same side of each band in force.
        let t = g.from_ms;
        if s.bands.iter().any(|&(from, until, above, _)| {
            from <= t && t < until && g.min_prompt <= above && above < g.max_prompt
        }) {
            return None;
        }
        let terms = self.terms(row, t, g.min_prompt, g.fast, g.us);
        let whole = |usd_per_mtok: f64, multiplier: f64| -> Option<i64> {
            let nanos = usd_per_mtok * multiplier * 1e3;
            let n = nanos.round();
            ((nanos - n).abs() <= WHOLE && n.abs() < 1e15).then_some(n as i64)
        };
        let r = terms.rates;
        let m = terms.multiplier;
        Some(GroupPrice::Units(UnitNanos {
            input: whole(r.input, m)?,
            output: whole(r.output, m)?,
            cache_write_5m: whole(r.cache_write_5m, m)?,
            cache_write_1h: whole(r.cache_write_1h, m)?,
            cache_read: whole(r.cache_read, m)?,
            // USD per 1,000 searches: 10^6 nano-dollars per search per USD (`whole`
            // takes 10^3 of them).
            web_search: whole(self.web_search_usd_per_1000(), 1e3)?,
        }))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cost::Request;
    use proptest::prelude::*;

    /// Input, output, 5-minute and 1-hour cache writes, cache reads, web searches.
    type Counts = (u64, u64, u64, u64, u64, u64);

    fn nanos(usd: f64) -> i64 {
        (usd * 1e9).round() as i64
    }

    fn ms(utc: &str) -> i64 {
        utc.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    /// Models with every kind of schedule (bands, dated rates, fast mode, the US
    /// multiplier) and one without a price.
    pub(crate) const MODELS: [&str; 6] = [
        "claude-opus-4-6",
        "claude-sonnet-4-5-20250929",
        "claude-haiku-5-5",
        "claude-fable-5-2",
        "claude-opus-4-1-20250805",
        "no-such-model",
    ];

    proptest! {
        /// A group priced from its sums costs what its requests priced one by one,
        /// rounded each, add up to, to the nano-dollar.
        #[test]
        fn a_group_from_its_sums_is_its_requests_added(
            model in 0..MODELS.len(),
            day in 0i64..900,
            fast in any::<bool>(),
            us in any::<bool>(),
            requests in proptest::collection::vec(
                (0u64..400_000, 0u64..64_000, 0u64..50_000, 0u64..50_000, 0u64..400_000, 0u64..3),
                1..12,
            ),
        ) {
            let table = PriceTable::embedded();
            let quarter = ms("2025-01-01T00:00:00Z") + day * 86_400_000 + 37 * 900_000;
            let (from, until) = (quarter + 1, quarter + 900_000);
            let prompt = |r: &Counts| r.0 + r.2 + r.3 + r.4;
            let g = RequestGroup {
                model: MODELS[model],
                from_ms: from,
                until_ms: until,
                min_prompt: requests.iter().map(prompt).min().unwrap(),
                max_prompt: requests.iter().map(prompt).max().unwrap(),
                output_tokens: requests.iter().map(|r| r.1).sum(),
                fast,
                us,
            };
            let one_by_one: i64 = requests
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let p = table.price(&Request {
                        model: MODELS[model],
                        timestamp_ms: from + i as i64 * 1000,
                        input_tokens: r.0,
                        output_tokens: r.1,
                        cache_write_5m_tokens: r.2,
                        cache_write_1h_tokens: r.3,
                        cache_read_tokens: r.4,
                        web_search_requests: r.5,
                        speed: fast.then_some("fast"),
                        inference_geo: us.then_some("us"),
                    });
                    nanos(p.cost_usd)
                })
                .sum();
            match table.price_group(&g) {
                Some(GroupPrice::Unpriced) => prop_assert_eq!(one_by_one, 0),
                Some(GroupPrice::Units(u)) => {
                    let sum = |f: fn(&Counts) -> u64| -> i64 {
                        requests.iter().map(f).sum::<u64>() as i64
                    };
                    let from_sums = sum(|r| r.0) * u.input
                        + sum(|r| r.1) * u.output
                        + sum(|r| r.2) * u.cache_write_5m
                        + sum(|r| r.3) * u.cache_write_1h
                        + sum(|r| r.4) * u.cache_read
                        + sum(|r| r.5) * u.web_search;
                    prop_assert_eq!(from_sums, one_by_one);
                }
                // Prompts on both sides of a band, or rates not whole (Haiku 5.5's
                // $0.125 x 1.1 in the US): the caller prices one by one.
                None => {}
            }
        }
    }

    #[test]
    fn a_span_with_a_price_change_inside_is_priced_one_by_one() {
        let table = PriceTable::embedded();
        // A whole year certainly holds a dated change or a window's edge for some model.
        let year = RequestGroup {
            model: "claude-opus-4-6",
            from_ms: ms("2020-01-01T00:00:00Z"),
            until_ms: ms("2030-01-01T00:00:00Z"),
            min_prompt: 10,
            max_prompt: 10,
            output_tokens: 10,
            fast: true,
            us: false,
        };
        assert_eq!(table.price_group(&year), None);
        let quarter = RequestGroup {
            from_ms: ms("2026-11-10T10:00:00Z"),
            until_ms: ms("2026-11-10T10:15:00Z"),
            ..year
        };
        assert!(matches!(
            table.price_group(&quarter),
            Some(GroupPrice::Units(_))
        ));
    }
}
