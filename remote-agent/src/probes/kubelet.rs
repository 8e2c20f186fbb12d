//! The `kubelet` probe: does the kubelet answer its health endpoint, and
//! what do its unit state and journal say? Only ever talks to 127.0.0.1.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::args::ArgSpec;
use crate::error::ProbeError;

use super::unit::{self, UnitData, GROUPS_ARG, LINES_ARG};
use super::{to_data, Ctx, FieldSpec, ProbeSpec};

/// Catalogue entry.
pub const SPEC: ProbeSpec = ProbeSpec {
    name: "kubelet",
    summary: "kubelet health endpoint (127.0.0.1:10248/healthz) and the kubelet unit",
    args: &[
        ArgSpec {
            name: "port",
            default: "10248",
            help: "healthz port on 127.0.0.1",
        },
        LINES_ARG,
        GROUPS_ARG,
    ],
    fields: &[
        FieldSpec {
            name: "healthz",
            help: "{url, reachable, status_code, body, error, duration_ms}",
        },
        FieldSpec {
            name: "unit",
            help: "the `unit` probe's data for kubelet.service, or null",
        },
        FieldSpec {
            name: "unavailable",
            help: "sources that were missing, one line each",
        },
    ],
    run,
};

/// Largest healthz response read.
const RESPONSE_CAP: usize = 4096;

/// The `data` of the `kubelet` probe.
#[derive(Debug, Serialize)]
pub struct KubeletData {
    /// The health endpoint.
    pub healthz: Healthz,
    /// The unit, as the `unit` probe reports it.
    pub unit: Option<UnitData>,
    /// Missing sources.
    pub unavailable: Vec<String>,
}

/// The answer of `GET /healthz`.
#[derive(Debug, Serialize)]
pub struct Healthz {
    /// `http://127.0.0.1:PORT/healthz`.
    pub url: String,
    /// Whether a TCP connection was made.
    pub reachable: bool,
    /// HTTP status, if a response came back.
    pub status_code: Option<u16>,
    /// Response body (trimmed, at most 4 KiB), `ok` when healthy.
    pub body: Option<String>,
    /// What went wrong (`connection refused`, `timed out`, ...).
    pub error: Option<String>,
    /// Time taken.
    pub duration_ms: u64,
}

fn run(ctx: &Ctx) -> Result<Box<serde_json::value::RawValue>, ProbeError> {
    let port = u16::try_from(ctx.args.u64("port", 10248, 1, 65535)?).unwrap_or(10248);
    let lines = ctx.args.u64("lines", 200, 1, 100_000)?;
    let groups = usize::try_from(ctx.args.u64("groups", 20, 1, 1000)?).unwrap_or(20);
    let budget = ctx.deadline.remaining().min(Duration::from_secs(2)) / 2;
    let healthz = healthz(port, budget.max(Duration::from_millis(1)));
    ctx.deadline.check()?;
    let mut unavailable = Vec::new();
    let unit = unit::inspect("kubelet", lines, groups, &ctx.deadline)?;
    let unit = if unit.state.is_none() && unit.journal.is_none() {
        unavailable.extend(unit.unavailable.iter().map(|u| format!("unit: {u}")));
        None
    } else {
        Some(unit)
    };
    to_data(&KubeletData {
        healthz,
        unit,
        unavailable,
    })
}

/// `GET /healthz` over HTTP/1.0 on 127.0.0.1, with `timeout` for each of
/// connect, write and read.
pub fn healthz(port: u16, timeout: Duration) -> Healthz {
    let started = Instant::now();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let mut h = Healthz {
        url,
        reachable: false,
        status_code: None,
        body: None,
        error: None,
        duration_ms: 0,
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let result = TcpStream::connect_timeout(&addr, timeout).and_then(|mut s| {
        h.reachable = true;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        s.write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
        let mut buf = Vec::with_capacity(512);
        s.take(RESPONSE_CAP as u64).read_to_end(&mut buf)?;
        Ok(buf)
    });
    match result {
        Ok(buf) => {
            let text = String::from_utf8_lossy(&buf);
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            h.status_code = head
                .lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|c| c.parse().ok());
            if h.status_code.is_none() {
                h.error = Some("not an HTTP response".to_owned());
            }
            h.body = Some(body.trim().to_owned());
        }
        Err(e) => {
            h.error = Some(match e.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    format!("timed out after {} ms", timeout.as_millis())
                }
                _ => e.to_string(),
            })
        }
    }
    h.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    h
}
