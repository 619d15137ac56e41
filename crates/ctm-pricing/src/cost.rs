//! Cost of one API response.

use crate::table::PriceTable;

/// The billable facts of one API response.
///
/// When a log has no 5m/1h breakdown of `cache_creation_input_tokens`, the caller puts
/// all of them in `cache_write_5m_tokens` (Anthropic's default cache lifetime).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request<'a> {
    pub model: &'a str,
    /// UTC epoch milliseconds of the response; selects dated rates, bands and fast mode.
    pub timestamp_ms: i64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_write_5m_tokens: u64,
    pub cache_write_1h_tokens: u64,
    pub cache_read_tokens: u64,
    pub web_search_requests: u64,
    /// `usage.speed`; `"fast"` applies the model's fast multiplier of that date.
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
    /// The whole request was billed at a prompt-length band's rates.
    pub banded: bool,
    /// Fast x data-residency multiplier applied to the token cost (1.0 when none).
    pub multiplier: f64,
    /// What the request would have cost with every cached token (written or read)
    /// billed as plain input: the same prompt, so the same rates and multiplier. 0 when
    /// unpriced.
    pub uncached_cost_usd: f64,
}

impl PriceTable {
    /// Prices one response (rules R1-R9 of the reference; see `docs/pricing.md`).
    /// Unknown models come back unpriced at zero cost.
    pub fn price(&self, req: &Request) -> Priced {
        let Some(row) = self.resolve_index(req.model) else {
            return Priced {
                cost_usd: 0.0,
                priced: false,
                model_key: None,
                banded: false,
                multiplier: 1.0,
                uncached_cost_usd: 0.0,
            };
        };
        let m = &self.models[row];
        let prompt = req
            .input_tokens
            .saturating_add(req.cache_write_5m_tokens)
            .saturating_add(req.cache_write_1h_tokens)
            .saturating_add(req.cache_read_tokens);
        let terms = self.terms(
            row,
            req.timestamp_ms,
            prompt,
            req.speed == Some("fast"),
            req.inference_geo == Some("us"),
        );
        let (r, multiplier) = (terms.rates, terms.multiplier);
        let tokens_usd = (req.input_tokens as f64 * r.input
            + req.output_tokens as f64 * r.output
            + req.cache_write_5m_tokens as f64 * r.cache_write_5m
            + req.cache_write_1h_tokens as f64 * r.cache_write_1h
            + req.cache_read_tokens as f64 * r.cache_read)
            / 1e6;

        // The same sum with the cached tokens at the input rate (the zero terms left
        // out change nothing).
        let uncached_tokens_usd =
            (prompt as f64 * r.input + req.output_tokens as f64 * r.output) / 1e6;

        // The search fee is a flat per-call charge, outside the token multipliers.
        let search_usd = req.web_search_requests as f64 * self.web_search_usd_per_1000() / 1000.0;

        Priced {
            cost_usd: tokens_usd * multiplier + search_usd,
            priced: true,
            model_key: Some(m.id.clone()),
            banded: terms.banded,
            multiplier,
            uncached_cost_usd: uncached_tokens_usd * multiplier + search_usd,
        }
    }

    /// The rates and multiplier of a request to row `row` at `t` with this prompt, fast
    /// or not, in the US or not: rules R1-R9's choices, shared by [`PriceTable::price`]
    /// and [`PriceTable::price_group`].
    pub(crate) fn terms(&self, row: usize, t: i64, prompt: u64, fast: bool, us: bool) -> Terms<'_> {
        let m = &self.models[row];
        let s = &self.schedules[row];
        // Once the prompt is strictly above a band's threshold, every token of the
        // request (output included) moves to the band's rates; the highest band passed
        // wins (bands are kept highest first).
        let band = s
            .bands
            .iter()
            .find(|&&(from, until, above, _)| from <= t && t < until && prompt > above);
        let rates = match band {
            Some((_, _, _, rates)) => rates,
            None => s.rates_at(t),
        };
        // Fast mode outside the dates it was offered is billed at standard speed (the
        // API refuses it there; Claude Code falls back).
        let fast = if fast {
            s.fast
                .iter()
                .find(|&&(from, until, _)| from <= t && t < until)
                .map_or(1.0, |f| f.2)
        } else {
            1.0
        };
        let us = if us {
            m.us_multiplier.unwrap_or(1.0)
        } else {
            1.0
        };
        Terms {
            rates,
            banded: band.is_some(),
            multiplier: fast * us,
        }
    }
}

