//! One deployment: fetch (image pull or an already checked bundle), verify, unpack,
//! validate, then converge the environment through [`converge`].
//!
//! Nothing touches the environment before every patch file validated; the update itself
//! is one transaction (all or nothing, modes restored), so an environment is never mixed.

use super::config::UpdateSettings;
use super::records::{Outcome, Status};
use crate::bundle::{self, unpack::unpack_layer, DistError, Limits};
use crate::env::{Environment, SqliteEnv, UpdateOutcome};
use crate::image::oci::{DOCKER_LIST, OCI_INDEX};
use crate::image::registry::{Credentials, Registry};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Test hook (feature `fault-injection` only): a file path; deployments wait before
/// converging while it exists (so tests
/// can observe a running deployment: 204, 409).
pub const TEST_GATE_ENV: &str = "CADKIT_RECEIVER_TEST_GATE";

/// What to deploy.
#[derive(Debug, Clone)]
pub enum Job {
    /// A pushed image, pulled from the environment's configured registry.
    Image {
        /// The registry host (from the environment's config, never from the notification).
        registry: String,
        /// The repository pushed to.
        repository: String,
        /// The tag pushed.
        tag: String,
        /// Expected manifest digest (from the notification), checked after the pull.
        digest: Option<String>,
        /// Folder of the patches inside the image.
        image_path: String,
    },
    /// A bundle already unpacked and validated: its `codeAsData` folder.
    Dist(PathBuf),
    /// Converge to an empty desired state.
    Undeploy,
}

/// Everything a deployment needs besides the job.
#[derive(Debug, Clone)]
pub struct DeployContext {
    /// The environment's name in the receiver's config.
    pub environment: String,
    /// The environment's location, as `cadkit update` takes it.
    pub env_path: PathBuf,
    /// How `update` converges the environment (the environment's config).
    pub settings: UpdateSettings,
    /// Docker config folder with the credentials for pulling images, if any.
    pub docker_config: Option<PathBuf>,
    /// Caps on what a pulled image or bundle may unpack to.
    pub limits: Limits,
    /// A fresh folder of this deployment (removed afterwards by the caller).
    pub scratch: PathBuf,
}

/// Per-stage durations, in milliseconds.
#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stages {
    /// Registry client, manifest and blob downloads.
    pub pull_ms: u64,
    /// Manifest digest checks.
    pub verify_ms: u64,
    /// Layer extraction.
    pub unpack_ms: u64,
    /// Patch validation.
    pub validate_ms: u64,
    /// The update itself.
    pub update_ms: u64,
}

