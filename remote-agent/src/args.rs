//! Probe arguments: what the user typed (`--arg key=value`, `--arg
//! probe.key=value`) and what one probe ends up with after scoping,
//! precedence and type checks.

use std::time::Duration;

use crate::error::ProbeError;

/// One argument a probe accepts, as listed by `runbook-agent probes`.
#[derive(Debug, Clone, Copy)]
pub struct ArgSpec {
    /// The key.
    pub name: &'static str,
    /// The default, as text (empty if required or none).
    pub default: &'static str,
    /// What it does.
    pub help: &'static str,
}

/// The argument every probe accepts.
pub const TIMEOUT_ARG: ArgSpec = ArgSpec {
    name: "timeout_ms",
    default: "--timeout-ms",
    help: "time limit for this probe, in milliseconds",
};

/// An `--arg` as typed: `key=value` (every probe that takes `key`) or
/// `probe.key=value` (only that probe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawArg {
    /// The probe it is scoped to, if any.
    pub probe: Option<String>,
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

impl RawArg {
    /// Parses `key=value` or `probe.key=value`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (lhs, value) = s
            .split_once('=')
            .ok_or_else(|| format!("`--arg {s}` is not of the form key=value"))?;
        let (probe, key) = match lhs.split_once('.') {
            Some((p, k)) => (Some(p.to_owned()), k),
            None => (None, lhs),
        };
        let valid =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid(key) || probe.as_deref().is_some_and(|p| !valid(p)) {
            return Err(format!("`--arg {s}`: bad key `{lhs}`"));
        }
        Ok(Self {
            probe,
            key: key.to_owned(),
            value: value.to_owned(),
        })
    }
}

/// The arguments one probe received, resolved: a scoped `probe.key` wins
/// over a plain `key`, and a later one wins over an earlier one.
#[derive(Debug, Clone, Default)]
pub struct ProbeArgs {
    values: Vec<(String, String)>,
}

impl ProbeArgs {
    /// Resolves `raw` for the probe `name` accepting `specs` (plus
    /// `timeout_ms`). A plain key the probe does not take is ignored (it is
    /// meant for another probe of the batch); a scoped key it does not take
    /// is a `bad_argument` error.
    pub fn resolve(name: &str, specs: &[ArgSpec], raw: &[RawArg]) -> Result<Self, ProbeError> {
        let accepts = |k: &str| k == TIMEOUT_ARG.name || specs.iter().any(|s| s.name == k);
        let mut values: Vec<(String, String)> = Vec::new();
        let mut scoped: Vec<&str> = Vec::new();
        for a in raw {
            let is_scoped = match a.probe.as_deref() {
                Some(p) if p == name => true,
                Some(_) => continue,
                None => false,
            };
            if !accepts(&a.key) {
                if is_scoped {
                    let known: Vec<&str> = specs
                        .iter()
                        .map(|s| s.name)
                        .chain([TIMEOUT_ARG.name])
                        .collect();
                    return Err(ProbeError::bad_argument(format!(
                        "probe `{name}` takes no argument `{}` (it takes: {})",
                        a.key,
                        known.join(", ")
                    )));
                }
                continue;
            }
            if !is_scoped && scoped.contains(&a.key.as_str()) {
                continue;
            }
            if is_scoped {
                scoped.push(&a.key);
            }
            values.retain(|(k, _)| k != &a.key);
            values.push((a.key.clone(), a.value.clone()));
        }
        Ok(Self { values })
    }

    /// A string argument.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// An integer argument within `min..=max`, or `default`.
    pub fn u64(&self, key: &str, default: u64, min: u64, max: u64) -> Result<u64, ProbeError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ProbeError::bad_argument(format!(
                    "argument `{key}` must be a whole number from {min} to {max}, got `{v}`"
                ))),
            },
        }
    }

    /// A duration in milliseconds within `min..=max`, or `default`.
    pub fn millis(
        &self,
        key: &str,
        default: Duration,
        min: u64,
        max: u64,
    ) -> Result<Duration, ProbeError> {
        let d = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
        self.u64(key, d, min, max).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[ArgSpec] = &[ArgSpec {
        name: "top",
        default: "10",
        help: "",
    }];

    fn raw(list: &[&str]) -> Vec<RawArg> {
        list.iter().filter_map(|s| RawArg::parse(s).ok()).collect()
    }

    #[test]
    fn scoped_wins_over_plain_whatever_the_order() {
        let a = ProbeArgs::resolve("processes", SPECS, &raw(&["processes.top=3", "top=7"]));
        assert_eq!(
            a.ok().and_then(|a| a.get("top").map(str::to_owned)),
            Some("3".into())
        );
    }

    #[test]
    fn plain_keys_for_other_probes_are_ignored_scoped_ones_are_not() {
        assert!(ProbeArgs::resolve("processes", SPECS, &raw(&["lines=3", "unit.lines=4"])).is_ok());
        let e = ProbeArgs::resolve("processes", SPECS, &raw(&["processes.lines=3"]));
        assert!(e.is_err());
    }

    #[test]
    fn rejects_malformed_args_and_values() {
        assert!(RawArg::parse("novalue").is_err());
        assert!(RawArg::parse("a b=c").is_err());
        assert!(RawArg::parse(".x=1").is_err());
        let a = ProbeArgs::resolve("p", SPECS, &raw(&["top=ten"])).unwrap_or_default();
        assert!(a.u64("top", 10, 1, 100).is_err());
    }
}
