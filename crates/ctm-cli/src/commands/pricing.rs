//! `ctm pricing`: the price table in force and what it cannot price.

use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::cli::PricingArgs;
use crate::context::Context;
use crate::output::{self, int, num, text, ReportTable};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PricingView<'a> {
    version: &'a str,
    as_of: String,
    web_search_usd_per_1000: f64,
    models: Vec<ModelView<'a>>,
    unpriced_models_in_store: Vec<Unpriced>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelView<'a> {
    id: &'a str,
    aliases: &'a [String],
    input: f64,
    output: f64,
    cache_write_5m: f64,
    cache_write_1h: f64,
    cache_read: f64,
    long_context: Option<LongView>,
    fast_multiplier: Option<f64>,
    us_multiplier: Option<f64>,
    note: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LongView {
    threshold: u64,
    input: f64,
    output: f64,
    cache_write_5m: f64,
    cache_write_1h: f64,
    cache_read: f64,
    until: Option<String>,
}

#[derive(Serialize)]
struct Unpriced {
    model: String,
    responses: u64,
}

pub fn run(ctx: &Context, args: &PricingArgs) -> Result<ExitCode> {
    let table = ctx.prices()?;
    let store = ctx.report_store()?;
    let unpriced = ctm_store::facts::unpriced_models(store.conn())?;
    let view = PricingView {
        version: table.version(),
        as_of: table.as_of().to_string(),
        web_search_usd_per_1000: table.web_search_usd_per_1000(),
        models: table
            .models()
            .iter()
            .map(|m| ModelView {
                id: &m.id,
                aliases: &m.aliases,
                input: m.input,
                output: m.output,
                cache_write_5m: m.cache_write_5m,
                cache_write_1h: m.cache_write_1h,
                cache_read: m.cache_read,
                long_context: m.long_context.as_ref().map(|l| LongView {
                    threshold: l.threshold,
                    input: l.input,
                    output: l.output,
                    cache_write_5m: l.cache_write_5m,
                    cache_write_1h: l.cache_write_1h,
                    cache_read: l.cache_read,
                    until: l.until.map(|d| d.to_string()),
                }),
                fast_multiplier: m.fast_multiplier,
                us_multiplier: m.us_multiplier,
                note: m.note.as_deref(),
            })
            .collect(),
        unpriced_models_in_store: unpriced
            .into_iter()
            .map(|(model, responses)| Unpriced { model, responses })
            .collect(),
    };
    if args.json {
        output::print_json(&view)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = output::out();
    out.line(format_args!(
        "Price table {} (checked {}), USD per million tokens; web search ${} per 1,000.",
        view.version, view.as_of, view.web_search_usd_per_1000
    ))?;
    // The model and its input and output prices always show; model names never break.
    let mut t = ReportTable::new(vec![
        text("Model", 0),
        num("Input", 0),
        num("Output", 0),
        num("5m write", 2),
        num("1h write", 4),
        num("Cache read", 1),
        text("Over 200k", 3),
        num("Fast", 5),
        num("US", 6),
    ]);
    let p = |x: f64| format!("{x}");
    for m in &view.models {
        t.row(vec![
            m.id.to_owned(),
            p(m.input),
            p(m.output),
            p(m.cache_write_5m),
            p(m.cache_write_1h),
            p(m.cache_read),
            m.long_context.as_ref().map_or("-".to_owned(), |l| {
                let until = l
                    .until
                    .as_ref()
                    .map_or(String::new(), |u| format!(" until {u}"));
                format!("{}/{}{until}", l.input, l.output)
            }),
            m.fast_multiplier
                .map_or("-".to_owned(), |f| format!("x{f}")),
            m.us_multiplier.map_or("-".to_owned(), |f| format!("x{f}")),
        ]);
    }
    out.report(&t)?;
    if view.unpriced_models_in_store.is_empty() {
        out.line("Every model in the store has a price.")?;
    } else {
        out.line("Models in the store without a price (tokens counted, cost unknown):")?;
        for u in &view.unpriced_models_in_store {
            out.line(format_args!(
                "  {} ({} responses)",
                u.model,
                int(u.responses)
            ))?;
        }
        out.line(format_args!(
            "Add them under [pricing.models.\"NAME\"] in {}.",
            crate::context::tilde(&ctx.config_path)
        ))?;
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}
