//! Figures as people read them, shared by every front end (tables, the live screen,
//! the statusline), so "$1,234.50" and "1h 35m" look the same everywhere.

/// 1234567 -> "1,234,567".
pub fn int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// 1234.5 -> "$1,234.50"; a figure that leaves out unpriced responses gets a "*".
pub fn usd(x: f64, complete: bool) -> String {
    let cents = (x * 100.0).round() as i64;
    let mark = if complete { "" } else { "*" };
    format!(
        "${}.{:02}{mark}",
        int((cents / 100).unsigned_abs()),
        (cents % 100).abs()
    )
}

/// 1_234_567 -> "1.2M", for narrow tables.
pub fn short(n: u64) -> String {
    match n {
        0..=9_999 => int(n),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.2}B", n as f64 / 1e9),
    }
}

/// 0 -> "0m", 95 -> "1h 35m", 1500 -> "1d 1h".
pub fn duration(minutes: f64) -> String {
    let m = minutes.max(0.0).round() as u64;
    match m {
        0..=59 => format!("{m}m"),
        60..=1439 => format!("{}h {:02}m", m / 60, m % 60),
        _ => format!("{}d {}h", m / 1440, m % 1440 / 60),
    }
}

/// "claude-sonnet-4-5-20250929" -> "sonnet-4-5" for table cells (JSON keeps full names).
pub fn short_model(m: &str) -> String {
    let m = m.strip_prefix("claude-").unwrap_or(m);
    match m.rsplit_once('-') {
        Some((head, date)) if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) => {
            head.to_owned()
        }
        _ => m.to_owned(),
    }
}

const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One character per value, its height scaled to the largest value.
pub fn sparkline(values: &[f64]) -> String {
    let max = values.iter().cloned().fold(0.0_f64, f64::max);
    values
        .iter()
        .map(|&v| {
            if max <= 0.0 || v <= 0.0 {
                SPARKS[0]
            } else {
                SPARKS[((v / max) * 7.0).round() as usize]
            }
        })
        .collect()
}
