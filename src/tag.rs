//! `tag`: the `<branch>-<commit>` image tag, image references, environment routing and
//! OCI labels, from CI variables only (no API calls).
//!
//! [`make_tag`] is total: for any branch and commit it returns a valid OCI tag
//! (`[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`), never empty, never starting with `-` or `.`,
//! never a bare `-<sha>`, and when the branch is too long it is the branch that is cut,
//! so the commit is always kept whole. Property tests below prove it.

use anyhow::{bail, Context as _, Result};
use regex::Regex;
use serde::Serialize;
use serde_json::{Map, Value};

/// The OCI tag grammar.
pub const TAG_PATTERN: &str = "^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$";
/// Longest tag the OCI distribution spec allows.
pub const MAX_TAG_LEN: usize = 128;
/// Default commit length in tags (`master-42bd534f`).
pub const DEFAULT_SHA_LENGTH: usize = 8;
/// Used when both the branch and the commit sanitise to nothing.
pub const FALLBACK_TAG: &str = "untagged";

/// How the tag is made.
#[derive(Debug, Clone, Copy)]
pub struct TagOptions {
    /// Characters of the commit kept (0 = the whole commit).
    pub sha_length: usize,
    /// Lowercase the branch part.
    pub lowercase: bool,
}

impl Default for TagOptions {
    fn default() -> Self {
        TagOptions {
            sha_length: DEFAULT_SHA_LENGTH,
            lowercase: false,
        }
    }
}

/// Whether `s` is a valid OCI tag.
pub fn is_valid_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Each run of characters outside `[a-zA-Z0-9._-]` becomes one `-`; leading `.`/`-` and
/// trailing `.`/`-` are removed. The result is ASCII and may be empty.
pub fn sanitize(s: &str, lowercase: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            out.push(if lowercase { c.to_ascii_lowercase() } else { c });
            in_run = false;
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    trim_punct(&out).to_string()
}

fn trim_punct(s: &str) -> &str {
    s.trim_matches(|c| c == '.' || c == '-')
}

/// `<branch>-<commit>`, always a valid OCI tag (see the module documentation).
pub fn make_tag(branch: &str, commit: &str, opts: TagOptions) -> String {
    let full = sanitize(commit, true);
    let mut c: String = if opts.sha_length == 0 {
        full
    } else {
        full.chars().take(opts.sha_length).collect()
    };
    c.truncate(MAX_TAG_LEN);
    let c = trim_punct(&c).to_string();
    let b = sanitize(branch, opts.lowercase);
    let tag = match (b.is_empty(), c.is_empty()) {
        (true, true) => FALLBACK_TAG.to_string(),
        (false, true) => trim_punct(&b[..b.len().min(MAX_TAG_LEN)]).to_string(),
        (true, false) => c,
        (false, false) => {
            let room = MAX_TAG_LEN.saturating_sub(c.len() + 1);
            let b = trim_punct(&b[..b.len().min(room)]);
            if b.is_empty() {
                c
            } else {
                format!("{b}-{c}")
            }
        }
    };
    debug_assert!(is_valid_tag(&tag), "{tag:?}");
    tag
}

/// The image kinds of a project.
pub const KINDS: &[&str] = &["frontend", "backend", "codeasdata"];

/// Default image template: `<registry>/<name>-<kind>:<branch>-<commit>`, the deployment
/// guide's convention: the kind is part of the image name (one repository per kind, so the
/// kinds never overwrite each other) and the tag is the `<branch>-<commit>` tag, so that a
/// webhook rule such as `master-*` picks the environment.
pub const DEFAULT_IMAGE_TEMPLATE: &str = "{registry}/{name}-{kind}:{tag}";

/// One image reference.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct ImageRef {
    /// The image kind (`frontend`, `backend`, `codeasdata` or a custom one).
    pub kind: String,
    /// The full reference, `repository:tag`.
    pub image: String,
    /// The reference without its tag (registry and path, lowercased).
    pub repository: String,
    /// The tag part, sanitised to the OCI tag syntax.
    pub tag: String,
}

