//! Live progress on stderr: on a terminal a compact view (one line per
//! active host with its current step and elapsed time, and a host
//! counter); on a pipe plain log lines. Remote text is sanitised first.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::exec::approve::Screen;
use crate::exec::display::sanitize_line;

/// Most host lines shown at once in the live view.
const MAX_LIVE_LINES: usize = 12;

/// The progress task.
pub(crate) struct Progress {
    task: JoinHandle<()>,
    screen: Option<MultiProgress>,
}

impl Progress {
    /// Starts consuming events; `live` picks the terminal view.
    pub fn start(
        events: mpsc::UnboundedReceiver<Arc<Value>>,
        hosts: usize,
        live: bool,
    ) -> Progress {
        if live {
            let multi = MultiProgress::with_draw_target(live_target());
            Progress {
                task: tokio::spawn(live_view(events, hosts, multi.clone())),
                screen: Some(multi),
            }
        } else {
            Progress {
                task: tokio::spawn(plain_lines(events)),
                screen: None,
            }
        }
    }

    /// The live view, for a prompt that must have the terminal to itself;
    /// `None` without one.
    pub fn screen(&self) -> Option<Arc<dyn Screen>> {
        self.screen
            .clone()
            .map(|multi| Arc::new(LiveScreen(multi)) as Arc<dyn Screen>)
    }

    /// Waits until every event has been shown.
    pub async fn finish(self) {
        let _ = self.task.await;
    }
}

fn s<'a>(e: &'a Value, key: &str) -> &'a str {
    e[key].as_str().unwrap_or("")
}

/// One line for an event, or none for events not worth a line.
fn describe(e: &Value) -> Option<String> {
    let host = s(e, "host");
    let step = s(e, "step");
    let line = match s(e, "type") {
        "host_started" => format!("[{host}] started"),
        "connected" => format!(
            "[{host}] connected to {} in {} ms{}",
            s(e, "target"),
            e["duration_ms"],
            if e["reused"] == true {
                " (kept by an earlier run)"
            } else {
                ""
            }
        ),
        // The error names the target already ("cannot connect to node-2: …").
        "connection_failed" => format!("[{host}] {}", s(e, "error")),
        "step_started" if e["attempt"].as_u64().unwrap_or(1) > 1 => {
            format!("[{host}] {step}: attempt {}", e["attempt"])
        }
        "step_started" => return None,
        "step_retried" => format!(
            "[{host}] {step}: {} — retrying in {} ms",
            s(e, "error"),
            e["delay_ms"]
        ),
        "step_finished" => {
            let status = s(e, "status");
            let exit = e["exit_code"]
                .as_i64()
                .map(|c| format!(" exit {c}"))
                .unwrap_or_default();
            let err = e["error"]
                .as_str()
                .map(|x| format!(": {x}"))
                .unwrap_or_default();
            format!(
                "[{host}] {step}: {status}{exit} ({} ms){err}",
                e["duration_ms"]
            )
        }
        "step_skipped" => {
            let reason = s(e, "reason");
            if reason == "pruned" {
                return None;
            }
            let detail = e["detail"]
                .as_str()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            format!(
                "[{host}] {step}: skipped ({}){detail}",
                reason.replace('_', " ")
            )
        }
        "decision" => {
            let goto: Vec<&str> = e["goto"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match s(e, "via") {
                "no_match" => format!("[{host}] {step}: no `next` rule matched"),
                "on_failure" => format!("[{host}] {step}: failed → {}", goto.join(", ")),
                _ => match e["when"].as_str() {
                    Some(w) => format!("[{host}] {step}: {w} → {}", goto.join(", ")),
                    None => format!("[{host}] {step} → {}", goto.join(", ")),
                },
            }
        }
        "approval_asked" => format!("[{host}] {step}: asking approval for: {}", s(e, "command")),
        "approval_given" => format!("[{host}] {step}: approved by {}", s(e, "by")),
        "approval_refused" => format!("[{host}] {step}: refused by {}", s(e, "by")),
        "concluded" => format!(
            "[{host}] conclusion [{}] {}",
            s(e, "severity"),
            s(e, "finding")
        ),
        "host_finished" => {
            let err = e["error"]
                .as_str()
                .map(|x| format!(": {x}"))
                .unwrap_or_default();
            format!(
                "[{host}] finished: {} in {} ms{err}",
                s(e, "status").replace('_', " "),
                e["duration_ms"]
            )
        }
        _ => return None,
    };
    // One event, one line: nothing a host prints may start a line of its
    // own (and forge another host's progress).
    Some(sanitize_line(&line))
}

async fn plain_lines(mut events: mpsc::UnboundedReceiver<Arc<Value>>) {
    use std::io::Write;
    while let Some(e) = events.recv().await {
        if let Some(line) = describe(&e) {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{line}");
        }
    }
}

async fn live_view(
    mut events: mpsc::UnboundedReceiver<Arc<Value>>,
    hosts: usize,
    multi: MultiProgress,
) {
    let total = multi.add(ProgressBar::new(hosts as u64));
    total.set_style(
        ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} hosts done  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    total.enable_steady_tick(Duration::from_millis(200));
    let spinner = ProgressStyle::with_template("  {spinner} {prefix:.bold} {elapsed:>4} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut lines: HashMap<String, ProgressBar> = HashMap::new();
    let mut concluded = 0u64;
    while let Some(e) = events.recv().await {
        show_live(&e, &multi, &total, &spinner, &mut lines, &mut concluded);
    }
    for (_, bar) in lines {
        bar.finish_and_clear();
    }
    total.finish_and_clear();
}

fn live_target() -> ProgressDrawTarget {
    ProgressDrawTarget::stderr_with_hz(10)
}

/// The live view as the approval prompt sees it.
struct LiveScreen(MultiProgress);

impl Screen for LiveScreen {
    fn hide(&self) {
        let _ = self.0.clear();
        self.0.set_draw_target(ProgressDrawTarget::hidden());
    }

    fn show(&self) {
        self.0.set_draw_target(live_target());
    }
}

fn show_live(
    e: &Value,
    multi: &MultiProgress,
    total: &ProgressBar,
    spinner: &ProgressStyle,
    lines: &mut HashMap<String, ProgressBar>,
    concluded: &mut u64,
) {
    let host = s(e, "host").to_string();
    match s(e, "type") {
        "host_started" if lines.len() < MAX_LIVE_LINES => {
            let bar = multi.insert_before(total, ProgressBar::new_spinner());
            bar.set_style(spinner.clone());
            bar.set_prefix(sanitize_line(&host));
            bar.set_message("connecting");
            bar.enable_steady_tick(Duration::from_millis(120));
            lines.insert(host, bar);
        }
        "step_started" => {
            if let Some(bar) = lines.get(&host) {
                bar.set_message(sanitize_line(s(e, "step")));
            }
        }
        "concluded" => {
            *concluded += 1;
            if let Some(line) = describe(e) {
                let _ = multi.println(line);
            }
        }
        "host_finished" => {
            total.inc(1);
            if let Some(bar) = lines.remove(&host) {
                bar.finish_and_clear();
            }
            if s(e, "status") != "concluded" {
                if let Some(line) = describe(e) {
                    let _ = multi.println(line);
                }
            }
            total.set_message(format!("{concluded} conclusions"));
        }
        // An approval prompt takes the terminal itself (`AskTerminal`
        // suspends this view while it asks).
        _ => {}
    }
}
