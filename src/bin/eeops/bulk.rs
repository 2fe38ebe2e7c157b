//! Bulk calls in the CLI: many names at once, at the pace the server allows (the client's
//! adaptive bulk calls), with the current rate on the progress bar.

use eeops::client::{Bulk, BulkOptions, BulkProgress};
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressStyle};

/// The options of the CLI's bulk calls: at most `concurrency` calls in flight.
pub fn options(concurrency: usize) -> BulkOptions {
    BulkOptions::default().with_max_concurrency(concurrency)
}

/// `1234/s, 32 in flight`: the bar's message.
pub fn rate(progress: &BulkProgress) -> String {
    format!(
        "{:.0}/s, {} in flight",
        progress.rate(),
        progress.concurrency()
    )
}

/// Runs a bulk call to the end with a progress bar (`verb` says what is counted, e.g.
/// "cancelled"), and returns every outcome in input order.
pub async fn run<T>(
    mut bulk: Bulk<T>,
    total: usize,
    verb: &str,
) -> Vec<(String, eeops::Result<T>)> {
    let progress = bulk.progress();
    let bar = if total > 1 {
        let style = ProgressStyle::with_template(&format!(
            "{{bar:40.cyan/blue}} {{pos}}/{{len}} {verb} {{msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        ProgressBar::new(total as u64).with_style(style)
    } else {
        ProgressBar::hidden()
    };
    let mut done = Vec::with_capacity(total);
    while let Some(outcome) = bulk.next().await {
        bar.inc(1);
        bar.set_message(rate(&progress));
        done.push(outcome);
    }
    bar.finish_and_clear();
    done.sort_unstable_by_key(|(index, _, _)| *index);
    done.into_iter()
        .map(|(_, name, result)| (name, result))
        .collect()
}