/// What a request is billed at: its rates and the multiplier on its token cost.
pub(crate) struct Terms<'a> {
    pub rates: &'a crate::table::Rates,
    pub banded: bool,
    pub multiplier: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PriceTable {
        PriceTable::embedded()
    }

    fn at<'a>(model: &'a str, utc: &str) -> Request<'a> {
        Request {
            model,
            timestamp_ms: ms(utc),
            ..Request::default()
        }
    }

    fn req(model: &str) -> Request<'_> {
        at(model, "2026-12-01T12:00:00Z")
    }

    fn ms(utc: &str) -> i64 {
        utc.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    fn priced(r: &Request) -> Priced {
        let p = table().price(r);
        assert!(p.priced, "{} unpriced", r.model);
        p
    }

    fn cost(r: &Request) -> f64 {
        priced(r).cost_usd
    }

    /// Equal to the cent's billionth: every figure below is worked out by hand.
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
        assert_eq!(
            table().price(&r),
            Priced {
                cost_usd: table().price(&r).cost_usd,
                priced: true,
                model_key: Some("claude-opus-4-1".into()),
                banded: false,
                multiplier: 1.0,
                uncached_cost_usd: table().price(&r).uncached_cost_usd,
            }
        );
        assert!(near(cost(&r), 0.195), "{}", cost(&r));
        // Every cached token at the input rate: 16000*15 + 500*75 = 277500 per 1e6.
        let uncached = priced(&r).uncached_cost_usd;
        assert!(near(uncached, 0.2775), "{uncached}");
    }

    #[test]
    fn per_model_cache_read_rates() {
        // A million cache reads: Opus 5.5 0.05x of $4, Fable 5.2 0.025x of $8, Fable 5 0.1x.
        let reads = |model| Request {
            cache_read_tokens: 1_000_000,
            ..req(model)
        };
        assert!(near(cost(&reads("claude-opus-5-5")), 0.20));
        assert!(near(cost(&reads("claude-fable-5-2")), 0.20));
        assert!(near(cost(&reads("claude-fable-5-1")), 0.25));
        assert!(near(cost(&reads("claude-fable-5")), 1.00));
        // Haiku 5.5 below its band: 100,000 reads at $0.01.
        let haiku = Request {
            cache_read_tokens: 100_000,
            ..req("claude-haiku-5-5")
        };
        assert!(near(cost(&haiku), 0.001));
    }

    #[test]
    fn haiku_5_5_band_starts_strictly_above_100000_prompt_tokens() {
        // 100,000 = 60,000 input + 30,000 cache read + 6,000 5m + 4,000 1h: low band.
        // 60000*0.10 + 30000*0.01 + 6000*0.125 + 4000*0.20 + 2000*0.50 = 8850 per 1e6.
        let at_threshold = Request {
            input_tokens: 60_000,
            cache_read_tokens: 30_000,
            cache_write_5m_tokens: 6_000,
            cache_write_1h_tokens: 4_000,
            output_tokens: 2_000,
            ..req("claude-haiku-5-5")
        };
        let p = priced(&at_threshold);
        assert!(!p.banded);
        assert!(near(p.cost_usd, 0.008_85), "{}", p.cost_usd);
        // One more cache-read token: 100,001, the whole request (output too) at 5x.
        // 60000*0.5 + 30001*0.05 + 6000*0.625 + 4000*1.0 + 2000*2.5 = 44250.05 per 1e6.
        let above = Request {
            cache_read_tokens: 30_001,
            ..at_threshold
        };
        let p = priced(&above);
        assert!(p.banded);
        assert!(near(p.cost_usd, 0.044_250_05), "{}", p.cost_usd);
        // Output alone never pushes a request over.
        let output_heavy = Request {
            input_tokens: 100_000,
            output_tokens: 50_000,
            ..req("claude-haiku-5-5")
        };
        assert!(!priced(&output_heavy).banded);
    }

    #[test]
    fn sonnet_5_5_cache_read_cut_at_midnight_utc_on_2026_10_07() {
        // A million cache reads: $0.20 until 2026-10-06T23:59:59.999Z, $0.10 from 00:00.
        let before = Request {
            cache_read_tokens: 1_000_000,
            ..at("claude-sonnet-5-5", "2026-10-06T23:59:59.999Z")
        };
        assert!(near(cost(&before), 0.20), "{}", cost(&before));
        let on = Request {
            timestamp_ms: ms("2026-10-07T00:00:00Z"),
            ..before
        };
        assert!(near(cost(&on), 0.10), "{}", cost(&on));
        // An offset timestamp is the same instant: 2026-10-07T01:30+02:00 is 23:30 UTC the day before.
        let offset = Request {
            timestamp_ms: ms("2026-10-07T01:30:00+02:00"),
            ..before
        };
        assert!(near(cost(&offset), 0.20), "{}", cost(&offset));
        // Other rates never changed: 1000 input = $0.002 on both sides.
        let input = |utc| Request {
            input_tokens: 1000,
            ..at("claude-sonnet-5-5", utc)
        };
        assert!(near(cost(&input("2026-10-06T12:00:00Z")), 0.002));
        assert!(near(cost(&input("2026-10-08T12:00:00Z")), 0.002));
    }

    #[test]
    fn legacy_200k_band_ends_on_its_date() {
        // Opus 4.6, 250,000 input + 1000 output: 250000*10 + 1000*37.5 = 2537500 before
        // 2026-03-13, 250000*5 + 1000*25 = 1275000 from then.
        let before = Request {
            input_tokens: 250_000,
            output_tokens: 1000,
            ..at("claude-opus-4-6", "2026-03-12T23:59:59.999Z")
        };
        let p = priced(&before);
        assert!(p.banded);
        assert!(near(p.cost_usd, 2.5375), "{}", p.cost_usd);
        let on = Request {
            timestamp_ms: ms("2026-03-13T00:00:00Z"),
            ..before
        };
        let p = priced(&on);
        assert!(!p.banded);
        assert!(near(p.cost_usd, 1.275), "{}", p.cost_usd);
        // At exactly 200,000 the band does not apply: 200000*3 + 1000*15 = 615000.
        let sonnet = Request {
            input_tokens: 200_000,
            output_tokens: 1000,
            ..at("claude-sonnet-4-5", "2026-02-01T00:00:00Z")
        };
        assert!(near(cost(&sonnet), 0.615));
        // 200,001: 200001*6 + 1000*22.5 = 1222506.
        let sonnet = Request {
            input_tokens: 200_001,
            ..sonnet
        };
        assert!(near(cost(&sonnet), 1.222_506));
    }

    #[test]
    fn models_without_a_band_never_move() {
        // Opus 5.5 with 900,000 input: 900000*4 = 3.6, the 1M window at one rate.
        let r = Request {
            input_tokens: 900_000,
            ..req("claude-opus-5-5")
        };
        let p = priced(&r);
        assert!(!p.banded);
        assert!(near(p.cost_usd, 3.6));
    }

    #[test]
    fn fast_mode_multiplies_per_model_while_offered() {
        // 1000 input + 1000 output; Opus 5.5: 1000*4 + 1000*20 = 0.024, x2 fast.
        let fast = |model, utc| Request {
            input_tokens: 1000,
            output_tokens: 1000,
            speed: Some("fast"),
            ..at(model, utc)
        };
        let p = priced(&fast("claude-opus-5-5", "2026-12-01T00:00:00Z"));
        assert_eq!(p.multiplier, 2.0);
        assert!(near(p.cost_usd, 0.048));
        // Fable 5.2: (1000*8 + 1000*40) x2 = 0.096.
        assert!(near(
            cost(&fast("claude-fable-5-2", "2026-12-01T00:00:00Z")),
            0.096
        ));
        // Opus 4.7 at 6x while offered: (5000 + 25000) x6 = 0.18; after 2026-07-24, standard.
        assert!(near(
            cost(&fast("claude-opus-4-7", "2026-07-23T23:00:00Z")),
            0.18
        ));
        let p = priced(&fast("claude-opus-4-7", "2026-07-24T00:00:00Z"));
        assert_eq!(p.multiplier, 1.0);
        assert!(near(p.cost_usd, 0.03));
        // Opus 4.8 fast ended 2026-11-30.
        assert!(near(
            cost(&fast("claude-opus-4-8", "2026-11-29T23:59:59Z")),
            0.06
        ));
        assert!(near(
            cost(&fast("claude-opus-4-8", "2026-11-30T00:00:00Z")),
            0.03
        ));
        // Opus 4.6's launch promotion: 3x until 2026-02-16, then 6x.
        assert!(near(
            cost(&fast("claude-opus-4-6", "2026-02-10T00:00:00Z")),
            0.09
        ));
        assert!(near(
            cost(&fast("claude-opus-4-6", "2026-02-16T00:00:00Z")),
            0.18
        ));
        // No fast mode on Sonnet 5.5: standard price.
        let p = priced(&fast("claude-sonnet-5-5", "2026-12-01T00:00:00Z"));
        assert_eq!(p.multiplier, 1.0);
        // speed "standard" is standard.
        let standard = Request {
            speed: Some("standard"),
            ..fast("claude-opus-5-5", "2026-12-01T00:00:00Z")
        };
        assert!(near(cost(&standard), 0.024));
    }

    #[test]
    fn us_residency_multiplies_from_opus_4_6_on() {
        let geo = |model, geo| Request {
            input_tokens: 1000,
            output_tokens: 1000,
            inference_geo: geo,
            ..req(model)
        };
        // Haiku 5.5: (1000*0.1 + 1000*0.5) x1.1 = 0.00066.
        let p = priced(&geo("claude-haiku-5-5", Some("us")));
        assert_eq!(p.multiplier, 1.1);
        assert!(near(p.cost_usd, 0.000_66), "{}", p.cost_usd);
        for other in [Some("global"), Some("not_available"), Some(""), None] {
            let p = priced(&geo("claude-opus-5-5", other));
            assert_eq!(p.multiplier, 1.0, "{other:?}");
        }
        // Opus 4.5 predates data residency: no multiplier.
        assert_eq!(priced(&geo("claude-opus-4-5", Some("us"))).multiplier, 1.0);
    }

    #[test]
    fn fast_and_us_stack() {
        // Opus 5.5: (1000*4 + 1000*20 + 1000*5 + 1000*8 + 10000*0.2)/1e6 = 0.039, x2 x1.1 = 0.0858.
        let r = Request {
            input_tokens: 1000,
            output_tokens: 1000,
            cache_write_5m_tokens: 1000,
            cache_write_1h_tokens: 1000,
            cache_read_tokens: 10_000,
            speed: Some("fast"),
            inference_geo: Some("us"),
            ..req("claude-opus-5-5")
        };
        let p = priced(&r);
        assert!(near(p.multiplier, 2.2), "{}", p.multiplier);
        assert!(near(p.cost_usd, 0.0858), "{}", p.cost_usd);
    }

    #[test]
    fn multipliers_apply_to_band_rates() {
        // Opus 4.6 before 2026-03-13 with 300,000 input, fast: 300000*10 x6 = 18.0.
        let r = Request {
            input_tokens: 300_000,
            speed: Some("fast"),
            ..at("claude-opus-4-6", "2026-03-01T00:00:00Z")
        };
        let p = priced(&r);
        assert!(p.banded);
        assert!(near(p.cost_usd, 18.0), "{}", p.cost_usd);
        // Haiku 5.5 banded and US: (200000*0.5 + 1000*2.5) x1.1 = 0.11275.
        let r = Request {
            input_tokens: 200_000,
            output_tokens: 1000,
            inference_geo: Some("us"),
            ..req("claude-haiku-5-5")
        };
        assert!(near(cost(&r), 0.112_75), "{}", cost(&r));
    }

    #[test]
    fn web_search_is_flat_and_never_multiplied() {
        // Opus 5.5 fast + US: (1000*4 + 1000*20)/1e6 x2.2 = 0.0528, plus 3 searches at $0.01.
        let r = Request {
            input_tokens: 1000,
            output_tokens: 1000,
            web_search_requests: 3,
            speed: Some("fast"),
            inference_geo: Some("us"),
            ..req("claude-opus-5-5")
        };
        assert!(near(cost(&r), 0.0528 + 0.03), "{}", cost(&r));
        // In a band too: Haiku 5.5 at 150,000 input: 150000*0.5 = 0.075, plus $0.01.
        let r = Request {
            input_tokens: 150_000,
            web_search_requests: 1,
            ..req("claude-haiku-5-5")
        };
        assert!(near(cost(&r), 0.085), "{}", cost(&r));
    }

    #[test]
    fn unknown_models_are_unpriced_at_zero() {
        for model in ["<synthetic>", "claude-opus-5-7", "", "gpt-4o"] {
            let r = Request {
                input_tokens: 300_000,
                output_tokens: 1000,
                web_search_requests: 5,
                speed: Some("fast"),
                ..req(model)
            };
            assert_eq!(
                table().price(&r),
                Priced {
                    cost_usd: 0.0,
                    priced: false,
                    model_key: None,
                    banded: false,
                    multiplier: 1.0,
                    uncached_cost_usd: 0.0,
                },
                "{model}"
            );
        }
    }

    #[test]
    fn spellings_price_like_the_canonical_name() {
        // 1000*2 + 1000*10 = 12000 per 1e6, whatever the spelling.
        for model in [
            "claude-sonnet-5-5[1m]",
            "us.anthropic.claude-sonnet-5-5-v1:0",
            "anthropic/claude-sonnet-5-5",
            "claude-sonnet-5-5-20260928",
        ] {
            let r = Request {
                input_tokens: 1000,
                output_tokens: 1000,
                ..req(model)
            };
            let p = priced(&r);
            assert_eq!(p.model_key.as_deref(), Some("claude-sonnet-5-5"), "{model}");
            assert!(near(p.cost_usd, 0.012), "{model}");
        }
    }

    #[test]
    fn absurd_counts_stay_finite() {
        // The parser caps counts at 10^8; the table caps rates and multipliers: the worst
        // case is large but finite.
        let t = table()
            .with_overrides(
                "[pricing.models.\"claude-opus-5-5\"]\ninput = 10000\noutput = 10000\n\
                 us_multiplier = 100\n[[pricing.models.\"claude-opus-5-5\".fast]]\nmultiplier = 100\n",
            )
            .unwrap();
        let r = Request {
            input_tokens: 100_000_000,
            output_tokens: 100_000_000,
            cache_write_5m_tokens: 100_000_000,
            cache_write_1h_tokens: 100_000_000,
            cache_read_tokens: 100_000_000,
            web_search_requests: 100_000_000,
            speed: Some("fast"),
            inference_geo: Some("us"),
            ..req("claude-opus-5-5")
        };
        assert!(t.price(&r).cost_usd.is_finite());
    }

    proptest::proptest! {
        /// The uncached cost is, to the bit, the price of the same request with its
        /// cached tokens moved to plain input: across bands, fast mode, the US
        /// multiplier and the search fee.
        #[test]
        fn the_uncached_cost_is_the_request_priced_without_cache(
            model in proptest::sample::select(crate::group::tests::MODELS.to_vec()),
            day in 0i64..800,
            counts in proptest::array::uniform6(0u64..400_000),
            fast: bool,
            us: bool,
        ) {
            let req = Request {
                model,
                timestamp_ms: ms("2025-01-01T00:00:00Z") + day * 86_400_000,
                input_tokens: counts[0],
                output_tokens: counts[1],
                cache_write_5m_tokens: counts[2],
                cache_write_1h_tokens: counts[3],
                cache_read_tokens: counts[4],
                web_search_requests: counts[5] % 20,
                speed: fast.then_some("fast"),
                inference_geo: us.then_some("us"),
            };
            let plain = Request {
                input_tokens: counts[0] + counts[2] + counts[3] + counts[4],
                cache_write_5m_tokens: 0,
                cache_write_1h_tokens: 0,
                cache_read_tokens: 0,
                ..req
            };
            let t = table();
            proptest::prop_assert_eq!(
                t.price(&req).uncached_cost_usd.to_bits(),
                t.price(&plain).cost_usd.to_bits()
            );
        }
    }
}
