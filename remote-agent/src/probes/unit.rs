//! The `unit` probe: a systemd unit's state and what it has been logging.
//! A running kubelet is not a healthy kubelet, so the journal is read too,
//! with repeated messages grouped and counted so one error every 2 s shows
//! up as one line with a count instead of a wall of text.

use std::ops::ControlFlow;

use serde::Serialize;

use crate::args::ArgSpec;
use crate::command::{self, CommandError};
use crate::deadline::Deadline;
use crate::error::{ErrorKind, ProbeError};
use crate::parse::journal::{normalize, split_short_iso};
use crate::parse::systemctl::{parse_show, UnitState};

use super::{to_data, Ctx, FieldSpec, ProbeSpec};

/// Catalogue entry.
pub const SPEC: ProbeSpec = ProbeSpec {
    name: "unit",
    summary: "a systemd unit's state and its recent journal, repeated messages grouped",
    args: &[
        ArgSpec {
            name: "name",
            default: "",
            help: "unit name, e.g. kubelet (`.service` optional)",
        },
        LINES_ARG,
        GROUPS_ARG,
    ],
    fields: UNIT_FIELDS,
    run,
};

/// `lines` argument, shared with the `kubelet` probe.
pub const LINES_ARG: ArgSpec = ArgSpec {
    name: "lines",
    default: "200",
    help: "journal lines read (journalctl -u NAME -n N)",
};

/// `groups` argument, shared with the `kubelet` probe.
pub const GROUPS_ARG: ArgSpec = ArgSpec {
    name: "groups",
    default: "20",
    help: "message groups reported, most frequent first",
};

/// The fields of [`UnitData`].
pub const UNIT_FIELDS: &[FieldSpec] = &[
    FieldSpec { name: "unit", help: "the full unit name queried, e.g. kubelet.service" },
    FieldSpec { name: "state", help: "{load_state, active_state, sub_state, restarts, main_pid, exec_main_status, active_enter_timestamp}, or null without systemctl" },
    FieldSpec { name: "journal", help: "{lines_read, distinct, groups: [{count, first_time, last_time, pattern, sample}]}, or null without journalctl" },
    FieldSpec { name: "unavailable", help: "sources that were missing, one line each" },
];

/// Most distinct message groups tracked while reading.
const MAX_TRACKED_GROUPS: usize = 256;

/// Longest sample line kept per group.
const SAMPLE_CHARS: usize = 1024;

/// The `data` of the `unit` probe.
#[derive(Debug, Serialize)]
pub struct UnitData {
    /// The full unit name.
    pub unit: String,
    /// From `systemctl show`.
    pub state: Option<UnitState>,
    /// From `journalctl -u`.
    pub journal: Option<JournalSummary>,
    /// Missing sources.
    pub unavailable: Vec<String>,
}

/// The unit's recent journal, grouped.
#[derive(Debug, Serialize)]
pub struct JournalSummary {
    /// Lines read.
    pub lines_read: u64,
    /// Distinct message groups (before capping to `groups`).
    pub distinct: u64,
    /// Groups, most frequent first (ties: most recent first).
    pub groups: Vec<MessageGroup>,
}

/// Journal lines that differ only in timestamps, pids, ids and numbers.
#[derive(Debug, Clone, Serialize)]
pub struct MessageGroup {
    /// Occurrences among the lines read.
    pub count: u64,
    /// Time of the first occurrence, as journalctl printed it.
    pub first_time: Option<String>,
    /// Time of the last occurrence.
    pub last_time: Option<String>,
    /// The normalised message (`<n>`, `<hex>`, `<uuid>` placeholders).
    pub pattern: String,
    /// The last raw line of the group.
    pub sample: String,
    #[serde(skip)]
    last_seen: u64,
}

fn run(ctx: &Ctx) -> Result<Box<serde_json::value::RawValue>, ProbeError> {
    let name = ctx
        .args
        .get("name")
        .ok_or_else(|| ProbeError::bad_argument("probe `unit` needs `--arg unit.name=UNIT`"))?;
    let lines = ctx.args.u64("lines", 200, 1, 100_000)?;
    let groups = usize::try_from(ctx.args.u64("groups", 20, 1, 1000)?).unwrap_or(20);
    let data = inspect(name, lines, groups, &ctx.deadline)?;
    if data.state.is_none() && data.journal.is_none() {
        return Err(ProbeError::unavailable(data.unavailable.join("; ")));
    }
    to_data(&data)
}

