//! Money as integer nano-dollars: a response's cost is rounded once, to the nano-dollar,
//! and every sum after that is an integer sum, the same whatever order it is added in.
//! Reports and the seed tables' REAL columns show `nanos / 1e9`.

/// A cost in dollars to the nearest nano-dollar (halves away from zero, as SQLite's
/// `round` does, so a migration in SQL rounds as ingest does); saturating, 0 for NaN.
pub fn nanos_of_usd(usd: f64) -> i64 {
    (usd * 1e9).round() as i64
}

/// Nano-dollars as dollars: the correctly rounded quotient, so one sum always shows as
/// the same number.
pub fn usd_of_nanos(nanos: i64) -> f64 {
    nanos as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_round_to_the_nano_and_back() {
        assert_eq!(nanos_of_usd(0.0165), 16_500_000);
        assert_eq!(usd_of_nanos(16_500_000), 0.0165);
        assert_eq!(nanos_of_usd(1.5e-9), 2);
        assert_eq!(nanos_of_usd(-1.5e-9), -2);
        assert_eq!(nanos_of_usd(f64::NAN), 0);
        // Every stored figure below $4.5M comes back as the integer it was.
        for n in [1, 7, 123_456_789, 4_500_000_000_000_000] {
            assert_eq!(nanos_of_usd(usd_of_nanos(n)), n);
        }
    }
}