/// Values for the image template placeholders.
#[derive(Debug, Clone, Default)]
pub struct ImageVars<'a> {
    /// `{registry}`: the registry host (a trailing `/` is dropped).
    pub registry: &'a str,
    /// `{name}`: the image name (default: the project's).
    pub name: &'a str,
    /// `{project}`: the project's name.
    pub project: &'a str,
    /// `{tag}`: the computed tag.
    pub tag: &'a str,
    /// `{branch}`: the branch built.
    pub branch: &'a str,
    /// `{commit}`: the commit built.
    pub commit: &'a str,
}

/// Render `template` (placeholders `{registry} {name} {project} {kind} {tag} {branch}
/// {commit}`) for each kind. The repository is lowercased (OCI requires it); the tag part
/// is sanitised; anything still invalid is an error naming the reference.
pub fn image_refs(template: &str, vars: &ImageVars, kinds: &[String]) -> Result<Vec<ImageRef>> {
    let component = Regex::new(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$").expect("static regex");
    let mut out = Vec::new();
    for kind in kinds {
        let rendered = template
            .replace("{registry}", vars.registry.trim_end_matches('/'))
            .replace("{name}", vars.name)
            .replace("{project}", vars.project)
            .replace("{kind}", kind)
            .replace("{tag}", vars.tag)
            .replace("{branch}", vars.branch)
            .replace("{commit}", vars.commit);
        let rendered = rendered.trim_start_matches('/');
        let slash = rendered.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (repo, tag) = match rendered[slash..].rfind(':') {
            Some(i) => (&rendered[..slash + i], &rendered[slash + i + 1..]),
            None => (rendered, "latest"),
        };
        let repo = repo.to_ascii_lowercase();
        let tag_clean = sanitize(tag, false);
        if !is_valid_tag(&tag_clean) {
            bail!("image {rendered:?}: the tag {tag:?} is not a valid OCI tag (1 to 128 of [a-zA-Z0-9._-], not starting with '.' or '-')");
        }
        let mut parts: Vec<&str> = repo.split('/').collect();
        if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
            parts.remove(0);
        }
        if parts.is_empty() || parts.iter().any(|p| !component.is_match(p)) {
            bail!("image {rendered:?}: repository {repo:?} is not a valid OCI repository name (set --name, and --registry as host[:port])");
        }
        out.push(ImageRef {
            kind: kind.clone(),
            image: format!("{repo}:{tag_clean}"),
            repository: repo,
            tag: tag_clean,
        });
    }
    Ok(out)
}

/// A routing rule: a tag matching `pattern` deploys to `environment`.
#[derive(Debug, Clone)]
pub struct Route {
    /// The environment the matching tags deploy to.
    pub environment: String,
    /// The tag pattern (anchored by the user, e.g. `^master-`).
    pub pattern: Regex,
}

/// Parse `name=regex` rules, one per item, several per item separated by newlines or `;`
/// (for single-line CI inputs); blank rules and `#` comments are ignored.
pub fn parse_routes<'a>(rules: impl IntoIterator<Item = &'a str>) -> Result<Vec<Route>> {
    let mut out = Vec::new();
    for rule in rules.into_iter().flat_map(|r| r.split(['\n', ';'])) {
        let rule = rule.trim();
        if rule.is_empty() || rule.starts_with('#') {
            continue;
        }
        let Some((env, re)) = rule.split_once('=') else {
            bail!("environment rule {rule:?}: expected <environment>=<regex>, e.g. production=^master-");
        };
        out.push(route(env.trim(), re.trim())?);
    }
    Ok(out)
}

fn route(env: &str, re: &str) -> Result<Route> {
    if env.is_empty() {
        bail!("environment rule with regex {re:?} has no environment name");
    }
    Ok(Route {
        environment: env.to_string(),
        pattern: Regex::new(re)
            .with_context(|| format!("environment {env}: invalid regex {re:?}"))?,
    })
}

/// Read rules from a file: a JSON object `{"production": "^master-"}` (or
/// `{"environments": {…}}`), or `name=regex` lines.
pub fn read_routes_file(path: &std::path::Path) -> Result<Vec<Route>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the environments file {}", path.display()))?;
    if text.trim_start().starts_with('{') {
        let v: Value =
            serde_json::from_str(&text).map_err(|e| crate::ci::FileError::json(path, &e))?;
        let obj = v.get("environments").unwrap_or(&v);
        let Some(map) = obj.as_object() else {
            bail!(
                "{}: expected an object of environment → regex",
                path.display()
            );
        };
        map.iter()
            .map(|(k, v)| match v.as_str() {
                Some(re) => route(k, re),
                None => bail!(
                    "{}: environment {k}: the regex must be a string",
                    path.display()
                ),
            })
            .collect()
    } else {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            out.extend(parse_routes([line]).map_err(|e| crate::ci::FileError {
                location: crate::ci::Location {
                    file: path.display().to_string(),
                    line: Some(i as u32 + 1),
                    col: None,
                },
                message: format!("{e:#}"),
            })?);
        }
        Ok(out)
    }
}

