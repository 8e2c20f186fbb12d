//! TCP_NODELAY for SSH connections. OpenSSH turns Nagle's algorithm off
//! only for interactive sessions, so the key exchange and login of a
//! master wait once on the peer's 40 ms delayed ACK (bench/README.md: a
//! master's set-up takes 92 ms instead of 49). The engine hands ssh a
//! configuration that reads the user's own first and then, for hosts with
//! no proxy of their own, makes the engine itself the `ProxyCommand`: it
//! connects, sets TCP_NODELAY and passes the socket back to ssh
//! (`ProxyUseFdpass`). ssh still does everything else, host-key checks
//! included. Hosts the user reaches through a proxy of their own
//! (`ProxyCommand`, `ProxyJump`; asked of ssh with `ssh -G`) connect with
//! the user's configuration alone. `--tcp-nodelay off` turns this off;
//! `auto` (the default) leaves it off for runs that open so many
//! connections at once that connecting is CPU-bound.

use std::io::{self, IoSlice};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

/// The hidden subcommand ssh runs as its `ProxyCommand`.
pub const CONNECT_SUBCOMMAND: &str = "__connect";

/// A per-run ssh configuration: the user's, then the TCP_NODELAY proxy.
#[derive(Debug)]
pub struct NodelayConfig {
    dir: tempfile::TempDir,
    path: PathBuf,
    /// `--ssh-config`, which the written configuration includes.
    user_config: Option<PathBuf>,
    /// Some configuration file names a proxy (or a bind address or family):
    /// each host is asked of ssh before it gets the engine's proxy.
    ask_each_host: bool,
}

impl NodelayConfig {
    /// Writes the configuration. `user_config` is `--ssh-config` (ssh then
    /// reads only it); without it, the files ssh reads by default.
    /// `engine` is this binary, run by ssh as `ENGINE __connect HOST PORT`.
    pub fn write(
        user_config: Option<&Path>,
        engine: &Path,
        connect_timeout: Duration,
    ) -> io::Result<NodelayConfig> {
        let dir = tempfile::Builder::new()
            .prefix("runbook-ssh-config-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()?;
        let path = dir.path().join("ssh_config");
        std::fs::write(
            &path,
            render(user_config, engine, connect_timeout, dir.path()),
        )?;
        Ok(NodelayConfig {
            dir,
            path,
            user_config: user_config.map(Path::to_path_buf),
            ask_each_host: configs_mention_proxy(user_config),
        })
    }

    /// Whether `host` (as given to ssh) goes through the engine's proxy:
    /// not when the user's configuration gives it a proxy of its own, or a
    /// source address or family the proxy would not honour.
    pub async fn applies_to(&self, user: Option<&str>, port: Option<u16>, host: &str) -> bool {
        !self.ask_each_host || !has_own_proxy(self.user_config.as_deref(), user, port, host).await
    }

    /// The file to pass to ssh with `-F`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why the proxy could not connect to `destination` (as given to ssh),
    /// when it could not: ssh itself only says that no connection came
    /// back.
    pub fn failure(&self, destination: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.path().join(report_name(destination))).ok()?;
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_string())
    }
}

/// What ssh says when the proxy exits without passing a connection back.
pub const NO_CONNECTION_PASSED: &str = "proxy dialer did not pass back a connection";

/// The file name a failure to reach `destination` is reported under.
fn report_name(destination: &str) -> String {
    destination
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// ssh keeps the first value it reads for each option, so a `ProxyJump` or
/// `ProxyCommand` of the user's still wins over the one set here.
fn render(
    user_config: Option<&Path>,
    engine: &Path,
    connect_timeout: Duration,
    report_dir: &Path,
) -> String {
    let mut text = String::from("# Written by runbook for one run: your configuration first.\n");
    let mut include = |path: &Path| {
        text.push_str(&format!(
            "Include {}\n",
            config_quote(&path.display().to_string())
        ));
    };
    match user_config {
        Some(path) => include(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())),
        None => {
            if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
                include(&Path::new(&home).join(".ssh").join("config"));
            }
            include(Path::new("/etc/ssh/ssh_config"));
        }
    }
    text.push_str(&format!(
        "Host *\n    ProxyCommand {} {CONNECT_SUBCOMMAND} --timeout {} --report {} --name %n %h %p\n    ProxyUseFdpass yes\n",
        config_quote(&engine.display().to_string()),
        connect_timeout.as_secs().max(1),
        config_quote(&report_dir.display().to_string()),
    ));
    text
}

/// A word of ssh_config: double-quoted when it has spaces.
fn config_quote(word: &str) -> String {
    if word.contains([' ', '\t']) {
        format!("\"{word}\"")
    } else {
        word.to_string()
    }
}

