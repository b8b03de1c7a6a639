//! Loading and validating the message catalogue (`patterns/*.toml`).
//!
//! The built-in files are embedded at compile time; `--patterns DIR` adds files read at run
//! time. A user pattern whose id equals a built-in one replaces it in place; a new id is tried
//! before the built-ins so that users can refine what the catalogue says. Validation errors
//! name the file and the pattern id.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;

use crate::model::{EventKind, Severity};

static BUILTIN: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/patterns");

/// Which side of the proxy writes the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The proxy's own CloudWatch log.
    Proxy,
    /// An error the proxy returns to clients, found in application logs.
    Client,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Proxy => "proxy",
            Side::Client => "client",
        }
    }
}

/// One validated pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub id: String,
    pub kind: EventKind,
    pub severity: Severity,
    /// Root-cause id this message is evidence for, if any.
    pub cause: Option<String>,
    pub side: Side,
    /// How strongly one line of this pattern points at its cause (0..1).
    pub confidence: f64,
    pub description: String,
    pub reference: Option<String>,
    /// Literal phrases that must all occur in the message (the prefilter).
    pub contains: Vec<String>,
    /// Literal phrases that must not occur.
    pub not_contains: Vec<String>,
    pub ignore_case: bool,
    pub regex: Option<PatternRegex>,
    /// Constant fields added to every event of this pattern (e.g. `engine = "postgresql"`).
    pub set: Vec<(String, String)>,
    /// Remediation steps for a cause id the rules do not know (user patterns).
    pub remediation: Vec<String>,
    pub examples_match: Vec<String>,
    pub examples_no_match: Vec<String>,
    /// Where the pattern came from: `builtin:<file>` or a path.
    pub origin: String,
}

/// A pattern's regex: its source and capture names are known when the catalogue loads, the
/// `regex` crate's matcher is built when first needed. Most messages are matched by the
/// classifier's own matcher (`fast.rs`), and building every pattern's was most of the time a
/// run took to start. Patterns from `--patterns` are built at load, so that a regex too large
/// to build is reported there; the built-in ones are built by the tests.
#[derive(Debug, Clone)]
pub struct PatternRegex {
    source: String,
    ignore_case: bool,
    /// By group index (0: the whole match, never named).
    names: Vec<Option<String>>,
    built: std::sync::OnceLock<Option<Regex>>,
}

impl PatternRegex {
    fn new(source: &str, ignore_case: bool, build_now: bool) -> Result<PatternRegex, String> {
        let hir = regex_syntax::ParserBuilder::new()
            .case_insensitive(ignore_case)
            .build()
            .parse(source)
            .map_err(|e| e.to_string())?;
        let mut names = vec![None];
        capture_names(&hir, &mut names);
        let regex = PatternRegex {
            source: source.to_string(),
            ignore_case,
            names,
            built: std::sync::OnceLock::new(),
        };
        if build_now {
            let built = regex.build().map_err(|e| e.to_string())?;
            let _ = regex.built.set(Some(built));
        }
        Ok(regex)
    }

