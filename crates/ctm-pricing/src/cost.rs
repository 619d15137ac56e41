//! Cost of one API response.

use crate::table::PriceTable;

/// The billable facts of one API response.
///
/// When a log has no 5m/1h breakdown of `cache_creation_input_tokens`, the caller puts
/// all of them in `cache_write_5m_tokens` (Anthropic's default cache lifetime).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request<'a> {
    pub model: &'a str,
    /// UTC epoch milliseconds of the response; selects date-bounded long-context tiers.
    pub timestamp_ms: i64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_write_5m_tokens: u64,
    pub cache_write_1h_tokens: u64,
    pub cache_read_tokens: u64,
    pub web_search_requests: u64,
    /// `usage.speed`; `"fast"` applies the model's fast multiplier.
    pub speed: Option<&'a str>,
    /// `usage.inference_geo`; `"us"` applies the model's data-residency multiplier.
    pub inference_geo: Option<&'a str>,
}

/// The price of one response and how it was reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Priced {
    pub cost_usd: f64,
    /// False when the model has no price: `cost_usd` is then 0 and must not be summed
    /// as if it were known.
    pub priced: bool,
    /// Id of the matched table row.
    pub model_key: Option<String>,
    /// The whole request was billed at long-context rates.
    pub long_context: bool,
    /// Fast x data-residency multiplier applied to the token cost (1.0 when none).
    pub multiplier: f64,
}