/// Whether any configuration file ssh reads for this run (`--ssh-config`,
/// else `~/.ssh/config` and `/etc/ssh/ssh_config`, with their `Include`s)
/// names `ProxyCommand` or `ProxyJump` (or `BindAddress`, `BindInterface`,
/// `AddressFamily`, which the engine's proxy does not honour). When none
/// does, no host can have a proxy of its own and asking ssh about each
/// host (`ssh -G`, ~5 ms of CPU per host) is skipped. A file that cannot be read or an `Include` that
/// cannot be followed counts as yes.
fn configs_mention_proxy(user_config: Option<&Path>) -> bool {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let mut files = Vec::new();
    match user_config {
        Some(path) => files.push((path.to_path_buf(), ConfigScope::User)),
        None => {
            if let Some(home) = &home {
                files.push((home.join(".ssh").join("config"), ConfigScope::User));
            }
            files.push((PathBuf::from("/etc/ssh/ssh_config"), ConfigScope::System));
        }
    }
    let mut budget = MAX_CONFIG_FILES;
    files
        .iter()
        .any(|(path, scope)| file_mentions_proxy(path, *scope, home.as_deref(), 0, &mut budget))
}

/// Files and nesting followed before giving up (and answering yes).
const MAX_CONFIG_FILES: usize = 256;
const MAX_INCLUDE_DEPTH: usize = 16;

/// Where an `Include`'s relative paths point: `~/.ssh` for the user's
/// files, `/etc/ssh` for the system's.
#[derive(Debug, Clone, Copy)]
enum ConfigScope {
    User,
    System,
}

