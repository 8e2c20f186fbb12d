//! `crictl ps -a -o json` and `crictl inspect -o json` output: the CRI's
//! view of containers. Only the fields we report are deserialised; the
//! rest of crictl's (large) output is skipped.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One container from `crictl ps -a -o json`, reduced to what we report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Full container id.
    pub id: String,
    /// Container name (`metadata.name`).
    pub name: String,
    /// `io.kubernetes.pod.name` label.
    pub pod_name: Option<String>,
    /// `io.kubernetes.pod.namespace` label.
    pub pod_namespace: Option<String>,
    /// `running`, `exited`, `created` or `unknown` (CRI's `CONTAINER_*`
    /// lower-cased without the prefix).
    pub state: String,
    /// `io.kubernetes.container.restartCount` annotation, else
    /// `metadata.attempt`.
    pub restart_count: Option<u64>,
    /// Creation time in nanoseconds since the epoch.
    pub created_at_ns: Option<u64>,
    /// Image reference.
    pub image: Option<String>,
}

/// Why crictl's JSON was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("crictl output is not the expected JSON: {0}")]
pub struct CrictlError(String);

#[derive(Deserialize)]
struct RawList {
    #[serde(default)]
    containers: Vec<RawContainer>,
}

#[derive(Deserialize)]
struct RawContainer {
    #[serde(default)]
    id: String,
    #[serde(default)]
    metadata: Option<RawMetadata>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default, rename = "createdAt")]
    created_at: Option<serde_json::Value>,
    #[serde(default)]
    labels: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    image: Option<RawImage>,
}

#[derive(Deserialize)]
struct RawMetadata {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    attempt: Option<u64>,
}

#[derive(Deserialize)]
struct RawImage {
    #[serde(default)]
    image: Option<String>,
}

/// A JSON number or a string holding one (protobuf int64 is a string).
fn as_u64(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_string(v: &serde_json::Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// Parses `crictl ps -a -o json`.
pub fn parse_ps(json: &[u8]) -> Result<Vec<Container>, CrictlError> {
    let list: RawList = serde_json::from_slice(json).map_err(|e| CrictlError(e.to_string()))?;
    Ok(list
        .containers
        .into_iter()
        .map(|c| {
            let label = |k: &str| c.labels.as_ref().and_then(|l| l.get(k)).and_then(as_string);
            let restart_count = c
                .annotations
                .as_ref()
                .and_then(|a| a.get("io.kubernetes.container.restartCount"))
                .and_then(as_u64)
                .or_else(|| c.metadata.as_ref().and_then(|m| m.attempt));
            let name = c
                .metadata
                .as_ref()
                .and_then(|m| m.name.clone())
                .or_else(|| label("io.kubernetes.container.name"))
                .unwrap_or_default();
            let state = c
                .state
                .as_deref()
                .map(|s| s.trim_start_matches("CONTAINER_").to_ascii_lowercase())
                .unwrap_or_else(|| "unknown".to_owned());
            Container {
                pod_name: label("io.kubernetes.pod.name"),
                pod_namespace: label("io.kubernetes.pod.namespace"),
                id: c.id,
                name,
                state,
                restart_count,
                created_at_ns: c.created_at.as_ref().and_then(as_u64),
                image: c.image.and_then(|i| i.image),
            }
        })
        .collect())
}

/// What `crictl inspect -o json ID` adds for an exited container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspect {
    /// `status.exitCode`.
    pub exit_code: Option<i64>,
    /// `status.reason` (`Error`, `OOMKilled`, `Completed`).
    pub reason: Option<String>,
    /// `status.finishedAt`, as crictl prints it.
    pub finished_at: Option<String>,
}

/// Parses `crictl inspect -o json`.
pub fn parse_inspect(json: &[u8]) -> Result<Inspect, CrictlError> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| CrictlError(e.to_string()))?;
    let status = v.get("status");
    let field = |k: &str| status.and_then(|s| s.get(k));
    Ok(Inspect {
        exit_code: field("exitCode").and_then(serde_json::Value::as_i64),
        reason: field("reason")
            .and_then(as_string)
            .filter(|s| !s.is_empty()),
        finished_at: field("finishedAt").and_then(|f| match f {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ps_output() {
        let json = br#"{"containers":[{"id":"87d3992f84f74","metadata":{"name":"kube-apiserver","attempt":4},"state":"CONTAINER_EXITED","createdAt":"1664348000000000000","labels":{"io.kubernetes.pod.name":"kube-apiserver-n","io.kubernetes.pod.namespace":"kube-system"},"annotations":{"io.kubernetes.container.restartCount":"4"},"image":{"image":"k8s.gcr.io/kube-apiserver:v1.24.6"}}]}"#;
        let c = parse_ps(json).unwrap_or_default();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].state, "exited");
        assert_eq!(c[0].restart_count, Some(4));
        assert_eq!(c[0].created_at_ns, Some(1_664_348_000_000_000_000));
        assert_eq!(c[0].pod_namespace.as_deref(), Some("kube-system"));
        assert!(parse_ps(b"{").is_err());
        assert_eq!(parse_ps(b"{}"), Ok(vec![]));
    }

    #[test]
    fn parses_inspect_output() {
        let i = parse_inspect(
            br#"{"status":{"exitCode":1,"reason":"Error","finishedAt":"2022-09-28T07:47:10Z"}}"#,
        );
        assert_eq!(
            i.map(|i| (i.exit_code, i.reason)),
            Ok((Some(1), Some("Error".into())))
        );
    }
}
