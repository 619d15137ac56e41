//! Token and money sums: the unit every aggregate is made of.

use crate::money::usd_of_nanos;

/// Sums of billed responses. Every field is an integer, so adding in any order or any
/// grouping gives the same sums.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sums {
    pub responses: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_write_5m_tokens: u64,
    pub cache_write_1h_tokens: u64,
    pub cache_read_tokens: u64,
    pub web_search_requests: u64,
    /// The cost in nano-dollars (each response's rounded once, then added).
    pub cost_nanos: i64,
    /// What the cached tokens would have cost as plain input, minus what they cost, in
    /// nano-dollars (negative when cache writes cost more than they saved).
    pub savings_nanos: i64,
    /// Responses whose model has no price: their tokens count, their cost is unknown.
    pub unpriced_responses: u64,
}

impl Sums {
    pub fn cache_creation_tokens(&self) -> u64 {
        self.cache_write_5m_tokens + self.cache_write_1h_tokens
    }

    /// input + output + cache writes + cache reads, the "total tokens" of reports.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens
            + self.output_tokens
            + self.cache_creation_tokens()
            + self.cache_read_tokens
    }

    pub fn cost_usd(&self) -> f64 {
        usd_of_nanos(self.cost_nanos)
    }

    pub fn cache_savings_usd(&self) -> f64 {
        usd_of_nanos(self.savings_nanos)
    }

    /// cache read / (cache write + cache read); 0 when nothing was cached.
    pub fn hit_rate(&self) -> f64 {
        ratio(
            self.cache_read_tokens,
            self.cache_creation_tokens() + self.cache_read_tokens,
        )
    }

    /// cache read / (input + cache write + cache read); 0 when nothing was sent.
    pub fn efficiency_score(&self) -> f64 {
        ratio(
            self.cache_read_tokens,
            self.input_tokens + self.cache_creation_tokens() + self.cache_read_tokens,
        )
    }

    pub fn add(&mut self, o: &Sums) {
        self.responses += o.responses;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cache_write_5m_tokens += o.cache_write_5m_tokens;
        self.cache_write_1h_tokens += o.cache_write_1h_tokens;
        self.cache_read_tokens += o.cache_read_tokens;
        self.web_search_requests += o.web_search_requests;
        self.cost_nanos += o.cost_nanos;
        self.savings_nanos += o.savings_nanos;
        self.unpriced_responses += o.unpriced_responses;
    }

    /// Takes back what [`Sums::add`] added (the sums held it).
    pub fn subtract(&mut self, o: &Sums) {
        self.responses -= o.responses;
        self.input_tokens -= o.input_tokens;
        self.output_tokens -= o.output_tokens;
        self.cache_write_5m_tokens -= o.cache_write_5m_tokens;
        self.cache_write_1h_tokens -= o.cache_write_1h_tokens;
        self.cache_read_tokens -= o.cache_read_tokens;
        self.web_search_requests -= o.web_search_requests;
        self.cost_nanos -= o.cost_nanos;
        self.savings_nanos -= o.savings_nanos;
        self.unpriced_responses -= o.unpriced_responses;
    }
}

fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_define_hit_rate_and_efficiency() {
        let s = Sums {
            input_tokens: 10,
            cache_write_5m_tokens: 100,
            cache_read_tokens: 900,
            ..Sums::default()
        };
        assert_eq!(s.hit_rate(), 900.0 / 1000.0);
        assert_eq!(s.efficiency_score(), 900.0 / 1010.0);
        assert_eq!(Sums::default().hit_rate(), 0.0);
    }

    #[test]
    fn subtracting_takes_back_an_addition() {
        let a = Sums {
            responses: 2,
            output_tokens: 7,
            cost_nanos: 5,
            savings_nanos: -3,
            ..Sums::default()
        };
        let mut s = a;
        let b = Sums {
            responses: 1,
            cost_nanos: 9,
            savings_nanos: 4,
            ..Sums::default()
        };
        s.add(&b);
        s.subtract(&b);
        assert_eq!(s, a);
    }
}