fn file_mentions_proxy(
    path: &Path,
    scope: ConfigScope,
    home: Option<&Path>,
    depth: usize,
    budget: &mut usize,
) -> bool {
    if depth > MAX_INCLUDE_DEPTH || *budget == 0 {
        return true;
    }
    *budget -= 1;
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        // ssh skips default files that do not exist, and included files.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return false,
        Err(_) => return true,
    };
    for line in text.lines() {
        let line = line.trim_start();
        let key_end = line
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(line.len());
        let (key, rest) = line.split_at(key_end);
        let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '=');
        match key.to_ascii_lowercase().as_str() {
            // What the proxy would not honour makes ssh connect by itself.
            "proxycommand" | "proxyjump" | "bindaddress" | "bindinterface" | "addressfamily" => {
                return true
            }
            "include" => {
                for pattern in rest.split_whitespace() {
                    let Some(pattern) = include_pattern(pattern, scope, home) else {
                        return true;
                    };
                    let Ok(paths) = glob::glob(&pattern) else {
                        return true;
                    };
                    for included in paths {
                        let Ok(included) = included else {
                            return true;
                        };
                        if file_mentions_proxy(&included, scope, home, depth + 1, budget) {
                            return true;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    false
}

/// An `Include` argument as a glob pattern; `None` when it cannot be read
/// without ssh (quotes, `%` tokens, `${VAR}`, `~user`).
fn include_pattern(word: &str, scope: ConfigScope, home: Option<&Path>) -> Option<String> {
    if word.contains(['"', '%', '$']) || (word.starts_with('~') && !word.starts_with("~/")) {
        return None;
    }
    let path = if let Some(rest) = word.strip_prefix("~/") {
        home?.join(rest)
    } else if word.starts_with('/') {
        PathBuf::from(word)
    } else {
        match scope {
            ConfigScope::User => home?.join(".ssh").join(word),
            ConfigScope::System => Path::new("/etc/ssh").join(word),
        }
    };
    path.to_str().map(str::to_string)
}

/// How long asking ssh for a host's configuration may take.
const SSH_G_LIMIT: Duration = Duration::from_secs(5);

/// Whether ssh reaches `destination` through a proxy of the user's own
/// (`ProxyCommand` or `ProxyJump`), or with a source address or family the
/// engine's proxy would not honour, as `ssh -G` resolves the user's
/// configuration (Host and Match blocks, Includes). Such a host connects
/// without the engine's proxy. When ssh cannot say, the answer is
/// yes: the user's configuration alone is the safe choice.
async fn has_own_proxy(
    user_config: Option<&Path>,
    user: Option<&str>,
    port: Option<u16>,
    destination: &str,
) -> bool {
    let mut ssh = tokio::process::Command::new("ssh");
    ssh.arg("-G");
    if let Some(config) = user_config {
        ssh.arg("-F").arg(config);
    }
    if let Some(user) = user {
        ssh.arg("-l").arg(user);
    }
    if let Some(port) = port {
        ssh.arg("-p").arg(port.to_string());
    }
    ssh.arg("--")
        .arg(destination)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(SSH_G_LIMIT, ssh.output()).await {
        Ok(Ok(out)) if out.status.success() => names_a_proxy(&String::from_utf8_lossy(&out.stdout)),
        _ => true,
    }
}

/// Whether `ssh -G` output sets `proxycommand` or `proxyjump` (it prints
/// them only when set), or how to connect in a way the engine's proxy does
/// not (`bindaddress`, `bindinterface`, an `addressfamily` other than any).
fn names_a_proxy(resolved: &str) -> bool {
    resolved.lines().any(|line| {
        let key = line.split_whitespace().next().unwrap_or_default();
        let value = line[key.len()..].trim();
        match key {
            "proxycommand" | "proxyjump" | "bindaddress" | "bindinterface" => {
                !value.eq_ignore_ascii_case("none")
            }
            "addressfamily" => !value.eq_ignore_ascii_case("any"),
            _ => false,
        }
    })
}

/// `runbook __connect HOST PORT`: connects (trying every address of HOST
/// in turn), sets TCP_NODELAY, and sends the socket to ssh over stdout. A
/// failure is written to `REPORT/NAME` too (ssh does not pass the proxy's
/// own errors on), for the engine to show.
pub fn connect_and_pass(
    host: &str,
    port: u16,
    timeout: Duration,
    report: Option<(&Path, &str)>,
) -> io::Result<()> {
    let result = connect_and_pass_once(host, port, timeout);
    if let (Err(e), Some((dir, name))) = (&result, report) {
        let _ = std::fs::write(dir.join(report_name(name)), e.to_string());
    }
    result
}

fn connect_and_pass_once(host: &str, port: u16, timeout: Duration) -> io::Result<()> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
    let mut connected = None;
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve {host}: {e}")))?;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => {
                connected = Some(stream);
                break;
            }
            // In ssh's words: `connect to host H port P: Connection refused`.
            Err(e) => {
                let text = e.to_string();
                let text = text.split(" (os error").next().unwrap_or(&text);
                last = io::Error::new(
                    e.kind(),
                    format!("connect to host {} port {port}: {text}", addr.ip()),
                )
            }
        }
    }
    let stream = connected.ok_or(last)?;
    stream.set_nodelay(true)?;
    let fds = [stream.as_raw_fd()];
    sendmsg::<()>(
        io::stdout().as_raw_fd(),
        &[IoSlice::new(&[0])],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(io::Error::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_config_comes_first_and_the_proxy_applies_to_every_host() {
        let text = render(
            Some(Path::new("/etc/my ssh/config")),
            Path::new("/usr/bin/runbook"),
            Duration::from_secs(10),
            Path::new("/tmp/r"),
        );
        assert_eq!(
            text,
            "# Written by runbook for one run: your configuration first.\n\
             Include \"/etc/my ssh/config\"\n\
             Host *\n    ProxyCommand /usr/bin/runbook __connect --timeout 10 --report /tmp/r --name %n %h %p\n    ProxyUseFdpass yes\n"
        );
    }

    fn config_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files {
            let path = dir.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(path, text).expect("write");
        }
        dir
    }

    #[test]
    fn a_config_without_proxies_needs_no_ssh_g() {
        let dir = config_dir(&[("config", "Host a\n  HostName 10.0.0.1\n  User root\n")]);
        assert!(!configs_mention_proxy(Some(&dir.path().join("config"))));
    }

    #[test]
    fn a_proxy_anywhere_in_the_config_or_its_includes_is_seen() {
        let dir = config_dir(&[
            ("direct", "Host b\n  proxyjump=bastion\n"),
            ("nested/one.conf", "Host c\n  HostName x\n"),
            ("nested/two.conf", "Match host d\n  ProxyCommand nc %h %p\n"),
        ]);
        assert!(configs_mention_proxy(Some(&dir.path().join("direct"))));
        let top = dir.path().join("top");
        std::fs::write(
            &top,
            format!("Include {}/nested/*.conf\n", dir.path().display()),
        )
        .expect("write");
        assert!(configs_mention_proxy(Some(&top)));
    }

    #[test]
    fn an_include_that_cannot_be_followed_counts_as_a_proxy() {
        let dir = config_dir(&[("config", "Include ~someone/ssh.conf\n")]);
        assert!(configs_mention_proxy(Some(&dir.path().join("config"))));
    }

    #[test]
    fn a_proxy_in_ssh_g_output_is_found() {
        assert!(names_a_proxy("user root\nproxyjump bastion\n"));
        assert!(names_a_proxy("proxycommand nc %h %p\nport 22\n"));
        assert!(!names_a_proxy("user root\nproxyusefdpass no\nport 22\n"));
        assert!(!names_a_proxy("proxycommand none\n"));
        assert!(names_a_proxy("addressfamily inet\n"));
        assert!(!names_a_proxy("addressfamily any\nbindaddress none\n"));
        assert!(names_a_proxy("bindaddress 10.0.0.5\n"));
    }

    #[test]
    fn without_a_config_ssh_reads_its_default_files() {
        let text = render(
            None,
            Path::new("/usr/bin/runbook"),
            Duration::from_secs(10),
            Path::new("/tmp/r"),
        );
        assert!(text.contains("Include /etc/ssh/ssh_config\n"), "{text}");
        assert!(
            text.find("Include").unwrap_or(usize::MAX) < text.find("Host *").unwrap_or(0),
            "{text}"
        );
    }
}

#[cfg(test)]
mod connect_tests {
    use super::*;

    #[test]
    fn a_refused_connection_is_reported_under_the_destinations_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Nothing listens on port 1 of this loopback address.
        let result = connect_and_pass(
            "127.0.0.1",
            1,
            Duration::from_secs(2),
            Some((dir.path(), "root@node-1")),
        );
        assert!(result.is_err());
        let report = std::fs::read_to_string(dir.path().join("root_node-1")).expect("report");
        assert!(report.contains("Connection refused"), "{report}");
    }
}
