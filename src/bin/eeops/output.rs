//! How operations look on the terminal: tables, summaries and JSON lines.
//!
//! Every string a server sent goes through [`clean`] before it reaches a table, a summary or
//! an error line, so a task description cannot clear the screen or retitle the terminal.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write as _;

use eeops::client::{OperationExt, Outcome, RawValue};
use eeops::pb::google::earthengine::v1::OperationMetadata;
use eeops::pb::google::longrunning::{Operation, operation};
use serde_json::{Value as Json, json};

/// Writes to stdout. A closed stdout (`eeops list | head -1`) ends the program at once, quietly
/// and with exit code 0: the reader has what it wanted. Another write error ends it with 1.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        write_stderr(format_args!("error: cannot write to stdout: {e}\n"));
        std::process::exit(1);
    }
}

/// Writes to stderr, ignoring failures (there is nowhere left to report them).
pub fn write_stderr(args: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.flush());
}

/// Characters that must not reach a terminal raw: C0 and C1 controls (ESC, BEL, CSI, ...),
/// DEL, and the bidirectional overrides that make text read differently from what it is.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every control character escaped (`\x1b`, `\n`, `\u{202e}`), for text that came
/// from a server and is shown on a terminal. JSON output needs no such care: serde escapes it.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The task id of an operation name (what follows `/operations/`), or the whole name.
pub fn task_id(name: &str) -> &str {
    name.split_once("/operations/").map_or(name, |(_, id)| id)
}

/// What to say when metadata could not be verified (gRPC, a server other than eeops').
pub const UNVERIFIED_NOTE: &str = "metadata over gRPC from a server other than eeops' cannot be \
     verified (Google publishes no proto for it): states show only what each operation \
     proves; details need --transport rest";

/// [`UNVERIFIED_NOTE`] when any of `ops` has unverified metadata.
pub fn unverified_note<'a>(ops: impl IntoIterator<Item = &'a Operation>) -> Option<&'static str> {
    ops.into_iter()
        .any(|op| op.metadata_unverified())
        .then_some(UNVERIFIED_NOTE)
}

/// The state to show: the metadata's, else what `done` and the result say (`running` when
/// the operation is not done and its metadata is missing or unverified: it may be pending).
pub fn state_label(op: &Operation) -> String {
    if op.metadata_unverified() && !op.done {
        return "running".into();
    }
    if let Some(md) = op.metadata() {
        let s = md.state().as_str_name();
        if s != "STATE_UNSPECIFIED" {
            return s.to_owned();
        }
    }
    match op.outcome() {
        Outcome::Running => "RUNNING",
        Outcome::Succeeded(_) => "SUCCEEDED",
        Outcome::Cancelled(_) => "CANCELLED",
        Outcome::Failed(_) => "FAILED",
        _ => "UNKNOWN",
    }
    .to_owned()
}

/// A timestamp as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_time(t: Option<&prost_types::Timestamp>) -> String {
    let Some(t) = t else { return "-".into() };
    let days = t.seconds.div_euclid(86_400);
    let secs = t.seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Shift to an era starting on 0000-03-01 so that leap days fall at the end of a year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The progress to show: what the metadata says while running; 100% for a success; for a
/// task that failed or was cancelled, the progress it had reached only if it is below 100%
/// (a failed task is not "100%" done).
fn progress_label(md: Option<&OperationMetadata>, op: &Operation) -> String {
    let reported = md.map(|m| m.progress).filter(|p| p.is_finite());
    match op.outcome() {
        Outcome::Succeeded(_) => "100%".into(),
        Outcome::Running => match reported {
            Some(p) if p > 0.0 => format!("{:.0}%", p.clamp(0.0, 1.0) * 100.0),
            _ => "-".into(),
        },
        _ => match reported {
            Some(p) if p > 0.0 && p < 1.0 => format!("{:.0}%", p * 100.0),
            _ => "-".into(),
        },
    }
}

/// Column widths are capped so a long description does not wrap every row.
const DESCRIPTION_WIDTH: usize = 48;

