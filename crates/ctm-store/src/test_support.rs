//! Helpers for tests in other crates (the `test-support` feature): not part of ctm's
//! behaviour, so they stay out of normal builds.

use rusqlite::Connection;

/// Every derived row, floats as SQLite quotes them (17+ digits: exact).
pub fn derived_rows(conn: &Connection) -> Vec<String> {
    let queries = [
        "SELECT date, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, total_tokens, \
         quote(cost_usd), session_count, models_used FROM daily_usage_summary ORDER BY date",
        "SELECT date, total_input_tokens, total_output_tokens, total_cache_read_tokens, total_cache_write_tokens, \
         quote(total_cost_usd), quote(avg_cache_hit_rate), session_count, model_breakdown, hourly_distribution \
         FROM daily_aggregates ORDER BY date",
        "SELECT date, total_cache_tokens, cache_hit_tokens, quote(cache_savings_usd), quote(hit_rate) \
         FROM cache_analytics ORDER BY date",
        "SELECT session_id, session_start, session_end, input_tokens, output_tokens, total_tokens, quote(total_cost), \
         cache_creation_tokens, cache_read_tokens, model_name, project_name, message_count, quote(efficiency_score) \
         FROM claude_sessions ORDER BY session_id",
        "SELECT session_id, model, responses, unpriced_responses FROM session_models \
         ORDER BY session_id, model",
        "SELECT block_id, start_time, end_time, total_tokens, session_count, status, first_ts, last_ts, \
         responses, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, quote(cost_usd), \
         unpriced_responses, models FROM usage_blocks ORDER BY block_id",
        // By text, not id: two stores may number their texts in other orders.
        "SELECT q.slot, s.session_id, p.path, m.name, q.first_ts, q.last_ts, q.responses, q.input_tokens, \
         q.output_tokens, q.cache_write_5m_tokens, q.cache_write_1h_tokens, q.cache_read_tokens, \
         q.web_search_requests, q.cost_nanos, q.savings_nanos, q.unpriced_responses FROM quarter_usage q \
         LEFT JOIN sessions s ON s.id = q.session LEFT JOIN projects p ON p.id = q.project \
         LEFT JOIN models m ON m.id = q.model ORDER BY q.slot, s.session_id, p.path, m.name",
    ];
    let mut out = Vec::new();
    for q in queries {
        let mut stmt = conn.prepare(q).unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}
