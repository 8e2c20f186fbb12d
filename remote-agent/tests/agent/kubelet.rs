//! `kubelet`: the health endpoint on 127.0.0.1 and the unit, together.

use std::io::{Read, Write};
use std::net::TcpListener;

use crate::support::agent;

/// Serves one HTTP response on 127.0.0.1 and returns the port.
fn serve_once(response: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(response.as_bytes());
        }
    });
    port
}

#[test]
fn healthy_endpoint_and_seed_unit() {
    let port =
        serve_once("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok");
    let d = agent()
        .on_fixture("seed-node")
        .args(["probe", "kubelet", "--arg", &format!("kubelet.port={port}")])
        .run()
        .data("kubelet");
    let h = &d["healthz"];
    assert_eq!(h["url"], format!("http://127.0.0.1:{port}/healthz"));
    assert_eq!(h["reachable"], true);
    assert_eq!(h["status_code"], 200);
    assert_eq!(h["body"], "ok");
    assert!(h["error"].is_null());
    assert_eq!(d["unit"]["state"]["active_state"], "active");
    assert_eq!(d["unit"]["journal"]["groups"][0]["count"], 158);
}

#[test]
fn unhealthy_endpoint_reports_status_and_body() {
    let port = serve_once(
        "HTTP/1.0 500 Internal Server Error\r\n\r\n[-]syncloop failed: reason withheld\n",
    );
    let d = agent()
        .on_fixture("seed-node")
        .args(["probe", "kubelet", "--arg", &format!("port={port}")])
        .run()
        .data("kubelet");
    assert_eq!(d["healthz"]["status_code"], 500);
    assert_eq!(d["healthz"]["body"], "[-]syncloop failed: reason withheld");
}

#[test]
fn closed_port_is_connection_refused_and_no_systemd_is_noted() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dir = crate::support::temp_root();
    let d = agent()
        .path(crate::support::path_of(&[&dir.path().join("bin")]))
        .args(["probe", "kubelet", "--arg", &format!("port={port}")])
        .run()
        .data("kubelet");
    assert_eq!(d["healthz"]["reachable"], false);
    assert_eq!(d["healthz"]["error"], "connection refused");
    assert!(d["unit"].is_null());
    assert!(d["unavailable"]
        .to_string()
        .contains("systemctl: not found on PATH"));
}
