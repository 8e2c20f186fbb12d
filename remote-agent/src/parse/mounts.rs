//! `/proc/mounts`: one mount per line, with octal escapes for spaces.

/// One mount entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The source (`/dev/vda1`, `overlay`, `server:/export`).
    pub device: String,
    /// Where it is mounted.
    pub mount_point: String,
    /// Filesystem type (`ext4`, `xfs`, `tmpfs`, ...).
    pub fs_type: String,
}

/// Parses `/proc/mounts`; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let device = unescape(parts.next()?);
            let mount_point = unescape(parts.next()?);
            let fs_type = unescape(parts.next()?);
            mount_point.starts_with('/').then_some(Mount {
                device,
                mount_point,
                fs_type,
            })
        })
        .collect()
}

/// Undoes the kernel's `\040`-style octal escapes.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0')));
        match octal.and_then(|v| u8::try_from(v).ok()) {
            Some(v) => {
                out.push(v);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_unescapes() {
        let m = parse("/dev/vda1 / ext4 rw 0 0\n/dev/sdb /mnt/my\\040disk xfs rw 0 0\nbad\nnone relative tmpfs rw 0 0\n");
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].mount_point, "/mnt/my disk");
        assert_eq!(unescape("a\\777b\\"), "a\\777b\\");
    }
}
