//! `ctm pricing`: the prices in force; `update` and `reset`, which replace them and
//! reprice history in one transaction; `check`, ctm's cost beside Claude Code's own.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use ctm_analytics::text::short_model;
use ctm_pricing::{
    detect_format, diff, merge_under, read_litellm, Format, Kept, ModelPrice, Origin, PriceTable,
    PricingError, Rates, TableDiff,
};
use ctm_store::price_table::{self, StoredTable};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::cli::{PricingArgs, PricingCommand};
use crate::context::{tilde, Context};
use crate::fetch;
use crate::output::{self, int, num, text, usd, words, Out, ReportTable};

pub fn run(ctx: &Context, args: &PricingArgs) -> Result<ExitCode> {
    match &args.command {
        None => show(ctx, args.json),
        Some(PricingCommand::Update { from, json }) => update(ctx, from.as_deref(), *json),
        Some(PricingCommand::Reset { json }) => reset(ctx, *json),
        Some(PricingCommand::Check { json }) => check(ctx, *json),
    }
}

fn today() -> Result<Date> {
    Ok(super::now()?.to_zoned(TimeZone::UTC).date())
}

// ---- ctm pricing -------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PricingView<'a> {
    version: &'a str,
    as_of: String,
    /// `embedded`, or `stored` (chosen by `ctm pricing update`).
    origin: &'static str,
    source: Option<&'a str>,
    /// Where the stored table was read from, and when.
    updated_from: Option<UpdatedFrom>,
    /// Config overrides apply on top (their hash ends the version).
    overrides: bool,
    /// The UTC day "today" means below.
    today: String,
    web_search_usd_per_1000: f64,
    models: Vec<ModelView<'a>>,
    unpriced_models_in_store: Vec<Unpriced>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UpdatedFrom {
    format: String,
    source: String,
    updated_at: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RatesView {
    input: f64,
    output: f64,
    cache_write_5m: f64,
    cache_write_1h: f64,
    cache_read: f64,
}

impl From<Rates> for RatesView {
    fn from(r: Rates) -> Self {
        RatesView {
            input: r.input,
            output: r.output,
            cache_write_5m: r.cache_write_5m,
            cache_write_1h: r.cache_write_1h,
            cache_read: r.cache_read,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelView<'a> {
    id: &'a str,
    aliases: &'a [String],
    /// The base rates in force today (dated changes applied).
    today: RatesView,
    /// Today's fast-mode multiplier, when fast mode is offered today.
    fast_multiplier_today: Option<f64>,
    us_multiplier: Option<f64>,
    /// The base rates before any dated change.
    base: RatesView,
    dated: Vec<DatedView<'a>>,
    bands: Vec<BandView<'a>>,
    fast: Vec<FastView<'a>>,
    note: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DatedView<'a> {
    from: String,
    input: Option<f64>,
    output: Option<f64>,
    cache_write_5m: Option<f64>,
    cache_write_1h: Option<f64>,
    cache_read: Option<f64>,
    note: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BandView<'a> {
    above_prompt_tokens: u64,
    from: Option<String>,
    until: Option<String>,
    rates: RatesView,
    note: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FastView<'a> {
    multiplier: f64,
    from: Option<String>,
    until: Option<String>,
    note: Option<&'a str>,
}

#[derive(Serialize)]
struct Unpriced {
    model: String,
    responses: u64,
}

fn model_view(m: &ModelPrice, today: Date) -> ModelView<'_> {
    let day = |d: Option<Date>| d.map(|d| d.to_string());
    ModelView {
        id: &m.id,
        aliases: &m.aliases,
        today: m.rates_on(today).into(),
        fast_multiplier_today: m.fast_on(today),
        us_multiplier: m.us_multiplier,
        base: m.rates.into(),
        dated: m
            .dated
            .iter()
            .map(|d| DatedView {
                from: d.from.to_string(),
                input: d.input,
                output: d.output,
                cache_write_5m: d.cache_write_5m,
                cache_write_1h: d.cache_write_1h,
                cache_read: d.cache_read,
                note: d.note.as_deref(),
            })
            .collect(),
        bands: m
            .bands
            .iter()
            .map(|b| BandView {
                above_prompt_tokens: b.above_prompt_tokens,
                from: day(b.from),
                until: day(b.until),
                rates: b.rates.into(),
                note: b.note.as_deref(),
            })
            .collect(),
        fast: m
            .fast
            .iter()
            .map(|f| FastView {
                multiplier: f.multiplier,
                from: day(f.from),
                until: day(f.until),
                note: f.note.as_deref(),
            })
            .collect(),
        note: m.note.as_deref(),
    }
}

fn window(from: &Option<String>, until: &Option<String>) -> String {
    match (from, until) {
        (None, None) => String::new(),
        (Some(f), None) => format!(" from {f}"),
        (None, Some(u)) => format!(" until {u}"),
        (Some(f), Some(u)) => format!(" {f} to {u}"),
    }
}

fn date_window(from: Option<Date>, until: Option<Date>) -> String {
    window(&from.map(|d| d.to_string()), &until.map(|d| d.to_string()))
}

/// The dated, banded and fast-mode rules of a row, one per line.
fn rules_text(m: &ModelPrice) -> String {
    let mut lines = Vec::new();
    let mut before = m.rates;
    for d in &m.dated {
        let after = m.rates_on(d.from);
        let parts: Vec<String> = [
            ("input", before.input, after.input, d.input),
            ("output", before.output, after.output, d.output),
            (
                "5m write",
                before.cache_write_5m,
                after.cache_write_5m,
                d.cache_write_5m,
            ),
            (
                "1h write",
                before.cache_write_1h,
                after.cache_write_1h,
                d.cache_write_1h,
            ),
            (
                "cache read",
                before.cache_read,
                after.cache_read,
                d.cache_read,
            ),
        ]
        .into_iter()
        .filter(|(_, _, _, named)| named.is_some())
        .map(|(name, old, new, _)| format!("{name} {old} -> {new}"))
        .collect();
        lines.push(format!("{} from {}", parts.join(", "), d.from));
        before = after;
    }
    for b in &m.bands {
        let r = &b.rates;
        lines.push(format!(
            "prompt > {}{}: {} / {} / {} / {} / {}",
            int(b.above_prompt_tokens),
            date_window(b.from, b.until),
            r.input,
            r.output,
            r.cache_write_5m,
            r.cache_write_1h,
            r.cache_read
        ));
    }
    for f in &m.fast {
        lines.push(format!(
            "fast x{}{}",
            f.multiplier,
            date_window(f.from, f.until)
        ));
    }
    if lines.is_empty() {
        "-".to_owned()
    } else {
        lines.join("\n")
    }
}

fn show(ctx: &Context, json: bool) -> Result<ExitCode> {
    let mut store = ctx.open_store()?;
    ctx.ingest(&mut store)?;
    let conn = store.conn();
    let table = ctx.prices_in_force(conn)?;
    let stored = price_table::stored(conn)?;
    let unpriced = ctm_store::facts::unpriced_models(conn)?;
    let today = today()?;
    let view = PricingView {
        version: table.version(),
        as_of: table.as_of().to_string(),
        origin: match table.origin() {
            Origin::Embedded => "embedded",
            Origin::Stored | Origin::Table => "stored",
        },
        source: table.source(),
        updated_from: stored
            .as_ref()
            .filter(|_| table.origin() != Origin::Embedded)
            .map(|s| UpdatedFrom {
                format: s.origin.clone(),
                source: s.source.clone(),
                updated_at: ctm_model::utc::format(s.updated_at_ms),
            }),
        overrides: table.has_overrides(),
        today: today.to_string(),
        web_search_usd_per_1000: table.web_search_usd_per_1000(),
        models: table
            .models()
            .iter()
            .map(|m| model_view(m, today))
            .collect(),
        unpriced_models_in_store: unpriced
            .into_iter()
            .map(|(model, responses)| Unpriced { model, responses })
            .collect(),
    };
    if json {
        output::print_json(&view)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = output::out();
    let from = match &view.updated_from {
        Some(u) => format!(
            "kept in the store by `ctm pricing update` from {} on {}",
            u.source, u.updated_at
        ),
        None => "embedded in this ctm".to_owned(),
    };
    out.line(format_args!(
        "Price table {} (as of {}), {from}{}.",
        view.version,
        view.as_of,
        if view.overrides {
            format!(", with the overrides in {}", tilde(&ctx.config_path))
        } else {
            String::new()
        }
    ))?;
    if table.origin() != Origin::Embedded {
        let embedded = PriceTable::embedded();
        if embedded.as_of() > table.as_of() {
            out.line(format_args!(
                "This ctm embeds a newer table ({}): `ctm pricing reset` uses it, `ctm pricing update` merges LiteLLM's file under it.",
                embedded.version()
            ))?;
        }
    }
    out.line(format_args!(
        "USD per million tokens in force today ({} UTC); web search ${} per 1,000, never multiplied.",
        view.today, view.web_search_usd_per_1000
    ))?;
    // The model and its input and output prices always show; model names never break.
    let mut t = ReportTable::new(vec![
        text("Model", 0),
        num("Input", 0),
        num("Output", 0),
        num("5m write", 2),
        num("1h write", 4),
        num("Cache read", 1),
        num("Fast", 5),
        num("US", 6),
        words("Dated and banded rates", 3),
    ]);
    let x = |m: Option<f64>| m.map_or("-".to_owned(), |f| format!("x{f}"));
    for (m, row) in view.models.iter().zip(table.models()) {
        t.row(vec![
            m.id.to_owned(),
            m.today.input.to_string(),
            m.today.output.to_string(),
            m.today.cache_write_5m.to_string(),
            m.today.cache_write_1h.to_string(),
            m.today.cache_read.to_string(),
            x(m.fast_multiplier_today),
            x(m.us_multiplier),
            rules_text(row),
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
            "`ctm pricing update` may know them; or add them under [pricing.models.\"NAME\"] in {} and run `ctm db reprice`.",
            tilde(&ctx.config_path)
        ))?;
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

// ---- update and reset --------------------------------------------------------------

/// A new table, read and validated whole, in the form it will be kept.
struct Prepared {
    table: PriceTable,
    body: String,
    format: Format,
    litellm: Option<LiteLlmImport>,
}

struct LiteLlmImport {
    entries_read: usize,
    entries_ignored: usize,
    kept: Vec<Kept>,
    web_search_kept: Option<(f64, f64)>,
}

fn prepare(text: &str, source: &str, today: Date) -> Result<Prepared, PricingError> {
    let format = detect_format(text);
    let (table, litellm) = match format {
        Format::Ctm => (PriceTable::from_toml(text)?, None),
        Format::LiteLlm => {
            let imported = read_litellm(text)?;
            let merged = merge_under(&PriceTable::embedded(), &imported, today, source)?;
            (
                merged.table,
                Some(LiteLlmImport {
                    entries_read: imported.entries_read,
                    entries_ignored: imported.entries_ignored,
                    kept: merged.kept,
                    web_search_kept: merged.web_search_kept,
                }),
            )
        }
    };
    // Kept as ctm's format and read back the way every later run will read it.
    let body = table.to_toml();
    let table = PriceTable::from_stored_toml(&body)?;
    Ok(Prepared {
        table,
        body,
        format,
        litellm,
    })
}

fn read_source(source: &str) -> Result<String> {
    if fetch::is_url(source) {
        return fetch::fetch(source);
    }
    let meta = std::fs::metadata(source).with_context(|| format!("cannot read {source}"))?;
    if meta.len() > fetch::MAX_BYTES {
        anyhow::bail!(
            "{source} is over {} MiB: not a price table",
            fetch::MAX_BYTES >> 20
        );
    }
    let bytes = std::fs::read(source).with_context(|| format!("cannot read {source}"))?;
    String::from_utf8(bytes).with_context(|| format!("{source} is not UTF-8 text"))
}

/// A table that cannot be used: one line, exit 2, nothing changed.
fn refuse(source: &str, e: impl std::fmt::Display) -> ExitCode {
    eprintln!(
        "ctm: error: {source}: {}; nothing was changed",
        e.to_string().replace('\n', " ")
    );
    ExitCode::from(2)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangeView {
    model: String,
    what: String,
    old: Option<String>,
    new: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeptView {
    model: String,
    /// The curated row has dated changes, bands or dated fast mode.
    curated_rules: bool,
    /// `ctm` is the curated value, `litellm` the imported one.
    differences: Vec<KeptDifference>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeptDifference {
    what: String,
    ctm: Option<String>,
    litellm: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Changed {
    version: String,
    previous_version: String,
    as_of: String,
    /// `ctm`, `litellm`, or `embedded` (reset).
    format: &'static str,
    source: String,
    entries_read: Option<usize>,
    entries_ignored: Option<usize>,
    models_added: Vec<String>,
    models_removed: Vec<String>,
    rates_changed: Vec<ChangeView>,
    web_search_usd_per_1000: Option<(String, String)>,
    kept: Vec<KeptView>,
    repriced: ctm_ingest::Repriced,
    difference_usd: f64,
}

fn changed_view(
    new: &PriceTable,
    old: &PriceTable,
    d: TableDiff,
    format: &'static str,
    source: String,
    litellm: Option<&LiteLlmImport>,
    repriced: ctm_ingest::Repriced,
) -> Changed {
    Changed {
        version: new.version().to_owned(),
        previous_version: old.version().to_owned(),
        as_of: new.as_of().to_string(),
        format,
        source,
        entries_read: litellm.map(|l| l.entries_read),
        entries_ignored: litellm.map(|l| l.entries_ignored),
        models_added: d.models_added,
        models_removed: d.models_removed,
        rates_changed: d
            .changes
            .into_iter()
            .map(|c| ChangeView {
                model: c.model,
                what: c.what,
                old: c.old,
                new: c.new,
            })
            .collect(),
        web_search_usd_per_1000: d.web_search,
        kept: litellm
            .map(|l| {
                l.kept
                    .iter()
                    .map(|k| KeptView {
                        model: k.model.clone(),
                        curated_rules: k.has_curated_rules,
                        differences: k
                            .differences
                            .iter()
                            .map(|c| KeptDifference {
                                what: c.what.clone(),
                                ctm: c.old.clone(),
                                litellm: c.new.clone(),
                            })
                            .collect(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        difference_usd: repriced.total_after_usd - repriced.total_before_usd,
        repriced,
    }
}

fn signed_usd(x: f64) -> String {
    if x < 0.0 {
        format!("-{}", usd(-x, true))
    } else {
        format!("+{}", usd(x, true))
    }
}

fn print_changed(
    out: &mut Out,
    c: &Changed,
    litellm: Option<&LiteLlmImport>,
) -> std::io::Result<()> {
    if let (Some(read), Some(ignored)) = (c.entries_read, c.entries_ignored) {
        out.line(format_args!(
            "Read {} Anthropic Claude entries of LiteLLM's file ({} others left alone).",
            int(read as u64),
            int(ignored as u64)
        ))?;
    }
    let or_none = |v: &[String]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    out.line(format_args!("Models added: {}.", or_none(&c.models_added)))?;
    if !c.models_removed.is_empty() {
        out.line(format_args!(
            "Models removed: {}.",
            c.models_removed.join(", ")
        ))?;
    }
    if c.rates_changed.is_empty() && c.web_search_usd_per_1000.is_none() {
        out.line(format_args!("Rates changed: none."))?;
    } else {
        out.line(format_args!("Rates changed:"))?;
        let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "none".to_owned());
        for r in &c.rates_changed {
            out.line(format_args!(
                "  {} {}: {} -> {}",
                r.model,
                r.what,
                v(&r.old),
                v(&r.new)
            ))?;
        }
        if let Some((old, new)) = &c.web_search_usd_per_1000 {
            out.line(format_args!("  web search per 1,000: {old} -> {new}"))?;
        }
    }
    if let Some(l) = litellm {
        if !l.kept.is_empty() {
            out.line(format_args!(
                "Kept ctm's curated rows where LiteLLM differs (an import never replaces them):"
            ))?;
            for k in &c.kept {
                out.line(format_args!(
                    "  {}{}: {}",
                    k.model,
                    if k.curated_rules {
                        " (dated or banded rules)"
                    } else {
                        ""
                    },
                    kept_summary(&k.differences)
                ))?;
            }
        }
        if let Some((ctm, theirs)) = l.web_search_kept {
            out.line(format_args!(
                "  web search per 1,000: ctm {ctm}, LiteLLM {theirs}: kept ctm's"
            ))?;
        }
    }
    let r = &c.repriced;
    out.line(format_args!(
        "Repriced {} responses: {} changed cost; total {} -> {} ({}).",
        int(r.responses),
        int(r.cost_changed),
        usd(r.total_before_usd, true),
        usd(r.total_after_usd, true),
        signed_usd(c.difference_usd)
    ))?;
    if r.unpriced_before + r.unpriced_after > 0 {
        out.line(format_args!(
            "Responses without a price: {} before, {} now.",
            int(r.unpriced_before),
            int(r.unpriced_after)
        ))?;
    }
    Ok(())
}

/// Where a curated row and LiteLLM differ, in a few words: a band's rates as one item,
/// a fast-mode window or a rate only one side states as one, a rate both state with
/// both values.
fn kept_summary(differences: &[KeptDifference]) -> String {
    let mut items: Vec<String> = Vec::new();
    let mut bands: Vec<(String, bool, bool)> = Vec::new();
    for d in differences {
        if let Some((_, band)) = d.what.split_once(" above ") {
            let (ctm, theirs) = (d.ctm.is_some(), d.litellm.is_some());
            match bands.iter_mut().find(|b| b.0 == band) {
                Some(b) => {
                    b.1 |= ctm;
                    b.2 |= theirs;
                }
                None => bands.push((band.to_owned(), ctm, theirs)),
            }
            continue;
        }
        items.push(match (&d.ctm, &d.litellm) {
            (Some(v), None) => format!("{} {v} only in ctm", d.what),
            (None, Some(v)) => format!("{} {v} only in LiteLLM", d.what),
            (Some(a), Some(b)) => format!("{} ctm {a}, LiteLLM {b}", d.what),
            (None, None) => continue,
        });
    }
    for (band, ctm, theirs) in bands {
        let who = match (ctm, theirs) {
            (true, false) => "only in ctm",
            (false, true) => "only in LiteLLM",
            _ => "with other rates in each",
        };
        items.push(format!("the band above {band} {who}"));
    }
    items.join("; ")
}

fn update(ctx: &Context, from: Option<&str>, json: bool) -> Result<ExitCode> {
    let source = match from {
        Some(f) => f.to_owned(),
        None => ctx.update_url()?,
    };
    let text = read_source(&source)?;
    let now = super::now()?;
    // Validated whole before the store is touched.
    let prepared = match prepare(&text, &source, today()?) {
        Ok(p) => p,
        Err(e) => return Ok(refuse(&source, e)),
    };
    let given = ctx.prices()?;
    let new = match given.rebased(prepared.table.clone()) {
        Ok(t) => t,
        Err(e) => {
            return Ok(refuse(
                &source,
                format!(
                    "the overrides in {} do not fit it: {e}",
                    tilde(&ctx.config_path)
                ),
            ))
        }
    };
    let mut store = ctx.open_store()?;
    // History up to date first, so what repricing changes is the user's whole history.
    ctx.ingest(&mut store)?;
    let tx = store.write()?;
    let old = ctx.prices_in_force(&tx)?;
    let d = diff(&old, &new);
    let format = match prepared.format {
        Format::Ctm => "ctm",
        Format::LiteLlm => "litellm",
    };
    price_table::store(
        &tx,
        &StoredTable {
            origin: format.to_owned(),
            version: prepared.table.base_version().to_owned(),
            source: source.clone(),
            updated_at_ms: now.as_millisecond(),
            body: prepared.body.clone(),
        },
    )?;
    let repriced = ctm_ingest::reprice(&tx, &new)?;
    tx.commit()?;
    let c = changed_view(
        &new,
        &old,
        d,
        format,
        source.clone(),
        prepared.litellm.as_ref(),
        repriced,
    );
    if json {
        output::print_json(&c)?;
    } else {
        let mut out = output::out();
        out.line(format_args!(
            "Price table {} (as of {}) from {source} is now in force, kept in the store (it was {}).",
            c.version, c.as_of, c.previous_version
        ))?;
        print_changed(&mut out, &c, prepared.litellm.as_ref())?;
        out.finish()?;
    }
    Ok(ExitCode::SUCCESS)
}

fn reset(ctx: &Context, json: bool) -> Result<ExitCode> {
    let new = ctx.prices()?;
    let mut store = ctx.open_store()?;
    ctx.ingest(&mut store)?;
    let tx = store.write()?;
    if price_table::stored(&tx)?.is_none() {
        drop(tx);
        if json {
            output::print_json(&serde_json::json!({ "version": new.version(), "changed": false }))?;
        } else {
            output::say(format_args!(
                "The embedded table {} is already in force; nothing changed.",
                new.version()
            ))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let old = ctx.prices_in_force(&tx)?;
    price_table::clear(&tx)?;
    let d = diff(&old, &new);
    let repriced = ctm_ingest::reprice(&tx, &new)?;
    tx.commit()?;
    let c = changed_view(
        &new,
        &old,
        d,
        "embedded",
        "this ctm".to_owned(),
        None,
        repriced,
    );
    if json {
        output::print_json(&c)?;
    } else {
        let mut out = output::out();
        out.line(format_args!(
            "The embedded table {} (as of {}) is in force again (it was {}).",
            c.version, c.as_of, c.previous_version
        ))?;
        print_changed(&mut out, &c, None)?;
        out.finish()?;
    }
    Ok(ExitCode::SUCCESS)
}

// ---- check -------------------------------------------------------------------------

fn check(ctx: &Context, json: bool) -> Result<ExitCode> {
    let mut store = ctx.open_store()?;
    ctx.ingest(&mut store)?;
    let report = ctm_analytics::pricing_check(&store)?;
    let code = if report.disagreeing > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    if json {
        output::print_json(&report)?;
        return Ok(code);
    }
    let mut out = output::out();
    if report.checked == 0 {
        out.line(format_args!(
            "No session has a cost figure from Claude Code yet: it writes one (a cost-state line) when a \
             session ends, from version 2.1.289 on, and `ctm statusline` keeps the one its statusline receives."
        ))?;
        out.finish()?;
        return Ok(code);
    }
    let pct = |p: Option<f64>| p.map_or("-".to_owned(), |p| format!("{p:+.1}%"));
    let off: Vec<_> = report.sessions.iter().filter(|s| !s.agrees).collect();
    if !off.is_empty() {
        let mut t = ReportTable::new(vec![
            text("Session", 0),
            text("Source", 4),
            words("Models", 3),
            num("ctm", 1),
            num("Claude Code", 0),
            num("Difference", 0),
            num("", 2),
        ]);
        for s in &off {
            let models: Vec<String> = s.models.iter().map(|m| short_model(m)).collect();
            t.row(vec![
                s.session_id.get(..8).unwrap_or(&s.session_id).to_owned(),
                s.source.to_owned(),
                models.join(", "),
                usd(s.ctm_cost_usd, true),
                usd(s.claude_code_cost_usd, true),
                signed_usd(s.difference_usd),
                pct(s.difference_pct),
            ]);
        }
        out.report(&t)?;
        out.line(format_args!("Likely causes:"))?;
        for s in &off {
            out.line(format_args!("  {}: {}", s.session_id, s.causes.join("; ")))?;
        }
    }
    out.line(format_args!(
        "{} of {} sessions differ from Claude Code's own figure by more than 1% and $0.01; {} agree.",
        int(report.disagreeing),
        int(report.checked),
        int(report.checked - report.disagreeing)
    ))?;
    if !off.is_empty() {
        out.line(format_args!(
            "Claude Code also bills requests no transcript shows and uses its own bundled prices; \
             `ctm pricing update` brings newer ones to ctm."
        ))?;
    }
    out.finish()?;
    Ok(code)
}
