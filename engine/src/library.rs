//! Finding and loading runbooks: the search path (`--runbooks DIR`, then
//! `RUNBOOK_PATH`, then `./runbooks`), loading by name or path, and the
//! resolver that loads the runbooks a `call:` step names (refusing call
//! cycles).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{did_you_mean, Diagnostic, FileDiagnostics};
use crate::model::Runbook;
use crate::parse;
use crate::source::SourceFile;
use crate::validate::{self, CallResolver};

/// Where runbooks are looked up.
#[derive(Debug, Clone)]
pub struct Library {
    dirs: Vec<PathBuf>,
}

/// A runbook file found on the search path.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Name (the file stem).
    pub name: String,
    /// File.
    pub path: PathBuf,
}

/// Why a runbook could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No such name on the search path.
    #[error("no runbook named `{name}` in {}{}", searched, hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default())]
    NotFound {
        /// The name asked for.
        name: String,
        /// The directories searched, for the message.
        searched: String,
        /// A did-you-mean.
        hint: Option<String>,
    },
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The runbook has errors.
    #[error("runbook {} is invalid", .0.first().map(|f| f.source.name()).unwrap_or_default())]
    Invalid(Vec<FileDiagnostics>),
}

/// A loaded runbook together with its warnings.
#[derive(Debug)]
pub struct Loaded {
    /// The runbook.
    pub runbook: Arc<Runbook>,
    /// Warnings found on the way (no errors).
    pub warnings: Vec<FileDiagnostics>,
}

impl Library {
    /// The search path: `explicit` first, then `RUNBOOK_PATH` (`:`-separated),
    /// then `./runbooks`.
    pub fn new(explicit: &[PathBuf]) -> Library {
        let mut dirs: Vec<PathBuf> = explicit.to_vec();
        if let Some(path) = std::env::var_os("RUNBOOK_PATH") {
            dirs.extend(std::env::split_paths(&path).filter(|p| !p.as_os_str().is_empty()));
        }
        dirs.push(PathBuf::from("runbooks"));
        Library { dirs }
    }

    /// A library over exactly these directories.
    pub fn with_dirs(dirs: Vec<PathBuf>) -> Library {
        Library { dirs }
    }

    /// The directories, in lookup order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Every runbook on the search path (first one wins per name).
    pub fn list(&self) -> Vec<Entry> {
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        for dir in &self.dirs {
            for path in runbook_files(dir) {
                let Some(name) = runbook_stem(&path) else {
                    continue;
                };
                if seen.insert(name.clone(), ()).is_none() {
                    out.push(Entry { name, path });
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The file of runbook `name`, or `name` itself when it is a path.
    pub fn find(&self, name: &str) -> Result<PathBuf, LoadError> {
        let as_path = Path::new(name);
        if name.ends_with(".yaml") || name.ends_with(".yml") || name.contains('/') {
            return Ok(as_path.to_path_buf());
        }
        for dir in &self.dirs {
            for ext in ["yaml", "yml"] {
                let candidate = dir.join(format!("{name}.{ext}"));
                if candidate.is_file() {
                    return Ok(candidate);
                }
            }
        }
        let names: Vec<String> = self.list().into_iter().map(|e| e.name).collect();
        Err(LoadError::NotFound {
            name: name.to_string(),
            searched: self
                .dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            hint: did_you_mean(name, names.iter().map(String::as_str)),
        })
    }

    /// Loads, parses and validates runbook `name` (or a path).
    pub fn load(&self, name: &str) -> Result<Loaded, LoadError> {
        let path = self.find(name)?;
        self.load_path(&path)
    }

    /// Loads, parses and validates the runbook at `path`.
    pub fn load_path(&self, path: &Path) -> Result<Loaded, LoadError> {
        let resolver = LibraryResolver::new(self, path);
        let files = resolver.check_file(path)?;
        let (runbook, diagnostics) = files;
        match runbook {
            Some(runbook) => Ok(Loaded {
                runbook,
                warnings: vec![diagnostics]
                    .into_iter()
                    .filter(|f| !f.diagnostics.is_empty())
                    .collect(),
            }),
            None => Err(LoadError::Invalid(vec![diagnostics])),
        }
    }

    /// Validates one file, as `runbook validate` does.
    pub fn check_path(&self, path: &Path) -> FileDiagnostics {
        let resolver = LibraryResolver::new(self, path);
        match resolver.check_file(path) {
            Ok((_, diags)) => diags,
            Err(e) => FileDiagnostics {
                source: Arc::new(SourceFile::new(path, "")),
                diagnostics: vec![Diagnostic::error("unreadable", e.to_string()).path("(file)")],
            },
        }
    }
}

/// Reads a runbook file, refusing non-UTF-8 text with the byte offset.
pub fn read_source(path: &Path) -> Result<Result<SourceFile, FileDiagnostics>, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile::new(path, text)),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let source = SourceFile::new(path, text);
            let start = valid.min(source.text.len());
            let span = source.clamp(start..start + 1);
            Err(FileDiagnostics {
                diagnostics: vec![Diagnostic::error(
                    "not-utf8",
                    format!("file is not UTF-8 text (bad byte at offset {valid})"),
                )
                .at(Some(span), "invalid UTF-8 here")
                .path("(file)")
                .help("save the runbook as UTF-8")],
                source: Arc::new(source),
            })
        }
    })
}