fn ms(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

/// Converge an environment to a built folder with its `update` (planned, all or nothing,
/// modes restored), through the one environment boundary. The one place the receiver
/// reaches the environment.
pub fn converge(env: &Path, dist: &Path, settings: &UpdateSettings) -> Result<UpdateOutcome> {
    let mut o = crate::env::UpdateSpec::new(dist);
    o.use_change_log = false;
    o.no_downtime = settings.no_downtime;
    o.exclude = crate::update::exclude::ExcludeConfig {
        exclude_tags: settings.exclude_tags.iter().cloned().collect(),
        include_tags: settings.include_tags.iter().cloned().collect(),
    };
    if let Some(p) = settings.policies()? {
        o.detect_drift = true;
        o.drift_policies = p;
    }
    SqliteEnv::open(env)?.update(&o)
}

/// Run a job to its outcome; `already` says whether a digest is what the environment
/// holds (a recorded no-op then). Never panics on bad input: every failure is an outcome.
pub fn run(ctx: &DeployContext, job: &Job, already: &dyn Fn(&str) -> bool) -> Outcome {
    let mut stages = Stages::default();
    let mut digest = None;
    let result = run_inner(ctx, job, already, &mut stages, &mut digest);
    let stages_v = serde_json::to_value(&stages).ok();
    match result {
        Ok(Some(plan)) => Outcome {
            status: Status::Succeeded,
            error: None,
            files_error: None,
            plan: Some(plan),
            stages: stages_v,
            digest,
        },
        Ok(None) => Outcome {
            status: Status::Noop,
            error: None,
            files_error: None,
            plan: None,
            stages: stages_v,
            digest,
        },
        Err(e) => {
            let files_error = e.downcast_ref::<DistError>().and_then(|d| match d {
                DistError::Files(m) => serde_json::to_value(m).ok(),
                DistError::Layout(_) => None,
            });
            Outcome {
                status: Status::Failed,
                error: Some(crate::ci::redact(&format!("{e:#}"))),
                files_error,
                plan: None,
                stages: stages_v,
                digest,
            }
        }
    }
}

fn run_inner(
    ctx: &DeployContext,
    job: &Job,
    already: &dyn Fn(&str) -> bool,
    stages: &mut Stages,
    digest_out: &mut Option<String>,
) -> Result<Option<Value>> {
    let dist = match job {
        Job::Image {
            registry,
            repository,
            tag,
            digest,
            image_path,
        } => {
            let d = ctx.scratch.join("codeAsData");
            std::fs::create_dir_all(&d)?;
            let got = pull(
                ctx,
                registry,
                repository,
                tag,
                digest.as_deref(),
                image_path,
                &d,
                stages,
            )?;
            *digest_out = Some(got.clone());
            if already(&got) {
                tracing::info!("{}: {got} is already deployed (no-op)", ctx.environment);
                return Ok(None);
            }
            let t = Instant::now();
            bundle::validate_dist(&d)?;
            stages.validate_ms = ms(t);
            d
        }
        Job::Dist(d) => d.clone(),
        Job::Undeploy => {
            let d = ctx.scratch.join("empty");
            std::fs::create_dir_all(&d)?;
            std::fs::write(d.join("import_order.json"), "[]")?;
            d
        }
    };
    #[cfg(feature = "fault-injection")]
    if let Some(gate) = std::env::var_os(TEST_GATE_ENV) {
        // Test hook: hold the deployment (active) while the gate file exists.
        while Path::new(&gate).exists() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    let t = Instant::now();
    let report = converge(&ctx.env_path, &dist, &ctx.settings)
        .with_context(|| format!("cannot converge environment {}", ctx.environment))?;
    stages.update_ms = ms(t);
    let plan = report.plan();
    Ok(Some(json!({
        "applied": report.applied(),
        "mode": report.mode(),
        "totals": plan.totals,
        "comparedRoots": plan.compared_roots,
        "excludedRoots": plan.excluded_roots,
        "durationMs": report.duration_ms(),
    })))
}

/// Pull the image by digest (or resolve the tag) from the configured registry, verify the
/// manifest digest, and unpack the patches folder of its layers into `dest`.
#[allow(clippy::too_many_arguments)]
fn pull(
    ctx: &DeployContext,
    registry: &str,
    repository: &str,
    tag: &str,
    expected: Option<&str>,
    image_path: &str,
    dest: &Path,
    stages: &mut Stages,
) -> Result<String> {
    let t = Instant::now();
    let (born, mut reg) = take_client(&ctx.docker_config)?;
    tracing::debug!("registry client ready in {} ms", ms(t));
    stages.pull_ms += ms(t);
    let digest = pull_with(
        &mut reg, registry, repository, tag, expected, image_path, dest, ctx, stages,
    )?;
    give_back(born, &ctx.docker_config, reg);
    Ok(digest)
}

/// Registry clients kept between deployments (building one loads the TLS roots, which
/// costs more than a small pull). A client is reused for [`CLIENT_TTL`] at most, so
/// rotated credentials in `config.json` are read again. A static: the clients own a
/// runtime, which must never be dropped inside the server's async context.
static POOL: OnceLock<Mutex<Vec<Pooled>>> = OnceLock::new();
const CLIENT_TTL: Duration = Duration::from_secs(60);
type Pooled = (Instant, Option<PathBuf>, Registry);

fn take_client(docker_config: &Option<PathBuf>) -> Result<(Instant, Registry)> {
    let pool = POOL.get_or_init(|| Mutex::new(Vec::new()));
    {
        let mut p = pool.lock().unwrap_or_else(|e| e.into_inner());
        p.retain(|(born, _, _)| born.elapsed() < CLIENT_TTL);
        if let Some(i) = p.iter().position(|(_, d, _)| d == docker_config) {
            let (born, _, reg) = p.swap_remove(i);
            return Ok((born, reg));
        }
    }
    let mut reg = Registry::new(
        Credentials {
            username: None,
            password: None,
            docker_config: docker_config.clone(),
        },
        None,
        false,
    )?;
    reg.retries = 2;
    Ok((Instant::now(), reg))
}

/// Build the registry clients of the configured registries ahead of the first deployment
/// (TLS roots loaded, protocol chosen, credentials checked once). Errors are only logged:
/// a registry down now may be up at deployment time.
pub fn prewarm(docker_config: Option<PathBuf>, registries: Vec<String>) {
    let Ok((born, mut reg)) = take_client(&docker_config) else {
        return;
    };
    for host in registries {
        if let Ok(r) = reg.parse(&format!("{host}/cadkit/prewarm")) {
            if let Err(e) = reg.login(&r) {
                tracing::debug!("registry {host} not ready yet: {e:#}");
            }
        }
    }
    give_back(born, &docker_config, reg);
}

fn give_back(born: Instant, docker_config: &Option<PathBuf>, reg: Registry) {
    if born.elapsed() < CLIENT_TTL {
        if let Some(pool) = POOL.get() {
            pool.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((born, docker_config.clone(), reg));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn pull_with(
    reg: &mut Registry,
    registry: &str,
    repository: &str,
    tag: &str,
    expected: Option<&str>,
    image_path: &str,
    dest: &Path,
    ctx: &DeployContext,
    stages: &mut Stages,
) -> Result<String> {
    let t = Instant::now();
    let reference = match expected {
        Some(d) => format!("{registry}/{repository}@{d}"),
        None => format!("{registry}/{repository}:{tag}"),
    };
    let r = reg.parse(&reference)?;
    let (mut body, _) = reg
        .manifest(&r)
        .with_context(|| format!("cannot pull {reference}"))?;
    stages.pull_ms += ms(t);
    tracing::debug!("manifest of {reference} pulled after {} ms", ms(t));
    let t = Instant::now();
    let digest = crate::image::layer::digest_of(&body);
    if let Some(e) = expected {
        if e != digest {
            bail!("digest mismatch: the registry served {digest} for {reference} (expected {e}); nothing was deployed");
        }
    }
    let mut manifest: Value = serde_json::from_slice(&body).context("the manifest is not JSON")?;
    let mt = manifest["mediaType"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if mt == OCI_INDEX || mt == DOCKER_LIST || manifest.get("manifests").is_some() {
        let entries = manifest["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let pick = entries
            .iter()
            .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == "amd64")
            .or_else(|| entries.first())
            .ok_or_else(|| anyhow!("{reference}: the image index lists no manifest"))?;
        let d = pick["digest"].as_str().unwrap_or_default().to_string();
        let r2 = reg.parse(&format!("{registry}/{repository}@{d}"))?;
        let (b, _) = reg.manifest(&r2)?;
        if crate::image::layer::digest_of(&b) != d {
            bail!("digest mismatch: manifest {d} of {reference} does not match its content");
        }
        body = b;
        manifest = serde_json::from_slice(&body).context("the manifest is not JSON")?;
    }
    stages.verify_ms += ms(t);
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .ok_or_else(|| anyhow!("{reference}: the manifest has no layers"))?
        .iter()
        .filter_map(|l| l["digest"].as_str().map(String::from))
        .collect();
    for l in layers {
        let t = Instant::now();
        // `blob` checks the digest of what it downloaded.
        let blob = reg.blob(&r, &l)?;
        stages.pull_ms += ms(t);
        let t = Instant::now();
        unpack_layer(&blob, image_path, dest, &ctx.limits)
            .with_context(|| format!("layer {l} of {reference}"))?;
        stages.unpack_ms += ms(t);
    }
    Ok(digest)
}
