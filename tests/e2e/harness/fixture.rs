//! Copies a named node state from `tests/fixtures/nodes/<state>/` into a
//! host's own directory, so each host can be changed without touching others.
//!
//! A state may hold a file `INHERITS` naming another state: the other state is
//! copied first and this one on top of it (so `disk-full` only carries the
//! files that differ from `healthy`). `_lib/` holds the stand-ins' shared shell
//! code and is copied once per fleet, beside the hosts' directories, which is
//! where the stand-ins look for it (`bin/../../_lib`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// The file in a state directory that names the state it extends.
const INHERITS_FILE: &str = "INHERITS";
/// The directory of shared stand-in code, beside the states.
pub const SHARED_LIB_DIR: &str = "_lib";

/// `tests/fixtures/nodes/` in the source tree.
pub fn fixtures_source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/nodes")
}

/// Names of the node states that can be passed to `state(…)`/`set_state(…)`.
pub fn available_states() -> Vec<String> {
    let mut states: Vec<String> = fs::read_dir(fixtures_source_dir())
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .filter(|entry| entry.path().is_dir())
                .filter_map(|entry| entry.file_name().into_string().ok())
                .filter(|name| !name.starts_with('_'))
                .collect()
        })
        .unwrap_or_default();
    states.sort();
    states
}

/// The state directories to copy for `state`, base first.
fn inheritance_chain(state: &str) -> Vec<PathBuf> {
    let mut chain = Vec::new();
    let mut current = state.to_string();
    loop {
        let dir = fixtures_source_dir().join(&current);
        assert!(
            !current.starts_with('_') && dir.is_dir(),
            "unknown node state `{current}` (needed for `{state}`); available: {}",
            available_states().join(", ")
        );
        assert!(
            !chain.contains(&dir),
            "node state `{state}` inherits from itself through `{current}`"
        );
        chain.push(dir.clone());
        match fs::read_to_string(dir.join(INHERITS_FILE)) {
            Ok(base) => current = base.trim().to_string(),
            Err(_) => break,
        }
    }
    chain.reverse();
    chain
}

/// Replaces the contents of `destination` with the files of node `state`.
pub fn materialize_state(state: &str, destination: &Path) {
    let chain = inheritance_chain(state);
    if destination.exists() {
        fs::remove_dir_all(destination).unwrap_or_else(|error| {
            panic!(
                "cannot clear fixture dir {}: {error}",
                destination.display()
            )
        });
    }
    fs::create_dir_all(destination).unwrap_or_else(|error| {
        panic!(
            "cannot create fixture dir {}: {error}",
            destination.display()
        )
    });
    for source in chain {
        copy_tree(&source, destination);
    }
    fs::write(destination.join("STATE"), format!("{state}\n"))
        .unwrap_or_else(|error| panic!("cannot write {}/STATE: {error}", destination.display()));
    let _ = fs::remove_file(destination.join(INHERITS_FILE));
}

/// Copies the shared stand-in library into `nodes_dir/_lib`.
pub fn install_shared_lib(nodes_dir: &Path) {
    let destination = nodes_dir.join(SHARED_LIB_DIR);
    fs::create_dir_all(&destination)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", destination.display()));
    copy_tree(&fixtures_source_dir().join(SHARED_LIB_DIR), &destination);
}

/// Recursively copies `source` into `destination`, keeping file modes and
/// overwriting files that exist.
fn copy_tree(source: &Path, destination: &Path) {
    let entries = fs::read_dir(source)
        .unwrap_or_else(|error| panic!("cannot read fixture dir {}: {error}", source.display()));
    for entry in entries {
        let entry =
            entry.unwrap_or_else(|error| panic!("cannot read {}: {error}", source.display()));
        let from = entry.path();
        let to = destination.join(entry.file_name());
        if from.is_dir() {
            fs::create_dir_all(&to)
                .unwrap_or_else(|error| panic!("cannot create {}: {error}", to.display()));
            copy_tree(&from, &to);
        } else {
            fs::copy(&from, &to).unwrap_or_else(|error| {
                panic!(
                    "cannot copy {} to {}: {error}",
                    from.display(),
                    to.display()
                )
            });
        }
    }
}

/// Writes `contents` to `relative` inside a fixture dir, creating parent
/// directories; files under `bin/` are made executable.
pub fn write_fixture_file(fixture_dir: &Path, relative: &str, contents: &[u8]) {
    let path = resolve_inside(fixture_dir, relative);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", parent.display()));
    }
    fs::write(&path, contents)
        .unwrap_or_else(|error| panic!("cannot write fixture file {}: {error}", path.display()));
    if relative.starts_with("bin/") {
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|error| panic!("cannot chmod {}: {error}", path.display()));
    }
}

/// `fixture_dir/relative`, refusing paths that would leave the fixture dir.
pub fn resolve_inside(fixture_dir: &Path, relative: &str) -> PathBuf {
    let relative_path = Path::new(relative);
    assert!(
        relative_path
            .components()
            .all(|component| matches!(component, Component::Normal(_))),
        "fixture path `{relative}` must be relative and stay inside the fixture dir"
    );
    fixture_dir.join(relative_path)
}
