//! Cell texts the reports share: times, durations, shares, model and path names, and
//! the two unicode charts (sparkline, heatmap shades).

use crate::output::usd;

/// Eight heights, lowest first.
/// Nothing, then four shades.
const SHADES: [char; 5] = [' ', '░', '▒', '▓', '█'];

/// "2026-03-08T16:30:00.000+09:00" -> "2026-03-08 16:30" (the report's zone already).
pub fn minute(rfc3339: &str) -> String {
    let (date, rest) = rfc3339.split_once('T').unwrap_or((rfc3339, ""));
    format!("{date} {}", rest.get(..5).unwrap_or(rest))
}

/// "2026-03-08T16:30:05.000+09:00" -> "2026-03-08 16:30:05".
pub fn second(rfc3339: &str) -> String {
    let (date, rest) = rfc3339.split_once('T').unwrap_or((rfc3339, ""));
    format!("{date} {}", rest.get(..8).unwrap_or(rest))
}

pub use ctm_analytics::text::{duration, short_model, sparkline};

/// 0.4237 -> "42.4%".
pub fn share(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// Models as short names, comma-separated.
pub fn models(names: &[String]) -> String {
    names
        .iter()
        .map(|m| short_model(m))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The last two folders of a long path: "/home/u/projects/app/web" -> "…/app/web".
pub fn short_path(path: &str) -> String {
    let parts: Vec<&str> = path.trim_end_matches('/').rsplitn(3, '/').collect();
    match parts.as_slice() {
        [last, parent, rest] if !rest.is_empty() => format!("…/{parent}/{last}"),
        _ => path.to_owned(),
    }
}

/// The last folder of a project path, for narrow cells.
pub fn folder(path: Option<&str>) -> String {
    let path = path.unwrap_or("unknown").trim_end_matches('/');
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

/// The first 8 characters of a session id (a unique prefix in practice; `ctm session
/// <prefix>` accepts it).
pub fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

/// A shade for `value` scaled to `max`: blank for nothing, full block for the maximum,
/// and never blank for anything above zero.
pub fn shade(value: u64, max: u64) -> char {
    if value == 0 || max == 0 {
        return SHADES[0];
    }
    let level = (value as f64 / max as f64 * 4.0).ceil() as usize;
    SHADES[level.clamp(1, 4)]
}

/// `output::usd` keeping the sign: caching can save a negative amount.
pub fn signed_usd(x: f64) -> String {
    if x < 0.0 {
        format!("-{}", usd(-x, true))
    } else {
        usd(x, true)
    }
}

/// "$1.23" as a CSV cell: plain digits.
pub fn csv_usd(x: f64) -> String {
    format!("{x:.6}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_are_shortened_for_tables() {
        assert_eq!(short_model("claude-sonnet-4-5-20250929"), "sonnet-4-5");
        assert_eq!(short_model("claude-opus-4-6"), "opus-4-6");
        assert_eq!(short_model("unknown"), "unknown");
    }

    #[test]
    fn sparkline_scales_to_the_largest_value() {
        // 0 and tiny values sit on the floor; 0.5 of the max rounds to the 5th step of 8.
        assert_eq!(sparkline(&[0.0, 1.0, 2.0, 4.0]), "▁▃▅█");
        assert_eq!(sparkline(&[0.0, 0.0]), "▁▁");
        assert_eq!(sparkline(&[3.0]), "█");
        assert_eq!(sparkline(&[0.01, 7.0]), "▁█");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn shades_scale_to_the_busiest_cell() {
        let row: String = [0, 1, 25, 26, 50, 51, 75, 76, 100]
            .iter()
            .map(|&v| shade(v, 100))
            .collect();
        assert_eq!(row, " ░░▒▒▓▓██");
        assert_eq!(shade(0, 0), ' ');
    }

    #[test]
    fn texts() {
        assert_eq!(duration(0.4), "0m");
        assert_eq!(duration(95.0), "1h 35m");
        assert_eq!(duration(1500.0), "1d 1h");
        assert_eq!(share(0.4237), "42.4%");
        assert_eq!(minute("2026-03-08T16:30:05.000+09:00"), "2026-03-08 16:30");
        assert_eq!(
            second("2026-03-08T16:30:05.000+09:00"),
            "2026-03-08 16:30:05"
        );
        assert_eq!(short_path("/home/u/projects/app/web"), "…/app/web");
        assert_eq!(short_path("/work/alpha"), "/work/alpha");
        assert_eq!(short_path("unknown"), "unknown");
        assert_eq!(folder(Some("/work/alpha/")), "alpha");
        assert_eq!(folder(None), "unknown");
        assert_eq!(short_id("258c7280-ae70-4798"), "258c7280");
        assert_eq!(signed_usd(-0.005), "-$0.01");
        assert_eq!(signed_usd(1.1525), "$1.15");
    }
}