    fn build(&self) -> Result<Regex, regex::Error> {
        RegexBuilder::new(&self.source)
            .case_insensitive(self.ignore_case)
            .size_limit(1 << 22)
            .build()
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The name of each capture group by index, as [`Regex::capture_names`] gives them.
    pub fn capture_names(&self) -> impl Iterator<Item = Option<&str>> {
        self.names.iter().map(Option::as_deref)
    }

    /// The `regex` crate's matcher, built on first use; `None` only for a built-in regex the
    /// crate cannot build (the catalogue tests build every one).
    pub fn regex(&self) -> Option<&Regex> {
        self.built.get_or_init(|| self.build().ok()).as_ref()
    }
}

/// Adds the names of `hir`'s capture groups to `names` at their indexes.
fn capture_names(hir: &regex_syntax::hir::Hir, names: &mut Vec<Option<String>>) {
    use regex_syntax::hir::HirKind;
    match hir.kind() {
        HirKind::Capture(capture) => {
            let index = capture.index as usize;
            if names.len() <= index {
                names.resize(index + 1, None);
            }
            if let Some(slot) = names.get_mut(index) {
                *slot = capture.name.as_deref().map(str::to_string);
            }
            capture_names(&capture.sub, names);
        }
        HirKind::Concat(subs) | HirKind::Alternation(subs) => {
            for sub in subs {
                capture_names(sub, names);
            }
        }
        HirKind::Repetition(repetition) => capture_names(&repetition.sub, names),
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) | HirKind::Look(_) => {}
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("cannot read pattern directory {path}: {source}")]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read pattern file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: invalid TOML: {message}")]
    Toml { origin: String, message: String },
    #[error("{origin}: pattern `{id}`: {message}")]
    Invalid {
        origin: String,
        id: String,
        message: String,
    },
    #[error("pattern id `{id}` is defined twice ({first} and {second}); ids must be unique")]
    Duplicate {
        id: String,
        first: String,
        second: String,
    },
    #[error("no pattern files (*.toml) in {path}")]
    Empty { path: PathBuf },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    pattern: Vec<PatternSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternSpec {
    id: String,
    kind: EventKind,
    severity: Severity,
    cause: Option<String>,
    side: Side,
    confidence: Option<f64>,
    description: String,
    reference: Option<String>,
    contains: Vec<String>,
    #[serde(default)]
    not_contains: Vec<String>,
    #[serde(default)]
    ignore_case: bool,
    regex: Option<String>,
    #[serde(default)]
    set: BTreeMap<String, String>,
    #[serde(default)]
    remediation: Vec<String>,
    #[serde(default, rename = "match")]
    examples_match: Vec<String>,
    #[serde(default)]
    no_match: Vec<String>,
}

/// The built-in catalogue, in file order.
pub fn builtin() -> Result<Vec<Pattern>, CatalogueError> {
    let mut files = Vec::new();
    embedded_toml(&BUILTIN, &mut files);
    files.sort_by_key(|file| file.path().to_path_buf());
    let mut patterns = Vec::new();
    for file in files {
        let origin = format!("builtin:patterns/{}", file.path().display());
        let text = file.contents_utf8().ok_or_else(|| CatalogueError::Toml {
            origin: origin.clone(),
            message: "not UTF-8".to_string(),
        })?;
        patterns.extend(parse_file(text, &origin)?);
    }
    check_unique(&patterns)?;
    Ok(patterns)
}

/// Reads every `*.toml` under `dir` (sorted by path).
pub fn from_dir(dir: &Path) -> Result<Vec<Pattern>, CatalogueError> {
    let mut paths = Vec::new();
    collect_toml(dir, &mut paths)?;
    if paths.is_empty() {
        return Err(CatalogueError::Empty {
            path: dir.to_path_buf(),
        });
    }
    paths.sort();
    let mut patterns = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| CatalogueError::ReadFile {
            path: path.clone(),
            source,
        })?;
        patterns.extend(parse_file(&text, &path.display().to_string())?);
    }
    check_unique(&patterns)?;
    Ok(patterns)
}

/// Merges user patterns into the built-ins: same id replaces in place, new ids go first.
pub fn merge(builtin: Vec<Pattern>, user: Vec<Pattern>) -> Vec<Pattern> {
    let mut merged = builtin;
    let mut new = Vec::new();
    for pattern in user {
        match merged.iter_mut().find(|p| p.id == pattern.id) {
            Some(slot) => *slot = pattern,
            None => new.push(pattern),
        }
    }
    new.extend(merged);
    new
}

fn embedded_toml<'a>(dir: &'a Dir<'a>, out: &mut Vec<&'a include_dir::File<'a>>) {
    for file in dir.files() {
        if file.path().extension().is_some_and(|ext| ext == "toml") {
            out.push(file);
        }
    }
    for sub in dir.dirs() {
        embedded_toml(sub, out);
    }
}

fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CatalogueError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CatalogueError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| CatalogueError::ReadDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.is_dir() {
            collect_toml(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

fn check_unique(patterns: &[Pattern]) -> Result<(), CatalogueError> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for pattern in patterns {
        if let Some(first) = seen.insert(&pattern.id, &pattern.origin) {
            return Err(CatalogueError::Duplicate {
                id: pattern.id.clone(),
                first: first.to_string(),
                second: pattern.origin.clone(),
            });
        }
    }
    Ok(())
}

/// Parses and validates one catalogue file.
pub fn parse_file(text: &str, origin: &str) -> Result<Vec<Pattern>, CatalogueError> {
    let spec: FileSpec = toml::from_str(text).map_err(|e| CatalogueError::Toml {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    spec.pattern
        .into_iter()
        .map(|p| validate(p, origin))
        .collect()
}

fn validate(spec: PatternSpec, origin: &str) -> Result<Pattern, CatalogueError> {
    let invalid = |message: String| CatalogueError::Invalid {
        origin: origin.to_string(),
        id: spec.id.clone(),
        message,
    };
    if spec.id.is_empty()
        || !spec
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(invalid(
            "ids are lower-case letters, digits and '-'".to_string(),
        ));
    }
    let (kind, severity, side) = (spec.kind, spec.severity, spec.side);
    if kind == EventKind::Unclassified {
        return Err(invalid(
            "kind `unclassified` is reserved for lines no pattern matches".into(),
        ));
    }
    if spec.contains.is_empty() || spec.contains.iter().any(|lit| lit.trim().is_empty()) {
        return Err(invalid(
            "`contains` needs at least one non-empty literal phrase (it is the prefilter)".into(),
        ));
    }
    let mut literals = HashSet::new();
    for literal in spec.contains.iter().chain(&spec.not_contains) {
        if !literals.insert(literal.to_ascii_lowercase()) {
            return Err(invalid(format!("literal `{literal}` is listed twice")));
        }
    }
    let confidence = spec.confidence.unwrap_or(0.8);
    if !(0.0..=1.0).contains(&confidence) {
        return Err(invalid(format!("confidence {confidence} is outside 0..1")));
    }
    if let Some(cause) = &spec.cause
        && (cause.is_empty() || !cause.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
    {
        return Err(invalid(format!(
            "cause `{cause}`: use lower-case words joined by '-'"
        )));
    }
    let regex = match &spec.regex {
        Some(source) => Some(
            PatternRegex::new(source, spec.ignore_case, !origin.starts_with("builtin:"))
                .map_err(|e| invalid(format!("regex does not compile: {e}")))?,
        ),
        None => None,
    };
    if let Some(regex) = &regex {
        let mut names = HashSet::new();
        for name in regex.capture_names().flatten() {
            if !names.insert(name) {
                return Err(invalid(format!("capture `{name}` appears twice")));
            }
        }
    }
    if spec.examples_match.is_empty() {
        return Err(invalid("give at least one `match` example".into()));
    }
    Ok(Pattern {
        id: spec.id,
        kind,
        severity,
        cause: spec.cause,
        side,
        confidence,
        description: spec.description,
        reference: spec.reference,
        contains: spec.contains,
        not_contains: spec.not_contains,
        ignore_case: spec.ignore_case,
        regex,
        set: spec.set.into_iter().collect(),
        remediation: spec.remediation,
        examples_match: spec.examples_match,
        examples_no_match: spec.no_match,
        origin: origin.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[[pattern]]
id = "x-one"
kind = "db_error"
severity = "critical"
side = "client"
description = "d"
contains = ["boom"]
match = ["boom"]
"#;

    #[test]
    fn parses_minimal_file() {
        let patterns = parse_file(MINIMAL, "t.toml").unwrap();
        assert_eq!(patterns[0].id, "x-one");
        assert_eq!(patterns[0].kind, EventKind::DbError);
    }

    #[test]
    fn errors_name_file_and_pattern() {
        let text = MINIMAL.replace("db_error", "explosion");
        let err = parse_file(&text, "t.toml").unwrap_err().to_string();
        // serde names the line and the values it accepts.
        assert!(
            err.starts_with("t.toml: ")
                && err.contains("line 4")
                && err.contains("unknown variant `explosion`, expected one of")
                && err.contains("`db_error`"),
            "{err}"
        );
        let text = MINIMAL.replace("side = \"client\"", "side = \"server\"");
        let err = parse_file(&text, "t.toml").unwrap_err().to_string();
        assert!(err.contains("expected `proxy` or `client`"), "{err}");
        let text = MINIMAL.replace("contains = [\"boom\"]", "contains = []");
        assert!(
            parse_file(&text, "t.toml")
                .unwrap_err()
                .to_string()
                .contains("prefilter")
        );
        let text = MINIMAL.replace("side = \"client\"", "side = \"client\"\nregex = '('");
        assert!(
            parse_file(&text, "t.toml")
                .unwrap_err()
                .to_string()
                .contains("compile")
        );
        let text = MINIMAL.replace("side = \"client\"", "side = \"client\"\nbogus = 1");
        assert!(
            parse_file(&text, "t.toml")
                .unwrap_err()
                .to_string()
                .contains("bogus")
        );
    }

    #[test]
    fn merge_replaces_and_prepends() {
        let base = parse_file(MINIMAL, "a").unwrap();
        let mut user = parse_file(MINIMAL, "b").unwrap();
        user.extend(parse_file(&MINIMAL.replace("x-one", "x-two"), "b").unwrap());
        let merged = merge(base, user);
        let ids: Vec<_> = merged
            .iter()
            .map(|p| (p.id.as_str(), p.origin.as_str()))
            .collect();
        assert_eq!(ids, [("x-two", "b"), ("x-one", "b")]);
    }

    #[test]
    fn builtin_catalogue_loads() {
        let patterns = builtin().unwrap();
        assert!(patterns.len() >= 30, "{}", patterns.len());
    }

    /// The built-in regexes are built when first needed: each one builds, and the capture
    /// names known before it is built are the `regex` crate's.
    #[test]
    fn every_builtin_regex_builds_with_the_names_known_before() {
        for pattern in builtin().unwrap() {
            let Some(regex) = &pattern.regex else {
                continue;
            };
            let built = regex.regex();
            assert!(built.is_some(), "{} does not build", pattern.id);
            let crate_names: Vec<Option<&str>> = built
                .map(|r| r.capture_names().collect())
                .unwrap_or_default();
            let names: Vec<Option<&str>> = regex.capture_names().collect();
            assert_eq!(names, crate_names, "{}", pattern.id);
        }
    }

    #[test]
    fn capture_names_by_index_like_the_regex_crate() {
        for source in [
            "",
            "a(b)c",
            "(?P<x>a)|(?P<y>b(c)(?P<z>d+)?)",
            "(?:(?P<p>1)|2)*(?P<q>x(?P<r>y))",
            "(?i)(?P<u>[a-z]+)@(?P<h>\\S+)",
        ] {
            let ours = PatternRegex::new(source, true, false).unwrap();
            let built = Regex::new(source).unwrap();
            let crate_names: Vec<Option<&str>> = built.capture_names().collect();
            assert_eq!(
                ours.capture_names().collect::<Vec<_>>(),
                crate_names,
                "{source}"
            );
        }
    }

    /// A pattern of `--patterns` is built when it is read, so that a regex the crate cannot
    /// build is an error there, not a pattern that never matches.
    #[test]
    fn a_user_regex_too_large_to_build_is_an_error_at_load() {
        let text = MINIMAL.replace(
            "side = \"client\"",
            "side = \"client\"\nregex = '\\w{2000}'",
        );
        let err = parse_file(&text, "t.toml").unwrap_err().to_string();
        assert!(err.contains("compile"), "{err}");
        let builtin = parse_file(&text, "builtin:patterns/t.toml").unwrap();
        assert!(
            builtin[0]
                .regex
                .as_ref()
                .is_some_and(|r| r.regex().is_none())
        );
    }
}