/// The table of `list`; `long` adds the update time, EECU-seconds, destination URIs and the
/// error message.
pub fn table(ops: &[Operation], long: bool) -> String {
    let rows: Vec<Vec<String>> = ops
        .iter()
        .map(|op| {
            let md = op.metadata();
            let mut row = vec![
                clean(task_id(&op.name)).into_owned(),
                md.as_ref()
                    .map(|m| clean(&m.r#type).into_owned())
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "-".into()),
                state_label(op),
                progress_label(md.as_ref(), op),
                format_time(md.as_ref().and_then(|m| m.create_time.as_ref())),
            ];
            if long {
                row.push(format_time(
                    md.as_ref().and_then(|m| m.update_time.as_ref()),
                ));
                row.push(
                    md.as_ref()
                        .filter(|m| m.batch_eecu_usage_seconds > 0.0)
                        .map(|m| format!("{:.1}", m.batch_eecu_usage_seconds))
                        .unwrap_or_else(|| "-".into()),
                );
            }
            row.push(
                md.as_ref()
                    .map(|m| truncate(&clean(&m.description), DESCRIPTION_WIDTH))
                    .unwrap_or_default(),
            );
            if long {
                let uris = md
                    .as_ref()
                    .map(|m| m.destination_uris.join(" "))
                    .unwrap_or_default();
                row.push(if uris.is_empty() {
                    "-".into()
                } else {
                    clean(&uris).into_owned()
                });
                row.push(
                    op.error()
                        .map(|s| clean(&format!("{}: {}", s.code, s.message)).into_owned())
                        .unwrap_or_default(),
                );
            }
            row
        })
        .collect();
    let header: Vec<&str> = if long {
        vec![
            "ID",
            "TYPE",
            "STATE",
            "PROGRESS",
            "CREATED (UTC)",
            "UPDATED (UTC)",
            "EECU-S",
            "DESCRIPTION",
            "DESTINATIONS",
            "ERROR",
        ]
    } else {
        vec![
            "ID",
            "TYPE",
            "STATE",
            "PROGRESS",
            "CREATED (UTC)",
            "DESCRIPTION",
        ]
    };
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths.iter().copied()).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                l.push_str(cell);
                l.extend(std::iter::repeat_n(' ', w - cell.chars().count() + 2));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&cells);
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// The readable summary of `get`.
pub fn details(op: &Operation) -> String {
    let mut out = String::new();
    let mut kv = |k: &str, v: String| {
        if !v.is_empty() {
            out.push_str(&format!("{k:<14}{}\n", clean(&v)));
        }
    };
    kv("name", op.name.clone());
    let md = op.metadata();
    kv("state", state_label(op));
    kv("done", op.done.to_string());
    if let Some(md) = &md {
        kv("type", md.r#type.clone());
        kv("description", md.description.clone());
        kv("progress", progress_label(Some(md), op));
        kv("priority", md.priority.to_string());
        kv(
            "attempt",
            if md.attempt > 0 {
                md.attempt.to_string()
            } else {
                String::new()
            },
        );
        kv("created", time_or_empty(md.create_time.as_ref()));
        kv("started", time_or_empty(md.start_time.as_ref()));
        kv("updated", time_or_empty(md.update_time.as_ref()));
        kv("ended", time_or_empty(md.end_time.as_ref()));
        if md.batch_eecu_usage_seconds > 0.0 {
            kv(
                "eecu-seconds",
                format!("{:.1}", md.batch_eecu_usage_seconds),
            );
        }
        kv("script", md.script_uri.clone());
        for uri in &md.destination_uris {
            kv("destination", uri.clone());
        }
        for s in &md.stages {
            kv(
                "stage",
                format!(
                    "{}: {}/{} {}",
                    s.display_name, s.complete_work_units, s.total_work_units, s.description
                ),
            );
        }
        for n in &md.notifications {
            kv(
                "notification",
                format!("{} {}: {}", n.severity().as_str_name(), n.topic, n.detail),
            );
        }
    } else if op.metadata_unverified() {
        kv(
            "metadata",
            "unverified (gRPC from a server other than eeops'; Google publishes no proto for \
             it): details need --transport rest"
                .into(),
        );
    } else if let Some(raw) = op.raw_metadata() {
        kv(
            "metadata",
            format!("(type {}, not Earth Engine's)", raw.type_url()),
        );
    }
    kv("outcome", outcome_label(op));
    out
}

fn time_or_empty(t: Option<&prost_types::Timestamp>) -> String {
    if t.is_some() {
        format_time(t)
    } else {
        String::new()
    }
}

/// `running`, `succeeded`, `cancelled (code 1: ...)`, `failed (code N: ...)`, with the
/// server's message escaped.
pub fn outcome_label(op: &Operation) -> String {
    match outcome_detail(op) {
        Some(detail) => format!("{} ({detail})", outcome_word(op)),
        None => outcome_word(op).to_owned(),
    }
}

/// `running`, `succeeded`, `cancelled`, `failed`.
pub fn outcome_word(op: &Operation) -> &'static str {
    match op.outcome() {
        Outcome::Running => "running",
        Outcome::Succeeded(_) => "succeeded",
        Outcome::Cancelled(_) => "cancelled",
        Outcome::Failed(_) => "failed",
        _ => "unknown",
    }
}