/// Checks a unit name and adds `.service` when no unit type is given.
/// Names must not look like options, since they go on a command line.
pub fn unit_name(name: &str) -> Result<String, ProbeError> {
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@:._-\\".contains(&b));
    if !ok {
        return Err(ProbeError::bad_argument(format!(
            "`{name}` is not a valid unit name"
        )));
    }
    const TYPES: &[&str] = &[
        ".service", ".socket", ".timer", ".mount", ".target", ".path", ".scope", ".slice",
    ];
    Ok(if TYPES.iter().any(|t| name.ends_with(t)) {
        name.to_owned()
    } else {
        format!("{name}.service")
    })
}

/// State and grouped journal of one unit; sources that are missing are
/// listed in `unavailable`. Fails only on a bad name or at the deadline.
pub fn inspect(
    name: &str,
    lines: u64,
    groups: usize,
    deadline: &Deadline,
) -> Result<UnitData, ProbeError> {
    let unit = unit_name(name)?;
    let mut unavailable = Vec::new();

    let show_args = [
        "show",
        unit.as_str(),
        "-p",
        "ActiveState,SubState,NRestarts,ActiveEnterTimestamp,MainPID,ExecMainStatus,LoadState",
        "--no-pager",
    ];
    let state = match command::run_capture("systemctl", &show_args, &deadline.share(0.4), 64 * 1024)
    {
        Ok((out, _, done)) if done.success() => Some(parse_show(&String::from_utf8_lossy(&out))),
        Ok((_, _, done)) => {
            unavailable.push(format!("state: systemctl: {}", done.complaint()));
            None
        }
        Err(e) => source_error(e, "state", &mut unavailable, deadline)?,
    };

    let n = lines.to_string();
    let journal_args = [
        "-u",
        unit.as_str(),
        "-n",
        n.as_str(),
        "--no-pager",
        "-o",
        "short-iso",
    ];
    let mut grouper = Grouper::default();
    let r = command::run_lines("journalctl", &journal_args, deadline, 8 << 20, |line| {
        grouper.add(line);
        ControlFlow::Continue(())
    });
    let journal = match r {
        Ok(done) if done.answered(grouper.lines) => Some(grouper.finish(groups)),
        Ok(done) => {
            unavailable.push(format!("journal: journalctl: {}", done.complaint()));
            None
        }
        Err(e) => source_error(e, "journal", &mut unavailable, deadline)?,
    };
    Ok(UnitData {
        unit,
        state,
        journal,
        unavailable,
    })
}

/// A source's command failed: note it, unless the probe's own deadline has
/// passed, which fails the probe.
fn source_error<T>(
    e: CommandError,
    what: &str,
    unavailable: &mut Vec<String>,
    deadline: &Deadline,
) -> Result<Option<T>, ProbeError> {
    let e = e.into_probe_error();
    if e.kind == ErrorKind::Timeout && deadline.expired() {
        return Err(e);
    }
    unavailable.push(format!("{what}: {}", e.message));
    Ok(None)
}

/// Groups journal lines by their normalised message.
#[derive(Debug, Default)]
pub struct Grouper {
    groups: Vec<MessageGroup>,
    lines: u64,
    other: u64,
}

impl Grouper {
    /// Adds one journal line (meta lines like `-- No entries --` are
    /// skipped).
    pub fn add(&mut self, line: &str) {
        if line.starts_with("-- ") || line.trim().is_empty() {
            return;
        }
        self.lines += 1;
        let (time, entry) = match split_short_iso(line) {
            Some(j) => (Some(j.time), j.entry),
            None => (None, line),
        };
        let pattern = normalize(entry);
        let seq = self.lines;
        if let Some(g) = self.groups.iter_mut().find(|g| g.pattern == pattern) {
            g.count += 1;
            g.last_time = time.map(str::to_owned).or(g.last_time.take());
            g.sample = line.chars().take(SAMPLE_CHARS).collect();
            g.last_seen = seq;
            return;
        }
        if self.groups.len() >= MAX_TRACKED_GROUPS {
            self.other += 1;
            return;
        }
        self.groups.push(MessageGroup {
            count: 1,
            first_time: time.map(str::to_owned),
            last_time: time.map(str::to_owned),
            pattern,
            sample: line.chars().take(SAMPLE_CHARS).collect(),
            last_seen: seq,
        });
    }

    /// The summary with the `max` most frequent groups.
    pub fn finish(mut self, max: usize) -> JournalSummary {
        let distinct = self.groups.len() as u64 + u64::from(self.other > 0);
        self.groups
            .sort_by(|a, b| b.count.cmp(&a.count).then(b.last_seen.cmp(&a.last_seen)));
        self.groups.truncate(max);
        JournalSummary {
            lines_read: self.lines,
            distinct,
            groups: self.groups,
        }
    }
}
