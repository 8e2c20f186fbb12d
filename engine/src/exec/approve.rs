//! Approval of mutating steps: `--yes` approves, a terminal asks the person
//! (one prompt at a time, showing the rendered command), and without
//! either the step is refused. Every answer is recorded.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Go ahead; `by` whom.
    Approved(String),
    /// Do not; `by` whom or why.
    Refused(String),
}

/// Decides whether a mutating step may run.
#[async_trait]
pub trait Approver: Send + Sync {
    /// Asks about `command` for `step` on `host`.
    async fn approve(&self, host: &str, step: &str, command: &str) -> Approval;
}

/// `--yes`.
pub struct ApproveAll {
    /// Recorded as the approver.
    pub operator: String,
}

#[async_trait]
impl Approver for ApproveAll {
    async fn approve(&self, _: &str, _: &str, _: &str) -> Approval {
        Approval::Approved(format!("{} (--yes)", self.operator))
    }
}

/// No terminal and no `--yes`.
pub struct RefuseAll;

#[async_trait]
impl Approver for RefuseAll {
    async fn approve(&self, _: &str, _: &str, _: &str) -> Approval {
        Approval::Refused("nobody: no terminal to ask and --yes not given".into())
    }
}

/// Asks at the terminal, one question at a time.
pub struct AskTerminal {
    /// Recorded as the approver.
    pub operator: String,
    lock: Mutex<()>,
    screen: Option<Arc<dyn Screen>>,
}

/// A live display on the terminal (the progress view) that must get out
/// of the way while a question is asked: otherwise it keeps redrawing over
/// the command the person is deciding about.
pub trait Screen: Send + Sync {
    /// Clears the display and stops drawing.
    fn hide(&self);
    /// Draws again.
    fn show(&self);
}

impl AskTerminal {
    /// An approver that prompts on the controlling terminal.
    pub fn new(operator: String) -> Self {
        AskTerminal {
            operator,
            lock: Mutex::new(()),
            screen: None,
        }
    }

    /// Hides `screen` while a question stands.
    pub fn with_screen(mut self, screen: Option<Arc<dyn Screen>>) -> Self {
        self.screen = screen;
        self
    }

    /// Whether stdin and stderr are terminals.
    pub fn available() -> bool {
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }
}

#[async_trait]
impl Approver for AskTerminal {
    async fn approve(&self, host: &str, step: &str, command: &str) -> Approval {
        let _one_at_a_time = self.lock.lock().await;
        let question = format!(
            "\nstep `{step}` on {host} changes the host:\n    {}\nrun it? [y/N] ",
            crate::exec::display::sanitize(command)
        );
        let screen = self.screen.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let ask = || {
                let mut err = std::io::stderr();
                let _ = err.write_all(question.as_bytes());
                let _ = err.flush();
                let mut line = String::new();
                let _ = std::io::stdin().lock().read_line(&mut line);
                line
            };
            // Hidden, not suspended: a suspended view holds its lock until
            // the answer comes, and a run stopped meanwhile (Ctrl-C) could
            // then not finish drawing.
            if let Some(screen) = &screen {
                screen.hide();
            }
            let answer = ask();
            if let Some(screen) = &screen {
                screen.show();
            }
            answer
        })
        .await
        .unwrap_or_default();
        if matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
            Approval::Approved(self.operator.clone())
        } else {
            Approval::Refused(self.operator.clone())
        }
    }
}