impl PriceTable {
    /// Prices one response. Unknown models come back unpriced at zero cost.
    pub fn price(&self, req: &Request) -> Priced {
        let Some(row) = self.resolve_index(req.model) else {
            return Priced {
                cost_usd: 0.0,
                priced: false,
                model_key: None,
                long_context: false,
                multiplier: 1.0,
            };
        };
        let m = &self.models[row];

        // Anthropic's rule: once the prompt crosses the threshold, every token of the
        // request (output included) moves to the long-context rates.
        let prompt = req
            .input_tokens
            .saturating_add(req.cache_write_5m_tokens)
            .saturating_add(req.cache_write_1h_tokens)
            .saturating_add(req.cache_read_tokens);
        let long = m.long_context.as_ref().filter(|lc| {
            prompt > lc.threshold && self.until_ms[row].map_or(true, |end| req.timestamp_ms < end)
        });
        let (r_in, r_out, r_5m, r_1h, r_read) = match long {
            Some(lc) => (
                lc.input,
                lc.output,
                lc.cache_write_5m,
                lc.cache_write_1h,
                lc.cache_read,
            ),
            None => (
                m.input,
                m.output,
                m.cache_write_5m,
                m.cache_write_1h,
                m.cache_read,
            ),
        };
        let tokens_usd = (req.input_tokens as f64 * r_in
            + req.output_tokens as f64 * r_out
            + req.cache_write_5m_tokens as f64 * r_5m
            + req.cache_write_1h_tokens as f64 * r_1h
            + req.cache_read_tokens as f64 * r_read)
            / 1e6;

        let fast = match req.speed {
            Some("fast") => m.fast_multiplier.unwrap_or(1.0),
            _ => 1.0,
        };
        let us = match req.inference_geo {
            Some("us") => m.us_multiplier.unwrap_or(1.0),
            _ => 1.0,
        };
        let multiplier = fast * us;
        // The search fee is a flat per-call charge, outside the token multipliers.
        let search_usd = req.web_search_requests as f64 * self.web_search_usd_per_1000() / 1000.0;

        Priced {
            cost_usd: tokens_usd * multiplier + search_usd,
            priced: true,
            model_key: Some(m.id.clone()),
            long_context: long.is_some(),
            multiplier,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PriceTable {
        PriceTable::embedded()
    }

    fn req(model: &str) -> Request<'_> {
        Request {
            model,
            timestamp_ms: ms("2026-06-01T12:00:00Z"),
            ..Request::default()
        }
    }

    fn ms(utc: &str) -> i64 {
        utc.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    fn cost(r: &Request) -> f64 {
        let p = table().price(r);
        assert!(p.priced, "{} unpriced", r.model);
        p.cost_usd
    }

    fn near(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn all_five_token_kinds() {
        // 1000*15 + 500*75 + 2000*18.75 + 3000*30 + 10000*1.5 = 195000 per 1e6.
        let r = Request {
            input_tokens: 1000,
            output_tokens: 500,
            cache_write_5m_tokens: 2000,
            cache_write_1h_tokens: 3000,
            cache_read_tokens: 10_000,
            ..req("claude-opus-4-1-20250805")
        };
        let p = table().price(&r);
        assert!(near(p.cost_usd, 0.195), "{}", p.cost_usd);
        assert_eq!(
            p,
            Priced {
                cost_usd: p.cost_usd,
                priced: true,
                model_key: Some("claude-opus-4-1".into()),
                long_context: false,
                multiplier: 1.0,
            }
        );
    }

    #[test]
    fn fractional_rates() {
        // 1234*0.8 + 567*4 + 89*1 + 10*1.6 + 4321*0.08 = 3705.88 per 1e6.
        let r = Request {
            input_tokens: 1234,
            output_tokens: 567,
            cache_write_5m_tokens: 89,
            cache_write_1h_tokens: 10,
            cache_read_tokens: 4321,
            ..req("claude-3-5-haiku-20241022")
        };
        assert!(near(cost(&r), 0.003_705_88), "{}", cost(&r));
    }

    #[test]
    fn claude_3_haiku_uses_its_published_cache_rates() {
        // 0.25 + 0.30 + 0.03 for a million of each.
        let r = Request {
            input_tokens: 1_000_000,
            cache_write_5m_tokens: 1_000_000,
            cache_read_tokens: 1_000_000,
            ..req("claude-3-haiku-20240307")
        };
        assert!(near(cost(&r), 0.58), "{}", cost(&r));
    }

    #[test]
    fn zero_tokens_cost_nothing_but_are_priced() {
        let p = table().price(&req("claude-sonnet-4-5"));
        assert!(p.priced);
        assert_eq!(p.cost_usd, 0.0);
    }

    #[test]
    fn web_search_is_added_per_call() {
        // 100*3 + 10*15 = 450 per 1e6, plus 3 searches at $0.01.
        let r = Request {
            input_tokens: 100,
            output_tokens: 10,
            web_search_requests: 3,
            ..req("claude-sonnet-4-5")
        };
        assert!(near(cost(&r), 0.030_45), "{}", cost(&r));
    }

    #[test]
    fn web_search_is_not_multiplied() {
        // (1000*5 + 1000*25)/1e6 = 0.03, x6 fast = 0.18, + 2 searches = 0.20.
        let r = Request {
            input_tokens: 1000,
            output_tokens: 1000,
            web_search_requests: 2,
            speed: Some("fast"),
            ..req("claude-opus-4-6")
        };
        assert!(near(cost(&r), 0.2), "{}", cost(&r));
    }

    #[test]
    fn long_context_applies_strictly_above_the_threshold() {
        // At 200,000: 200000*3 + 1000*15 = 615000.
        let at = Request {
            input_tokens: 200_000,
            output_tokens: 1000,
            ..req("claude-sonnet-4-5-20250929")
        };
        let p = table().price(&at);
        assert!(!p.long_context);
        assert!(near(p.cost_usd, 0.615), "{}", p.cost_usd);
        // At 200,001 the whole request moves: 200001*6 + 1000*22.5 = 1222506.
        let above = Request {
            input_tokens: 200_001,
            ..at
        };
        let p = table().price(&above);
        assert!(p.long_context);
        assert!(near(p.cost_usd, 1.222_506), "{}", p.cost_usd);
    }

    #[test]
    fn long_context_counts_cache_tokens_but_not_output() {
        // 1000 + 100000 + 1000 + 98000 = 200,000: standard rates.
        // 1000*3 + 100000*3.75 + 1000*6 + 98000*0.3 + 100*15 = 414900.
        let at = Request {
            input_tokens: 1000,
            output_tokens: 100,
            cache_write_5m_tokens: 100_000,
            cache_write_1h_tokens: 1000,
            cache_read_tokens: 98_000,
            ..req("claude-sonnet-4")
        };
        let p = table().price(&at);
        assert!(!p.long_context);
        assert!(near(p.cost_usd, 0.4149), "{}", p.cost_usd);
        // One more read token: 1000*6 + 100000*7.5 + 1000*12 + 98001*0.6 + 100*22.5 = 829050.6.
        let above = Request {
            cache_read_tokens: 98_001,
            ..at
        };
        let p = table().price(&above);
        assert!(p.long_context);
        assert!(near(p.cost_usd, 0.829_050_6), "{}", p.cost_usd);
        // Output never pushes a request over.
        let output_heavy = Request {
            input_tokens: 200_000,
            output_tokens: 64_000,
            ..req("claude-sonnet-4")
        };
        assert!(!table().price(&output_heavy).long_context);
    }

    #[test]
    fn models_without_a_tier_never_go_long() {
        // 500000*5 = 2.5 at standard Opus 4.7 rates.
        let r = Request {
            input_tokens: 500_000,
            ..req("claude-opus-4-7")
        };
        let p = table().price(&r);
        assert!(!p.long_context);
        assert!(near(p.cost_usd, 2.5), "{}", p.cost_usd);
    }

    #[test]
    fn long_context_tier_ends_on_its_until_date() {
        // Sonnet 4.6, 300000 input: 300000*6 = 1.8 before 2026-03-13 UTC, 300000*3 = 0.9 from then.
        let before = Request {
            input_tokens: 300_000,
            timestamp_ms: ms("2026-03-12T23:59:59.999Z"),
            ..req("claude-sonnet-4-6")
        };
        let p = table().price(&before);
        assert!(p.long_context);
        assert!(near(p.cost_usd, 1.8), "{}", p.cost_usd);
        let on = Request {
            timestamp_ms: ms("2026-03-13T00:00:00Z"),
            ..before
        };
        let p = table().price(&on);
        assert!(!p.long_context);
        assert!(near(p.cost_usd, 0.9), "{}", p.cost_usd);
    }

    #[test]
    fn opus_4_6_long_context_before_and_after_ga() {
        // Before: 250000*10 + 1000*37.5 = 2537500. After: 250000*5 + 1000*25 = 1275000.
        let before = Request {
            input_tokens: 250_000,
            output_tokens: 1000,
            timestamp_ms: ms("2026-02-20T08:00:00Z"),
            ..req("claude-opus-4-6-20260205")
        };
        assert!(near(cost(&before), 2.5375), "{}", cost(&before));
        let after = Request {
            timestamp_ms: ms("2026-03-14T08:00:00Z"),
            ..before
        };
        assert!(near(cost(&after), 1.275), "{}", cost(&after));
    }

    #[test]
    fn undated_tier_applies_at_any_date() {
        // Sonnet 4.5 has no end date: 300000*6 = 1.8 in 2030 too.
        let r = Request {
            input_tokens: 300_000,
            timestamp_ms: ms("2030-01-01T00:00:00Z"),
            ..req("claude-sonnet-4-5")
        };
        assert!(near(cost(&r), 1.8), "{}", cost(&r));
    }

    #[test]
    fn fast_mode_multiplies_per_model() {
        // Base (1000*5 + 1000*25)/1e6 = 0.03 on every Opus 4.5+ row.
        let fast = |model| Request {
            input_tokens: 1000,
            output_tokens: 1000,
            speed: Some("fast"),
            ..req(model)
        };
        for (model, mult) in [
            ("claude-opus-4-6", 6.0),
            ("claude-opus-4-7", 6.0),
            ("claude-opus-4-8", 2.0),
            ("claude-opus-4-5", 1.0),
        ] {
            let p = table().price(&fast(model));
            assert_eq!(p.multiplier, mult, "{model}");
            assert!(near(p.cost_usd, 0.03 * mult), "{model} {}", p.cost_usd);
        }
        let standard = Request {
            speed: Some("standard"),
            ..fast("claude-opus-4-6")
        };
        let p = table().price(&standard);
        assert_eq!(p.multiplier, 1.0);
        assert!(near(p.cost_usd, 0.03));
    }

    #[test]
    fn us_residency_multiplies_where_offered() {
        let geo = |model, geo| Request {
            input_tokens: 1000,
            output_tokens: 1000,
            inference_geo: geo,
            ..req(model)
        };
        // Opus 4.6: 0.03 x 1.1 = 0.033.
        let p = table().price(&geo("claude-opus-4-6", Some("us")));
        assert_eq!(p.multiplier, 1.1);
        assert!(near(p.cost_usd, 0.033), "{}", p.cost_usd);
        // Sonnet 5: (1000*2 + 1000*10)/1e6 = 0.012 x 1.1 = 0.0132.
        assert!(near(cost(&geo("claude-sonnet-5", Some("us"))), 0.0132));
        for other in [Some("global"), Some("not_available"), None] {
            let p = table().price(&geo("claude-opus-4-6", other));
            assert_eq!(p.multiplier, 1.0, "{other:?}");
            assert!(near(p.cost_usd, 0.03));
        }
        // Opus 4.1 predates data residency: (1000*15 + 1000*75)/1e6 = 0.09, no multiplier.
        let p = table().price(&geo("claude-opus-4-1", Some("us")));
        assert_eq!(p.multiplier, 1.0);
        assert!(near(p.cost_usd, 0.09));
    }

    #[test]
    fn fast_and_us_stack() {
        // 0.03 x 6 x 1.1 = 0.198.
        let r = Request {
            input_tokens: 1000,
            output_tokens: 1000,
            speed: Some("fast"),
            inference_geo: Some("us"),
            ..req("claude-opus-4-7")
        };
        let p = table().price(&r);
        assert!(near(p.multiplier, 6.6), "{}", p.multiplier);
        assert!(near(p.cost_usd, 0.198), "{}", p.cost_usd);
    }

    #[test]
    fn multipliers_apply_to_long_context_rates() {
        // 300000*10 = 3.0 long-context, x6 fast = 18.0.
        let r = Request {
            input_tokens: 300_000,
            speed: Some("fast"),
            timestamp_ms: ms("2026-03-01T00:00:00Z"),
            ..req("claude-opus-4-6")
        };
        let p = table().price(&r);
        assert!(p.long_context);
        assert!(near(p.cost_usd, 18.0), "{}", p.cost_usd);
    }

    #[test]
    fn unknown_models_are_unpriced_at_zero() {
        let unpriced = Priced {
            cost_usd: 0.0,
            priced: false,
            model_key: None,
            long_context: false,
            multiplier: 1.0,
        };
        for model in ["<synthetic>", "claude-opus-4-9", "", "gpt-4o"] {
            let r = Request {
                input_tokens: 300_000,
                output_tokens: 1000,
                web_search_requests: 5,
                speed: Some("fast"),
                ..req(model)
            };
            assert_eq!(table().price(&r), unpriced, "{model}");
        }
    }

    #[test]
    fn provider_spellings_price_like_the_canonical_name() {
        // 1000*3 + 1000*15 = 18000 per 1e6.
        let r = Request {
            input_tokens: 1000,
            output_tokens: 1000,
            ..req("us.anthropic.claude-sonnet-4-20250514-v1:0")
        };
        let p = table().price(&r);
        assert_eq!(p.model_key.as_deref(), Some("claude-sonnet-4"));
        assert!(near(p.cost_usd, 0.018));
    }

    #[test]
    fn overrides_change_the_price() {
        // Input raised to 6: 1000*6 + 1000*25 = 31000 per 1e6.
        let t = PriceTable::embedded()
            .with_overrides("[pricing.models.\"claude-opus-4-6\"]\ninput = 6\n")
            .unwrap();
        let r = Request {
            input_tokens: 1000,
            output_tokens: 1000,
            ..req("claude-opus-4-6")
        };
        assert!(near(t.price(&r).cost_usd, 0.031));
        // New model with defaulted cache: 1000*4 + 1000*5 (4 x 1.25) = 9000 per 1e6.
        let t = t
            .with_overrides("[pricing.models.\"claude-next\"]\ninput = 4\noutput = 20\n")
            .unwrap();
        let r = Request {
            input_tokens: 1000,
            cache_write_5m_tokens: 1000,
            ..req("claude-next")
        };
        assert!(near(t.price(&r).cost_usd, 0.009));
    }
}
