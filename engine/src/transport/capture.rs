//! Bounded capture of a command's output stream: the head and the tail are
//! kept, everything is hashed and counted, and memory stays flat however
//! much the command prints.

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};

/// What was kept of one output stream.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Captured {
    /// The first bytes (all of them when not truncated).
    #[serde(skip)]
    pub head: Vec<u8>,
    /// The last bytes, when the stream was longer than the limit.
    #[serde(skip)]
    pub tail: Vec<u8>,
    /// Total length of the stream.
    pub bytes: u64,
    /// SHA-256 of the whole stream, hex.
    pub sha256: String,
    /// Whether the middle was dropped.
    pub truncated: bool,
}

impl Captured {
    /// Captures an in-memory buffer (local use and tests).
    pub fn from_bytes(data: &[u8], limit: usize) -> Captured {
        let mut c = Collector::new(limit);
        c.push(data);
        c.finish()
    }

    /// The kept text, lossily decoded; a marker stands where bytes were
    /// dropped.
    pub fn text(&self) -> String {
        if self.truncated {
            let dropped = self.bytes - (self.head.len() + self.tail.len()) as u64;
            format!(
                "{}\n[… {dropped} bytes not kept …]\n{}",
                String::from_utf8_lossy(&self.head),
                String::from_utf8_lossy(&self.tail)
            )
        } else {
            String::from_utf8_lossy(&self.head).into_owned()
        }
    }
}

/// Incremental collector behind [`Captured`].
pub struct Collector {
    limit: usize,
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    hasher: Sha256,
    bytes: u64,
}

impl Collector {
    /// Keeps at most `limit` bytes (half head, half tail once exceeded).
    pub fn new(limit: usize) -> Self {
        Collector {
            limit: limit.max(2),
            head: Vec::new(),
            tail: std::collections::VecDeque::new(),
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Adds bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        let head_room = self.limit.saturating_sub(self.head.len());
        if self.tail.is_empty() && data.len() <= head_room {
            self.head.extend_from_slice(data);
            return;
        }
        // Over the limit: keep limit/2 in the head, limit/2 in the tail.
        let half = self.limit / 2;
        if self.head.len() > half {
            let overflow: Vec<u8> = self.head.drain(half..).collect();
            self.tail.extend(overflow);
        } else {
            let take = (half - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
            self.tail.extend(&data[take..]);
            self.trim_tail(half);
            return;
        }
        self.tail.extend(data);
        self.trim_tail(half);
    }

    fn trim_tail(&mut self, keep: usize) {
        if self.tail.len() > keep {
            let drop = self.tail.len() - keep;
            self.tail.drain(..drop);
        }
    }

    /// The captured stream.
    pub fn finish(self) -> Captured {
        let kept = (self.head.len() + self.tail.len()) as u64;
        Captured {
            truncated: self.bytes > kept,
            head: self.head,
            tail: self.tail.into_iter().collect(),
            bytes: self.bytes,
            sha256: hex::encode(self.hasher.finalize()),
        }
    }
}

/// Reads `reader` to the end into a bounded capture.
pub async fn read_bounded<R: AsyncRead + Unpin>(
    mut reader: R,
    limit: usize,
) -> std::io::Result<Captured> {
    let mut collector = Collector::new(limit);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        collector.push(&buf[..n]);
    }
    Ok(collector.finish())
}

/// Reads a child's stream if it has one (a stream not piped reads as empty).
pub async fn read_optional<R: AsyncRead + Unpin>(
    reader: Option<R>,
    limit: usize,
) -> std::io::Result<Captured> {
    match reader {
        Some(r) => read_bounded(r, limit).await,
        None => Ok(Captured::default()),
    }
}

/// Reads a wrapped command's stderr: the first line reports the process
/// group (see [`super::wrap`]); it is handed to `on_pid` and not kept.
pub async fn read_stderr_with_pid<R: AsyncRead + Unpin>(
    mut reader: R,
    limit: usize,
    on_pid: impl FnOnce(i32),
) -> std::io::Result<Captured> {
    let mut collector = Collector::new(limit);
    let mut first = Vec::with_capacity(64);
    let mut on_pid = Some(on_pid);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            collector.push(&first);
            break;
        }
        if on_pid.is_some() {
            first.extend_from_slice(&buf[..n]);
            let has_line = first.contains(&b'\n');
            if has_line || first.len() > 64 {
                let (pid, skip) = super::wrap::split_pid(&first);
                if let (Some(pid), Some(f)) = (pid, on_pid.take()) {
                    f(pid);
                }
                on_pid = None;
                collector.push(&first[skip..]);
                first = Vec::new();
            }
            continue;
        }
        collector.push(&buf[..n]);
    }
    Ok(collector.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_kept_whole() {
        let c = Captured::from_bytes(b"hello\n", 100);
        assert!(!c.truncated);
        assert_eq!(c.text(), "hello\n");
        assert_eq!(c.bytes, 6);
    }

    #[test]
    fn long_output_keeps_head_and_tail_and_hashes_everything() {
        let data: Vec<u8> = (0..10_000u32)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let mut col = Collector::new(100);
        for chunk in data.chunks(7) {
            col.push(chunk);
        }
        let c = col.finish();
        assert!(c.truncated);
        assert_eq!(c.head.len() + c.tail.len(), 100);
        assert!(c.head.starts_with(b"0\n1\n2\n"));
        assert!(c.tail.ends_with(b"9998\n9999\n"));
        assert_eq!(c.sha256, hex::encode(Sha256::digest(&data)));
        assert_eq!(c.bytes, data.len() as u64);
    }
}