/// All runbook files under `dir` (recursively), skipping scenario tests.
pub fn runbook_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut entries: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                if depth < 8 {
                    stack.push((p, depth + 1));
                }
            } else if runbook_stem(&p).is_some() {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The runbook name of a file path (`x.yaml` → `x`); `None` for files that
/// are not runbooks (scenario tests, other extensions).
pub fn runbook_stem(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    let stem = file
        .strip_suffix(".yaml")
        .or_else(|| file.strip_suffix(".yml"))?;
    if stem.ends_with(".test") || stem.starts_with('.') {
        return None;
    }
    Some(stem.to_string())
}

/// Resolves `call:` names: first next to the calling file, then on the
/// search path; keeps a stack to refuse call cycles and a cache so a
/// runbook called twice is validated once.
struct LibraryResolver<'a> {
    library: &'a Library,
    home: Option<PathBuf>,
    stack: RefCell<Vec<String>>,
    cache: RefCell<HashMap<PathBuf, Result<Arc<Runbook>, String>>>,
}

impl<'a> LibraryResolver<'a> {
    fn new(library: &'a Library, root: &Path) -> Self {
        LibraryResolver {
            library,
            home: root.parent().map(Path::to_path_buf),
            stack: RefCell::new(Vec::new()),
            cache: RefCell::new(HashMap::new()),
        }
    }

    fn check_file(
        &self,
        path: &Path,
    ) -> Result<(Option<Arc<Runbook>>, FileDiagnostics), LoadError> {
        let source = match read_source(path)? {
            Ok(s) => Arc::new(s),
            Err(diags) => return Ok((None, diags)),
        };
        let key = path.to_path_buf();
        self.stack.borrow_mut().push(key.display().to_string());
        let parsed = parse::parse(source.clone());
        let validated = validate::validate(parsed, self);
        self.stack.borrow_mut().pop();
        let diags = FileDiagnostics {
            source,
            diagnostics: validated.diagnostics,
        }
        .sorted();
        Ok((validated.runbook, diags))
    }

    fn locate(&self, name: &str) -> Result<PathBuf, String> {
        if let Some(home) = &self.home {
            for ext in ["yaml", "yml"] {
                let p = home.join(format!("{name}.{ext}"));
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
        self.library.find(name).map_err(|e| e.to_string())
    }
}

impl CallResolver for LibraryResolver<'_> {
    fn resolve(&self, name: &str) -> Result<Arc<Runbook>, String> {
        let path = self.locate(name)?;
        let key = path.display().to_string();
        if self.stack.borrow().contains(&key) {
            let chain = self
                .stack
                .borrow()
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(" -> ");
            return Err(format!(
                "runbooks call each other in a cycle: {chain} -> {key}"
            ));
        }
        if let Some(hit) = self.cache.borrow().get(&path) {
            return hit.clone();
        }
        let result = match self.check_file(&path) {
            Ok((Some(rb), _)) => Ok(rb),
            Ok((None, diags)) => {
                let first = diags
                    .diagnostics
                    .iter()
                    .find(|d| d.is_error())
                    .map(|d| d.message.clone())
                    .unwrap_or_default();
                Err(format!("it is invalid ({}: {first})", path.display()))
            }
            Err(e) => Err(e.to_string()),
        };
        self.cache.borrow_mut().insert(path, result.clone());
        result
    }
}