/// The error of a finished operation as `code N: message` (escaped), if it has one.
pub fn outcome_detail(op: &Operation) -> Option<String> {
    op.error()
        .map(|s| format!("code {}: {}", s.code, clean(&s.message)))
}

/// The proto3 JSON of an operation; Anys of unknown types are shown as they came.
pub fn operation_json(op: &Operation) -> Json {
    // Unverified metadata would decode into a guess: show it as raw bytes instead.
    if !op.metadata_unverified()
        && let Ok(v) = eeops::json::to_json_value(op)
    {
        return v;
    }
    // Some Any could not be resolved: write the rest, then put the raw values back.
    let mut bare = op.clone();
    bare.metadata = None;
    if matches!(bare.result, Some(operation::Result::Response(_))) {
        bare.result = None;
    }
    let mut v = eeops::json::to_json_value(&bare)
        .unwrap_or_else(|_| json!({"name": op.name, "done": op.done}));
    let raw_json = |raw: RawValue| match raw {
        RawValue::Json(j) => j,
        RawValue::Binary { type_url, value } => {
            json!({"@type": type_url, "binaryLength": value.len()})
        }
        _ => Json::Null,
    };
    if let Some(obj) = v.as_object_mut() {
        if let Some(raw) = op.raw_metadata() {
            let mut metadata = raw_json(raw);
            if op.metadata_unverified()
                && let Some(m) = metadata.as_object_mut()
            {
                m.insert("unverified".into(), Json::Bool(true));
            }
            obj.insert("metadata".into(), metadata);
        }
        if let Some(raw) = op.raw_response() {
            obj.insert("response".into(), raw_json(raw));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let t = |seconds| format_time(Some(&prost_types::Timestamp { seconds, nanos: 0 }));
        assert_eq!(t(0), "1970-01-01 00:00:00");
        assert_eq!(t(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(t(1_795_454_412), "2026-11-23 17:20:12");
        assert_eq!(t(-1), "1969-12-31 23:59:59");
    }

    #[test]
    fn escapes() {
        assert_eq!(clean("plain text, ünïcode"), "plain text, ünïcode");
        assert_eq!(clean("\x1b[2Jx"), "\\x1b[2Jx");
        assert_eq!(clean("\x1b]0;t\x07"), "\\x1b]0;t\\x07");
        assert_eq!(clean("a\nb\u{9b}c\u{202e}"), "a\\nb\\u{9b}c\\u{202e}");
    }

    #[test]
    fn ids() {
        assert_eq!(task_id("projects/p/operations/ABC"), "ABC");
        assert_eq!(task_id("operations/x"), "operations/x");
    }
}
