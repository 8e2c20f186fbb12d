//! Root-aware, bounded file access. Every probe reads the node through here,
//! so a fixture directory can stand in for `/`, and nothing ever reads an
//! unbounded file or log into memory.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::deadline::Deadline;

/// Longest line handed to a line callback; the rest of a longer line is
/// dropped (log lines are never that long, binary garbage can be).
pub const MAX_LINE_BYTES: usize = 8 * 1024;

/// Largest small file (`/proc/meminfo`, `/proc/stat`, ...) read whole.
pub const SMALL_FILE_BYTES: u64 = 256 * 1024;

/// Name of the directory under a fixture root that holds the second sample
/// of CPU counters (see [`Snapshot`]).
pub const SECOND_SAMPLE_DIR: &str = "proc.2";

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The file does not exist (under the root).
    NotFound,
    /// The file exists but may not be read.
    PermissionDenied,
    /// Any other I/O error, as text.
    Other(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NotFound => f.write_str("not found"),
            Reason::PermissionDenied => f.write_str("permission denied"),
            Reason::Other(s) => f.write_str(s),
        }
    }
}

impl From<&io::Error> for Reason {
    fn from(e: &io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound => Reason::NotFound,
            io::ErrorKind::PermissionDenied => Reason::PermissionDenied,
            _ => Reason::Other(e.to_string()),
        }
    }
}

/// A failed read, naming the logical path (as on the node, e.g.
/// `/proc/pressure/memory`), not the fixture path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} {reason}")]
pub struct SourceError {
    /// The path as it would be on the node.
    pub path: String,
    /// What went wrong.
    pub reason: Reason,
}

impl SourceError {
    fn io(path: &str, e: &io::Error) -> Self {
        Self {
            path: path.to_owned(),
            reason: Reason::from(e),
        }
    }
}

/// Which of the two CPU samples a `/proc` read belongs to.
///
/// A real `/proc` changes between two reads; a fixture does not. A fixture
/// root may therefore hold a `proc.2/` directory mirroring the `proc/` files
/// that change (`stat`, `<pid>/stat`); reads for the second sample take the
/// file from there when it exists and fall back to `proc/` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snapshot {
    /// The first read (always `proc/`).
    First,
    /// The read after the sampling window (`proc.2/` when present).
    Second,
}

/// Summary of a line-by-line read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineStats {
    /// Bytes consumed.
    pub bytes: u64,
    /// Lines handed to the callback.
    pub lines: u64,
    /// Whether the byte cap stopped the read before the end.
    pub truncated: bool,
    /// Whether the deadline stopped the read.
    pub timed_out: bool,
    /// Whether the callback asked to stop.
    pub stopped: bool,
}

/// The directory that stands in for `/` (`/` itself on a real node).
#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
    second: Option<PathBuf>,
}

