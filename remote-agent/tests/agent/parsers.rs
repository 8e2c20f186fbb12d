//! The parsers never panic, whatever the node hands them: valid samples,
//! mutated a few thousand times each (deterministic pseudo-random edits),
//! plus pure noise. A panic here would abort the agent (release builds use
//! panic=abort) and lose the whole report.

use runbook_agent::parse::{
    crictl, journal, kernel_log, loadavg, meminfo, mounts, pid, proc_stat, psi, systemctl, time,
};

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Characters that matter to the parsers, plus some that do not.
const ALPHABET: &[char] = &[
    '0', '1', '9', '-', '+', '.', ',', ':', ';', '=', '(', ')', '[', ']', '{', '}', '"', '\\', ' ',
    '\t', '\n', '\0', 'T', 'Z', 'k', 'B', 'x', 'a', 'f', 'é', '中', '\u{fffd}', '/',
];

fn mutate(rng: &mut Rng, sample: &str) -> String {
    let mut chars: Vec<char> = sample.chars().collect();
    let edits = 1 + rng.below(8);
    for _ in 0..edits {
        let at = rng.below(chars.len() + 1);
        let c = ALPHABET[rng.below(ALPHABET.len())];
        match rng.below(5) {
            0 => chars.insert(at, c),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            2 if at < chars.len() => chars[at] = c,
            3 => chars.truncate(at),
            _ => {
                // Duplicate a slice: repeated fields, long numbers.
                let end = (at + rng.below(16)).min(chars.len());
                let piece: Vec<char> = chars[at.min(end)..end].to_vec();
                for (i, ch) in piece.into_iter().enumerate() {
                    chars.insert((at + i).min(chars.len()), ch);
                }
            }
        }
    }
    chars.into_iter().collect()
}

fn noise(rng: &mut Rng) -> String {
    (0..rng.below(200))
        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
        .collect()
}

/// Runs `f` on mutations of every sample and on noise.
/// Rounds per sample: `PROPTEST_CASES` (as `scripts/fuzz.sh` sets it for
/// long runs), default 2000; the seed varies with `FUZZ_SEED`.
fn rounds() -> (usize, u64) {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x9E37_79B9_7F4A_7C15);
    (n, seed)
}

fn hammer(samples: &[&str], mut f: impl FnMut(&str)) {
    let (n, seed) = rounds();
    let mut rng = Rng(seed | 1);
    for s in samples {
        f(s);
        for _ in 0..n {
            f(&mutate(&mut rng, s));
        }
    }
    for _ in 0..n {
        f(&noise(&mut rng));
    }
}

#[test]
fn meminfo_psi_loadavg_stat_never_panic() {
    hammer(
        &["MemTotal:        4015956 kB\nMemAvailable:      53652 kB\nSwapTotal: 0 kB\nHugePages_Total: 0\n"],
        |s| {
            let _ = meminfo::parse(s);
        },
    );
    hammer(&["some avg10=71.32 avg60=68.90 avg300=60.11 total=3301234567\nfull avg10=1 avg60=2 avg300=3 total=4\n"], |s| {
        let _ = psi::parse(s);
    });
    hammer(&["176.16 177.88 186.03 53/373 119736\n"], |s| {
        let _ = loadavg::parse(s);
    });
    hammer(
        &["cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nbtime 1664346987\n"],
        |s| {
            let _ = proc_stat::parse(s);
        },
    );
}

#[test]
fn process_files_never_panic() {
    hammer(
        &["108 (kswapd0) R 2 0 0 0 -1 10561600 0 0 0 0 1000 2000 0 0 20 0 1 0 100 0 0 18446744073709551615"],
        |s| {
            let _ = pid::parse_stat(s.as_bytes());
        },
    );
    hammer(
        &["Name:\tcurl\nUid:\t128052\t128052\t128052\t128052\n"],
        |s| {
            let _ = pid::status_uid(s);
            let _ = pid::cmdline(s.as_bytes());
        },
    );
}

#[test]
fn kernel_log_lines_never_panic() {
    hammer(
        &[
            "3,50126,6472442368,-;Out of memory: Killed process 101788 (python3) total-vm:487148kB, anon-rss:54264kB, file-rss:0kB, shmem-rss:0kB",
            "2022-09-28T08:24:19.537448+00:00 node kernel: [ 6472.442368] Memory cgroup out of memory: Killed process 4 (a) total-vm:1kB, anon-rss:1kB",
            "Sep 28 08:24:19 node kernel: [ 6472.442368] Out of memory: Kill process 77 (java (x)) score 999 or sacrifice child",
            "6,1,2,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),task_memcg=/t,task=perl,pid=4242,uid=0",
            "[ 6472.442368] Killed process 1 (x)",
        ],
        |s| {
            if let Some(k) = kernel_log::split_kmsg(s) {
                let _ = kernel_log::parse_oom(k.message);
            }
            let _ = kernel_log::parse_oom(kernel_log::split_dmesg(s).message);
            if let Some(k) = kernel_log::split_syslog(s) {
                let _ = kernel_log::parse_oom(k.message);
            }
            let _ = kernel_log::parse_oom(s);
        },
    );
}

#[test]
fn journal_lines_and_times_never_panic() {
    hammer(
        &[
            r#"2022-09-28T07:54:18+0000 node kubelet[8440]: E0928 07:54:18.267169    8440 kubelet_volumes.go:245] err="orphaned pod \"7181c3a5-8f6e-4b1a-9d2c-1e0f5a6b7c8d\" found" 0xdeadbeef"#,
            "-- No entries --",
        ],
        |s| {
            if let Some(j) = journal::split_short_iso(s) {
                let _ = journal::normalize(j.entry);
            }
            let _ = journal::normalize(s);
        },
    );
    hammer(
        &[
            "2022-09-28T08:24:19.537448+00:00",
            "2022-09-28 08:24:19,5-0130",
            "1970-01-01T00:00:00Z",
        ],
        |s| {
            if let Some(t) = time::parse_iso8601(s) {
                let _ = time::format_iso8601(t);
            }
        },
    );
}

#[test]
fn systemctl_crictl_and_mounts_never_panic() {
    hammer(
        &["MainPID=8440\nExecMainStatus=0\nLoadState=loaded\nActiveState=active\nNRestarts=0\nActiveEnterTimestamp=Wed 2022-09-28 06:39:55 UTC\n"],
        |s| {
            let _ = systemctl::parse_show(s);
        },
    );
    hammer(
        &[
            r#"{"containers":[{"id":"87d3","metadata":{"name":"kube-apiserver","attempt":4},"state":"CONTAINER_EXITED","createdAt":"1664348000000000000","labels":{"io.kubernetes.pod.name":"p"},"annotations":{"io.kubernetes.container.restartCount":"4"},"image":{"image":"i"}}]}"#,
            r#"{"status":{"exitCode":1,"reason":"Error","finishedAt":"2022-09-28T07:47:10Z"}}"#,
        ],
        |s| {
            let _ = crictl::parse_ps(s.as_bytes());
            let _ = crictl::parse_inspect(s.as_bytes());
        },
    );
    hammer(
        &["/dev/vda1 / xfs rw 0 0\n/dev/sdb /mnt/my\\040disk ext4 rw 0 0\n"],
        |s| {
            let _ = mounts::parse(s);
        },
    );
}
