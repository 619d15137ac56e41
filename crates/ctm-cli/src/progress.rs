//! Progress bars (stderr, terminals only, long runs only): the ingest's and the push's.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Bar {
    bar: ProgressBar,
    threshold: u64,
}

impl Bar {
    pub fn new(threshold: u64) -> Bar {
        Bar {
            bar: ProgressBar::hidden(),
            threshold,
        }
    }
}

impl ctm_ingest::Progress for Bar {
    fn start(&self, total_bytes: u64) {
        if total_bytes < self.threshold {
            return;
        }
        self.bar.set_length(total_bytes);
        self.bar.set_style(
            ProgressStyle::with_template(
                "reading transcripts {bar:30} {bytes}/{total_bytes} ({eta})",
            )
            .expect("a fixed template parses"),
        );
        self.bar.set_draw_target(ProgressDrawTarget::stderr());
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The push progress bar (stderr, terminals only, large pushes only).
pub struct PushBar {
    bar: ProgressBar,
    threshold: u64,
}

impl PushBar {
    pub fn new(threshold: u64) -> PushBar {
        PushBar {
            bar: ProgressBar::hidden(),
            threshold,
        }
    }
}

impl ctm_team::PushProgress for PushBar {
    fn start(&self, total: u64) {
        if total < self.threshold {
            return;
        }
        self.bar.set_length(total);
        self.bar.set_style(
            ProgressStyle::with_template("pushing responses {bar:30} {pos}/{len} ({eta})")
                .expect("a fixed template parses"),
        );
        self.bar.set_draw_target(ProgressDrawTarget::stderr());
    }

    fn advance(&self, sent: u64) {
        self.bar.inc(sent);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
