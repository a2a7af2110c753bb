//! The orchestrator's HTTP surface under `/OlympeServer/`.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};

/// Base path of every endpoint (`http://<host>:<port>/OlympeServer/`).
pub const BASE_PATH: &str = "/OlympeServer/";
/// `GET`, no auth: `{"sv": <server version>, "role": …}`.
pub const VERSION_PATH: &str = "rest/version";
/// `GET`, no auth: data-model versions (`draw_version`, …).
pub const DATABASE_PATH: &str = "rest/database";
/// `GET`/`PUT rest/filesvc/patch/<encodeURIComponent(path)>?backup=<bool>`.
pub const PATCH_FILE_PATH: &str = "rest/filesvc/patch";
/// `GET rest/filesvc/<fileTag>` (token): the binary content of a File instance, as the
/// runtime's file service (`urls.FileSvc`) serves it to the toolkit's snapshooter.
pub const FILE_SVC_PATH: &str = "rest/filesvc";
/// The file service while in maintenance (the snapshooter's `urls.FileSvc` then).
pub const FILE_SVC_MAINTENANCE_PATH: &str = "rest/filesvc/maintenance";
/// `POST`: graphDef query, NDJSON operations in reply.
pub const GRAPHDEF_PATH: &str = "rest/querysvc/graphDef";
/// `POST`: graphDef while in maintenance.
pub const GRAPHDEF_MAINTENANCE_PATH: &str = "rest/querysvc/graphDef/maintenance";
/// `OPTIONS` probe answering 2xx once maintenance is ON (the maintenance gateway is up).
pub const MAINTENANCE_PROBE_PATH: &str = "maintenance/";
/// The header carrying the raw token of `createToken` (no scheme).
pub const TOKEN_HEADER: &str = "Authorization";
/// graphDef answers 503 when overloaded: the client retries.
pub const OVERLOADED_STATUS: u16 = 503;
/// Retries of an overloaded graphDef (wait 1 s + random·1 s·attempt).
pub const OVERLOADED_RETRIES: u32 = 5;
/// Delays (ms) of the maintenance probe after a maintenance switch, then failure.
pub const MAINTENANCE_WAIT_DELAYS_MS: [u64; 5] = [1000, 2000, 5000, 10000, 15000];

/// JavaScript's `encodeURIComponent`: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
pub const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// `http://<host>:<port>/OlympeServer/` (`https` iff port 443, like the toolkit).
pub fn base_url(host: &str, port: u16) -> String {
    let scheme = if port == 443 { "https" } else { "http" };
    format!("{scheme}://{host}:{port}{BASE_PATH}")
}

/// Path and query (after the base) of a file of the patches folder or of the backup area:
/// `rest/filesvc/patch/<encodeURIComponent(path)>?backup=<bool>`.
pub fn patch_file_path(path: &str, backup: bool) -> String {
    format!(
        "{PATCH_FILE_PATH}/{}?backup={backup}",
        utf8_percent_encode(path, URI_COMPONENT)
    )
}

/// Path (after the base) of a File instance's content for the current mode.
pub fn file_content_path(tag: &str, maintenance: bool) -> String {
    let svc = if maintenance {
        FILE_SVC_MAINTENANCE_PATH
    } else {
        FILE_SVC_PATH
    };
    format!("{svc}/{}", utf8_percent_encode(tag, URI_COMPONENT))
}

/// The graphDef path for the current mode.
pub fn graphdef_path(maintenance: bool) -> &'static str {
    if maintenance {
        GRAPHDEF_MAINTENANCE_PATH
    } else {
        GRAPHDEF_PATH
    }
}

/// The probe path (after the base) waited for after switching maintenance: `maintenance/`
/// after ON, the base itself after OFF.
pub fn maintenance_probe_path(maintenance: bool) -> &'static str {
    if maintenance {
        MAINTENANCE_PROBE_PATH
    } else {
        ""
    }
}

/// Whether an HTTP status means "overloaded, retry".
pub fn is_overloaded(status: u16) -> bool {
    status == OVERLOADED_STATUS
}

/// `GET rest/version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Server version, compared to [`super::MIN_ORCHESTRATOR_VERSION`].
    pub sv: String,
    /// `active`, `preview`, …: the routing-key suffix of `update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// Whether `actual` (`x.y.z`) is at least `minimal`, with the toolkit's comparison.
pub fn version_at_least(actual: &str, minimal: &str) -> bool {
    let parse = |s: &str| -> [u64; 3] {
        let mut out = [0; 3];
        for (i, p) in s.split('.').take(3).enumerate() {
            out[i] = p
                .trim_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .unwrap_or(0);
        }
        out
    };
    parse(actual) >= parse(minimal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_paths_encode_like_encode_uri_component() {
        assert_eq!(
            patch_file_path("users/a b.json", true),
            "rest/filesvc/patch/users%2Fa%20b.json?backup=true"
        );
        assert_eq!(
            patch_file_path("import_order.json", false),
            "rest/filesvc/patch/import_order.json?backup=false"
        );
        assert_eq!(
            utf8_percent_encode("a!~*'()-_.é&=?", URI_COMPONENT).to_string(),
            "a!~*'()-_.%C3%A9%26%3D%3F"
        );
    }

    #[test]
    fn base_and_modes() {
        assert_eq!(base_url("h", 8080), "http://h:8080/OlympeServer/");
        assert_eq!(base_url("h", 443), "https://h:443/OlympeServer/");
        assert_eq!(graphdef_path(true), "rest/querysvc/graphDef/maintenance");
        assert_eq!(graphdef_path(false), "rest/querysvc/graphDef");
        assert_eq!(maintenance_probe_path(true), "maintenance/");
        assert_eq!(maintenance_probe_path(false), "");
        assert!(is_overloaded(503) && !is_overloaded(500));
    }

    #[test]
    fn version_info_and_comparison() {
        let v: VersionInfo = serde_json::from_str(r#"{"sv":"7.4.1","role":"preview"}"#).unwrap();
        assert_eq!(v.role.as_deref(), Some("preview"));
        assert!(version_at_least(&v.sv, "7.4.0"));
        assert!(!version_at_least("7.3.9", "7.4.0"));
        assert!(version_at_least("10.0.0", "7.4.0"));
        assert_eq!(
            serde_json::to_string(&VersionInfo {
                sv: "7.4.0".into(),
                role: None
            })
            .unwrap(),
            r#"{"sv":"7.4.0"}"#
        );
    }
}