/// The environments `tag` deploys to, in rule order, without duplicates.
pub fn environments(tag: &str, routes: &[Route]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in routes {
        if r.pattern.is_match(tag) && !out.contains(&r.environment) {
            out.push(r.environment.clone());
        }
    }
    out
}

/// Inputs of the OCI labels.
#[derive(Debug, Clone, Default)]
pub struct LabelInputs<'a> {
    /// `org.opencontainers.image.revision`: the commit.
    pub commit: &'a str,
    /// `org.opencontainers.image.version` and `ref.name`: the tag.
    pub tag: &'a str,
    /// `org.opencontainers.image.source`: the repository URL, when known.
    pub source: Option<&'a str>,
    /// Unix seconds; `None` = now.
    pub created: Option<i64>,
}

/// `org.opencontainers.image.*` labels: created, revision, source, version, ref.name.
/// `created` is `SOURCE_DATE_EPOCH` when the caller passes it, for reproducible builds.
pub fn oci_labels(i: &LabelInputs) -> Map<String, Value> {
    let created = match i
        .created
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
    {
        Some(t) => t,
        None => chrono::Utc::now(),
    };
    let mut m = Map::new();
    let mut put = |k: &str, v: &str| {
        m.insert(
            format!("org.opencontainers.image.{k}"),
            Value::String(v.into()),
        );
    };
    put("created", &created.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    put("revision", i.commit);
    if let Some(s) = i.source {
        put("source", s);
    }
    put("version", i.tag);
    put("ref.name", i.tag);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SHA: &str = "42bd534f0123456789abcdef0123456789abcdef";

    #[test]
    fn examples() {
        let o = TagOptions::default();
        assert_eq!(make_tag("master", SHA, o), "master-42bd534f");
        assert_eq!(
            make_tag("feature/JIRA-12_Foo", SHA, o),
            "feature-JIRA-12_Foo-42bd534f"
        );
        assert_eq!(
            make_tag(
                "WarpedPixel/issue200",
                SHA,
                TagOptions {
                    lowercase: true,
                    ..o
                }
            ),
            "warpedpixel-issue200-42bd534f"
        );
        assert_eq!(make_tag("fix#12", SHA, o), "fix-12-42bd534f");
        assert_eq!(make_tag(".hidden", SHA, o), "hidden-42bd534f");
        assert_eq!(make_tag("", SHA, o), "42bd534f", "never -<sha>");
        assert_eq!(make_tag("///", SHA, o), "42bd534f");
        assert_eq!(make_tag("dév/été", SHA, o), "d-v-t-42bd534f");
        assert_eq!(
            make_tag("master", SHA, TagOptions { sha_length: 0, ..o }),
            format!("master-{SHA}")
        );
        assert_eq!(make_tag("master", "", o), "master");
        assert_eq!(make_tag("", "", o), FALLBACK_TAG);
        let long = "b".repeat(300);
        let t = make_tag(&long, SHA, o);
        assert_eq!(t.len(), 128);
        assert!(t.ends_with("-42bd534f"));
    }

    #[test]
    fn images_routes_and_labels() {
        let kinds: Vec<String> = KINDS.iter().map(|s| s.to_string()).collect();
        let v = ImageVars {
            registry: "Registry.example:5000/",
            name: "Client/App",
            project: "shop",
            tag: "master-42bd534f",
            ..Default::default()
        };
        let refs = image_refs(DEFAULT_IMAGE_TEMPLATE, &v, &kinds).unwrap();
        assert_eq!(
            refs[0].image,
            "registry.example:5000/client/app-frontend:master-42bd534f"
        );
        assert_eq!(
            refs[2].image,
            "registry.example:5000/client/app-codeasdata:master-42bd534f"
        );
        assert_eq!(
            refs[1].repository,
            "registry.example:5000/client/app-backend"
        );
        // The guide's example reference.
        let guide = ImageVars {
            registry: "ghcr.io",
            name: "acme/shop",
            tag: "master-42bd534f",
            ..Default::default()
        };
        let refs = image_refs(DEFAULT_IMAGE_TEMPLATE, &guide, &kinds[..1]).unwrap();
        assert_eq!(refs[0].image, "ghcr.io/acme/shop-frontend:master-42bd534f");
        let refs = image_refs("{registry}/{name}/{kind}:{tag}", &v, &kinds[..1]).unwrap();
        assert_eq!(
            refs[0].image,
            "registry.example:5000/client/app/frontend:master-42bd534f"
        );
        let bad = ImageVars {
            name: "a b",
            ..v.clone()
        };
        assert!(image_refs(DEFAULT_IMAGE_TEMPLATE, &bad, &kinds).is_err());

        let routes = parse_routes([
            "production=^master-",
            "# c",
            "",
            "codev=^develop-",
            "all=.*",
        ])
        .unwrap();
        assert_eq!(environments("master-1", &routes), ["production", "all"]);
        assert_eq!(environments("develop-1", &routes), ["codev", "all"]);
        assert!(parse_routes(["nope"]).is_err());
        assert!(parse_routes(["x=("]).is_err());

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("envs.json");
        std::fs::write(&f, r#"{"environments":{"production":"^master-"}}"#).unwrap();
        assert_eq!(
            environments("master-x", &read_routes_file(&f).unwrap()),
            ["production"]
        );

        let l = oci_labels(&LabelInputs {
            commit: SHA,
            tag: "master-42bd534f",
            source: Some("https://github.com/o/r"),
            created: Some(0),
        });
        assert_eq!(
            l["org.opencontainers.image.created"],
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(l["org.opencontainers.image.revision"], SHA);
        assert_eq!(
            l["org.opencontainers.image.source"],
            "https://github.com/o/r"
        );
        assert_eq!(l["org.opencontainers.image.version"], "master-42bd534f");
        assert_eq!(l["org.opencontainers.image.ref.name"], "master-42bd534f");
    }

    fn any_branch() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[a-zA-Z0-9/#._ -]{0,300}",
            "[-./]{0,5}[a-z]{0,200}",
            proptest::collection::vec(any::<char>(), 0..400).prop_map(|v| v.into_iter().collect()),
        ]
    }

    fn any_commit() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9a-f]{40}",
            "[0-9a-f]{64}",
            any::<String>(),
            Just(String::new())
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        #[test]
        fn tag_is_always_valid_and_never_empty(b in any_branch(), c in any_commit(), len in 0usize..80, lower: bool) {
            let t = make_tag(&b, &c, TagOptions { sha_length: len, lowercase: lower });
            let re = Regex::new(TAG_PATTERN).unwrap();
            prop_assert!(re.is_match(&t), "{:?}", t);
            prop_assert!(!t.is_empty() && t.len() <= 128);
            prop_assert!(!t.starts_with('-') && !t.starts_with('.'));
            if lower { prop_assert!(!t.chars().any(|c| c.is_ascii_uppercase()), "{:?}", t); }
        }

        #[test]
        fn the_commit_is_kept_whole_whatever_the_branch(b in any_branch(), c in "[0-9a-f]{40}", len in 1usize..41) {
            let t = make_tag(&b, &c, TagOptions { sha_length: len, lowercase: false });
            let short = &c[..len];
            prop_assert!(t.ends_with(short), "{:?} does not end with {:?}", t, short);
            let dashed = format!("-{}", short);
            prop_assert!(t == short || t.ends_with(&dashed));
        }

        #[test]
        fn valid_branches_are_kept(b in "[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,60}[a-zA-Z0-9_]", c in "[0-9a-f]{40}") {
            let t = make_tag(&b, &c, TagOptions::default());
            prop_assert_eq!(t, format!("{}-{}", b, &c[..8]));
        }

        #[test]
        fn sanitising_is_idempotent(b in any_branch()) {
            let once = sanitize(&b, false);
            prop_assert_eq!(sanitize(&once, false), once.clone());
        }

        #[test]
        fn deterministic(b in any_branch(), c in any_commit()) {
            prop_assert_eq!(make_tag(&b, &c, TagOptions::default()), make_tag(&b, &c, TagOptions::default()));
        }
    }
}
