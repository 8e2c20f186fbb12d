//! Picks loopback `address:port` pairs for fake hosts so that tests running
//! at the same time, as threads or as separate processes, never share one.
//!
//! Every pair is drawn at random from 127.64.0.0/10 × ports 20000..32000
//! (about 2^36 pairs; below the kernel's ephemeral port range, far from
//! 127.0.0.1). Within a process an address is never handed out twice; across
//! processes the random draw makes a clash unlikely, and the bind that sshd
//! makes is the real lock: if it fails with "Address already in use" the fleet
//! draws again (see `fleet.rs`).

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

const FIRST_PORT: u16 = 20_000;
const PORT_COUNT: u64 = 12_000;

/// Addresses this process has handed out; never handed out again.
fn claimed() -> &'static Mutex<HashSet<Ipv4Addr>> {
    static CLAIMED: OnceLock<Mutex<HashSet<Ipv4Addr>>> = OnceLock::new();
    CLAIMED.get_or_init(Default::default)
}

/// A random number from the standard library's per-process random hash keys
/// (no `rand` dependency), mixed with a counter, the time and the pid.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    if let Ok(since_epoch) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        hasher.write_u128(since_epoch.as_nanos());
    }
    hasher.finish()
}

/// A fresh loopback `address:port` that no other host of this process uses.
pub fn claim_listen_address() -> SocketAddrV4 {
    loop {
        let random = random_u64();
        let ip = Ipv4Addr::new(
            127,
            64 + (random & 0x3f) as u8,
            (random >> 6) as u8,
            1 + ((random >> 14) % 254) as u8,
        );
        let port = FIRST_PORT + ((random >> 22) % PORT_COUNT) as u16;
        if claimed()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(ip)
        {
            return SocketAddrV4::new(ip, port);
        }
    }
}

/// A loopback address where nothing listens: connecting to it fails at once
/// with "Connection refused". Checked before it is returned.
pub fn refused_address() -> SocketAddr {
    for _ in 0..20 {
        let candidate = SocketAddr::V4(claim_listen_address());
        match TcpStream::connect_timeout(&candidate, Duration::from_secs(2)) {
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => return candidate,
            _ => continue,
        }
    }
    panic!("could not find a loopback address that refuses connections in 20 tries");
}
