//! Inventories: our simple YAML (`hosts:`, `groups:`, `vars:`) and
//! Ansible's YAML inventory (`all:` / groups with `hosts:`, `children:`,
//! `vars:`, `ansible_host`, `ansible_user`, `ansible_port`), read into one
//! list of hosts with their merged variables.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

/// A host from an inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryHost {
    /// Inventory name.
    pub name: String,
    /// Address to connect to (default: the name).
    pub address: String,
    /// Login user.
    pub user: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// Groups it belongs to.
    pub groups: Vec<String>,
    /// Variables (group vars, then host vars).
    pub vars: BTreeMap<String, serde_json::Value>,
}

/// A bad inventory.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct InventoryError {
    /// File.
    pub file: String,
    /// Line and column, when known.
    pub location: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

/// Reads the inventory at `path`; `group` keeps only that group's hosts.
pub fn read(path: &Path, group: Option<&str>) -> Result<Vec<InventoryHost>, InventoryError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| InventoryError {
        file: file.clone(),
        location: None,
        message: format!("cannot read it: {e}"),
    })?;
    parse(&file, &text, group)
}

/// Parses inventory text.
pub fn parse(
    file: &str,
    text: &str,
    group: Option<&str>,
) -> Result<Vec<InventoryHost>, InventoryError> {
    let err = |message: String| InventoryError {
        file: file.to_string(),
        location: None,
        message,
    };
    let doc: Value = serde_yaml::from_str(text).map_err(|e| InventoryError {
        file: file.to_string(),
        location: e.location().map(|l| (l.line(), l.column())),
        message: e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or("invalid YAML")
            .to_string(),
    })?;
    let Value::Mapping(top) = &doc else {
        return Err(err(
            "an inventory is a mapping (`hosts:` or Ansible's `all:`)".into(),
        ));
    };
    let ansible = top.contains_key("all")
        || top
            .values()
            .any(|v| v.get("hosts").is_some() || v.get("children").is_some());
    let mut hosts: BTreeMap<String, InventoryHost> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    if ansible && !top.contains_key("hosts") {
        for (name, body) in top {
            let name = name
                .as_str()
                .ok_or_else(|| err("group names must be strings".into()))?;
            walk_ansible_group(name, body, &BTreeMap::new(), &mut hosts, &mut order, 0)
                .map_err(err)?;
        }
    } else {
        let global = vars_of(top.get("vars")).map_err(err)?;
        let Some(Value::Mapping(list)) = top.get("hosts") else {
            return Err(err(
                "missing `hosts:` (a mapping of host name to settings)".into()
            ));
        };
        for (name, body) in list {
            let name = name
                .as_str()
                .ok_or_else(|| err("host names must be strings".into()))?
                .to_string();
            let mut h = new_host(&name);
            h.vars = global.clone();
            if let Value::Mapping(m) = body {
                for (k, v) in m {
                    match k.as_str() {
                        Some("address") => {
                            h.address = scalar(v).ok_or_else(|| {
                                err(format!("host `{name}`: `address` must be a string"))
                            })?
                        }
                        Some("user") => h.user = scalar(v),
                        Some("port") => {
                            h.port = Some(port(v).ok_or_else(|| {
                                err(format!("host `{name}`: `port` must be 1-65535"))
                            })?)
                        }
                        Some("vars") => h.vars.extend(vars_of(Some(v)).map_err(err)?),
                        Some(other) => {
                            return Err(err(format!(
                            "host `{name}`: unknown key `{other}` (use address, user, port, vars)"
                        )))
                        }
                        None => return Err(err(format!("host `{name}`: keys must be strings"))),
                    }
                }
            }
            order.push(name.clone());
            hosts.insert(name, h);
        }
        if let Some(Value::Mapping(groups)) = top.get("groups") {
            for (g, members) in groups {
                let g = g.as_str().unwrap_or_default().to_string();
                let Value::Sequence(members) = members else {
                    return Err(err(format!("group `{g}` must be a list of host names")));
                };
                for m in members {
                    let m = m.as_str().unwrap_or_default();
                    let h = hosts
                        .get_mut(m)
                        .ok_or_else(|| err(format!("group `{g}` names unknown host `{m}`")))?;
                    h.groups.push(g.clone());
                }
            }
        }
    }
    let mut out: Vec<InventoryHost> = order.into_iter().filter_map(|n| hosts.remove(&n)).collect();
    if let Some(g) = group {
        out.retain(|h| h.groups.iter().any(|x| x == g));
        if out.is_empty() {
            return Err(err(format!("no host is in group `{g}`")));
        }
    }
    Ok(out)
}