impl Root {
    /// A root at `dir`. Looks once for a `proc.2/` second-sample directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let candidate = dir.join(SECOND_SAMPLE_DIR);
        let second = candidate.is_dir().then_some(candidate);
        Self { dir, second }
    }

    /// The root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Maps a node path like `/proc/meminfo` under the root.
    pub fn path(&self, abs: &str) -> PathBuf {
        self.dir.join(abs.trim_start_matches('/'))
    }

    /// Whether a node path exists under the root.
    pub fn exists(&self, abs: &str) -> bool {
        self.path(abs).exists()
    }

    fn sample_path(&self, abs: &str, snapshot: Snapshot) -> PathBuf {
        if snapshot == Snapshot::Second {
            if let (Some(second), Some(rest)) = (&self.second, abs.strip_prefix("/proc/")) {
                let p = second.join(rest);
                if p.exists() {
                    return p;
                }
            }
        }
        self.path(abs)
    }

    /// Reads a small file whole, up to `cap` bytes (lossy UTF-8).
    pub fn read_string(&self, abs: &str, cap: u64) -> Result<String, SourceError> {
        let mut buf = Vec::new();
        self.read_into(abs, Snapshot::First, cap, &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Reads a small file for the given sample (see [`Snapshot`]), capped.
    pub fn read_sample_string(
        &self,
        abs: &str,
        snapshot: Snapshot,
        cap: u64,
    ) -> Result<String, SourceError> {
        let mut buf = Vec::new();
        self.read_into(abs, snapshot, cap, &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Reads up to `cap` bytes of a file into `buf` (cleared first), so hot
    /// loops over thousands of `/proc/<pid>/stat` files reuse one buffer.
    pub fn read_into(
        &self,
        abs: &str,
        snapshot: Snapshot,
        cap: u64,
        buf: &mut Vec<u8>,
    ) -> Result<(), SourceError> {
        buf.clear();
        let path = self.sample_path(abs, snapshot);
        let file = File::open(&path).map_err(|e| SourceError::io(abs, &e))?;
        file.take(cap)
            .read_to_end(buf)
            .map_err(|e| SourceError::io(abs, &e))?;
        Ok(())
    }

    /// The numeric entries of `/proc` (process ids), ascending.
    pub fn pids(&self) -> Result<Vec<u32>, SourceError> {
        let dir = self.path("/proc");
        let entries = std::fs::read_dir(&dir).map_err(|e| SourceError::io("/proc", &e))?;
        let mut pids: Vec<u32> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
            .collect();
        pids.sort_unstable();
        Ok(pids)
    }

    /// Reads the last `max_bytes` of a log file line by line (a partial first
    /// line is skipped). The file is never loaded whole.
    pub fn tail_lines(
        &self,
        abs: &str,
        max_bytes: u64,
        deadline: &Deadline,
        f: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<LineStats, SourceError> {
        let mut file = File::open(self.path(abs)).map_err(|e| SourceError::io(abs, &e))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut skip_partial = false;
        if len > max_bytes {
            file.seek(SeekFrom::Start(len - max_bytes))
                .map_err(|e| SourceError::io(abs, &e))?;
            skip_partial = true;
        }
        let mut stats = read_lines(file, max_bytes, deadline, skip_partial, f)
            .map_err(|e| SourceError::io(abs, &e))?;
        stats.truncated |= skip_partial;
        Ok(stats)
    }

    /// Reads a kernel ring buffer device (`/dev/kmsg`) without blocking:
    /// every record there now, oldest first, up to `max_bytes`. In a fixture
    /// the path is a plain file, which is read like a log tail.
    pub fn kmsg_lines(
        &self,
        abs: &str,
        max_bytes: u64,
        deadline: &Deadline,
        f: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<LineStats, SourceError> {
        let path = self.path(abs);
        let meta = std::fs::metadata(&path).map_err(|e| SourceError::io(abs, &e))?;
        if meta.is_file() {
            return self.tail_lines(abs, max_bytes, deadline, f);
        }
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&path)
            .map_err(|e| SourceError::io(abs, &e))?;
        read_lines(file, max_bytes, deadline, false, f).map_err(|e| SourceError::io(abs, &e))
    }
}

/// Hands each line of `reader` to `f`, reading at most `max_bytes`. Lines
/// longer than [`MAX_LINE_BYTES`] are cut. Stops quietly at end of input,
/// at `WouldBlock` (a non-blocking device with nothing more to say), when
/// `f` breaks, at the byte cap or at the deadline. A `BrokenPipe` (records
/// overwritten under a `/dev/kmsg` reader) is skipped a bounded number of
/// times. If `skip_partial` is set, the bytes before the first newline are
/// dropped (we seeked into the middle of a line).
pub fn read_lines<R: Read>(
    reader: R,
    max_bytes: u64,
    deadline: &Deadline,
    mut skip_partial: bool,
    mut f: impl FnMut(&str) -> ControlFlow<()>,
) -> io::Result<LineStats> {
    let mut r = BufReader::with_capacity(32 * 1024, reader);
    let mut line: Vec<u8> = Vec::with_capacity(256);
    let mut stats = LineStats::default();
    let mut broken_pipes = 0u32;
    let mut pending = false;
    loop {
        if stats.lines % 256 == 0 && deadline.expired() {
            stats.timed_out = true;
            return Ok(stats);
        }
        let room = max_bytes.saturating_sub(stats.bytes);
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe && broken_pipes < 64 => {
                broken_pipes += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        if room == 0 {
            stats.truncated = true;
            break;
        }
        let usable = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let chunk = &buf[..usable];
        let (taken, ended, complete) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], i + 1, true),
            None => (chunk, usable, false),
        };
        if !skip_partial {
            let space = MAX_LINE_BYTES.saturating_sub(line.len());
            line.extend_from_slice(&taken[..taken.len().min(space)]);
            pending = true;
        }
        r.consume(ended);
        stats.bytes += ended as u64;
        if complete {
            if skip_partial {
                skip_partial = false;
                continue;
            }
            pending = false;
            stats.lines += 1;
            let flow = f(&String::from_utf8_lossy(&line));
            line.clear();
            if flow.is_break() {
                stats.stopped = true;
                return Ok(stats);
            }
        }
    }
    if pending && !line.is_empty() {
        stats.lines += 1;
        let _ = f(&String::from_utf8_lossy(&line));
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn collect(input: &[u8], max: u64, skip: bool) -> (Vec<String>, LineStats) {
        let d = Deadline::after(Duration::from_secs(5));
        let mut out = Vec::new();
        let stats = read_lines(input, max, &d, skip, |l| {
            out.push(l.to_owned());
            ControlFlow::Continue(())
        })
        .unwrap_or_default();
        (out, stats)
    }

    #[test]
    fn splits_lines_and_keeps_a_last_unterminated_one() {
        let (lines, stats) = collect(b"a\nbb\nccc", 100, false);
        assert_eq!(lines, ["a", "bb", "ccc"]);
        assert_eq!(stats.lines, 3);
        assert!(!stats.truncated);
    }

    #[test]
    fn stops_at_the_byte_cap() {
        let (lines, stats) = collect(b"a\nbb\nccc\n", 5, false);
        assert_eq!(lines, ["a", "bb"]);
        assert!(stats.truncated);
    }

    #[test]
    fn skips_the_partial_first_line_after_a_seek() {
        let (lines, _) = collect(b"tail-of-line\nfull\n", 100, true);
        assert_eq!(lines, ["full"]);
    }

    #[test]
    fn cuts_overlong_lines() {
        let long = vec![b'x'; MAX_LINE_BYTES * 3];
        let mut input = long.clone();
        input.extend_from_slice(b"\nnext\n");
        let (lines, _) = collect(&input, u64::MAX, false);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE_BYTES);
        assert_eq!(lines[1], "next");
    }
}
