//! Integration tests: the real `ctm` binary on temporary folders. One test binary with
//! modules, so the suite links once.

mod cli {
    pub mod support;

    mod bad_input;
    mod burn;
    mod core;
    mod crash_and_concurrency;
    mod generated;
    mod hostile;
    mod lifecycle;
    mod live;
    mod mcp;
    mod metrics;
    mod pipes;
    mod pricing;
    mod prune_facts;
    mod reports;
    pub mod serve;
    mod serve_browser;
    mod setup;
    mod snapshots_cmd;
    pub mod statusline;
    mod store_errors;
    mod team;
    mod v1_compat;
    mod web_hardening;
}