fn new_host(name: &str) -> InventoryHost {
    InventoryHost {
        name: name.to_string(),
        address: name.to_string(),
        user: None,
        port: None,
        groups: Vec::new(),
        vars: BTreeMap::new(),
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn port(v: &Value) -> Option<u16> {
    scalar(v)?.parse().ok().filter(|p| *p > 0)
}

fn vars_of(v: Option<&Value>) -> Result<BTreeMap<String, serde_json::Value>, String> {
    let Some(v) = v else {
        return Ok(BTreeMap::new());
    };
    if v.is_null() {
        return Ok(BTreeMap::new());
    }
    let Value::Mapping(m) = v else {
        return Err("`vars` must be a mapping".into());
    };
    let mut out = BTreeMap::new();
    for (k, v) in m {
        let k = k.as_str().ok_or("variable names must be strings")?;
        out.insert(
            k.to_string(),
            serde_json::to_value(v).map_err(|e| e.to_string())?,
        );
    }
    Ok(out)
}

fn walk_ansible_group(
    group: &str,
    body: &Value,
    inherited: &BTreeMap<String, serde_json::Value>,
    hosts: &mut BTreeMap<String, InventoryHost>,
    order: &mut Vec<String>,
    depth: usize,
) -> Result<(), String> {
    if depth > 32 {
        return Err("groups nest deeper than 32 levels".into());
    }
    if body.is_null() {
        return Ok(());
    }
    let mut vars = inherited.clone();
    vars.extend(vars_of(body.get("vars"))?);
    if let Some(Value::Mapping(list)) = body.get("hosts") {
        for (name, hv) in list {
            let name = name
                .as_str()
                .ok_or("host names must be strings")?
                .to_string();
            if !hosts.contains_key(&name) {
                order.push(name.clone());
                hosts.insert(name.clone(), new_host(&name));
            }
            let h = hosts.get_mut(&name).ok_or("internal error")?;
            if group != "all" && !h.groups.iter().any(|g| g == group) {
                h.groups.push(group.to_string());
            }
            for (k, v) in &vars {
                h.vars.entry(k.clone()).or_insert_with(|| v.clone());
            }
            let own = vars_of(Some(hv))?;
            for (k, v) in own {
                match k.as_str() {
                    "ansible_host" => {
                        h.address = v
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    }
                    "ansible_user" => h.user = v.as_str().map(str::to_string),
                    "ansible_port" => {
                        h.port = v
                            .as_u64()
                            .and_then(|p| u16::try_from(p).ok())
                            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    }
                    _ => {}
                }
                h.vars.insert(k, v);
            }
        }
    }
    if let Some(Value::Mapping(children)) = body.get("children") {
        for (name, child) in children {
            let name = name.as_str().ok_or("group names must be strings")?;
            walk_ansible_group(name, child, &vars, hosts, order, depth + 1)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_format_with_groups_and_vars() {
        let hosts = parse(
            "inv.yaml",
            "vars: { zone: a }\nhosts:\n  node-1: { address: 127.0.0.2, user: root, port: 2222, vars: { role: cp } }\n  node-2: {}\ngroups:\n  cp: [node-1]\n",
            None,
        )
        .expect("parses");
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].address, "127.0.0.2");
        assert_eq!(hosts[0].port, Some(2222));
        assert_eq!(hosts[0].vars["role"], "cp");
        assert_eq!(hosts[1].vars["zone"], "a");
        let cp = parse(
            "inv.yaml",
            "hosts:\n  a: {}\n  b: {}\ngroups:\n  cp: [b]\n",
            Some("cp"),
        )
        .expect("parses");
        assert_eq!(cp.len(), 1);
    }

    #[test]
    fn reads_ansible_yaml_inventories() {
        let text = "all:\n  vars: { dc: x }\n  hosts:\n    lb: { ansible_host: 10.0.0.9 }\n  children:\n    workers:\n      vars: { tier: w }\n      hosts:\n        w1: { ansible_host: 10.0.0.1, ansible_user: admin, ansible_port: 2200 }\n        w2:\n";
        let hosts = parse("hosts.yaml", text, None).expect("parses");
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["lb", "w1", "w2"]);
        assert_eq!(hosts[1].address, "10.0.0.1");
        assert_eq!(hosts[1].user.as_deref(), Some("admin"));
        assert_eq!(hosts[1].port, Some(2200));
        assert_eq!(hosts[1].vars["tier"], "w");
        assert_eq!(hosts[2].vars["dc"], "x");
        assert_eq!(parse("h", text, Some("workers")).expect("parses").len(), 2);
    }

    #[test]
    fn errors_name_the_file_and_position() {
        let e = parse("inv.yaml", "hosts: [a, b\n", None).expect_err("bad yaml");
        assert!(e.to_string().starts_with("inv.yaml:"), "{e}");
    }
}
