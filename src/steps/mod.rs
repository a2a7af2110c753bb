//! The product, one module per CI step: each takes a request struct and the step's CI
//! [`Outputs`](crate::ci::Outputs), and returns a typed report (`Serialize` +
//! `JsonSchema`, camelCase). The command line (`crate::cli`) only turns arguments into a
//! request and hands the report to the one output path
//! ([`Outputs::finish_report`](crate::ci::Outputs::finish_report)); the demo calls the
//! same functions.
//!
//! Steps: [`build`] (`buildCodeAsData`, on [`crate::build`]), [`bundle`], [`clean`]
//! (`cleanCodeAsData`), [`image`] (on [`crate::image`]), [`tag`], [`registry_auth`],
//! [`webhook`], and the toolkit's [`update`], [`install`] and [`snapshot`], which take the
//! environment chosen by the user ([`crate::env::Selection`]) in their request and run on
//! [`crate::env`], [`crate::update`] and [`crate::snapshot`]. The toolkit's environment
//! commands (`maintenance`, `statsDB`, `snapshotUsers`, …) are one step, [`envcmd`], with a
//! report type per command (embedded or orchestrator shaped). The JSON
//! Schemas of every report (envelope included) are in [`schema`] and committed under
//! `schema/`.

pub mod build;
pub mod bundle;
pub mod clean;
pub mod envcmd;
pub mod image;
pub mod install;
pub mod registry_auth;
pub mod schema;
pub mod snapshot;
pub mod tag;
pub mod update;
pub mod webhook;

/// Register a user password (`install`'s admin password, `updateUser`'s) as a secret, so
/// no report or log shows it. No `::add-mask::` line: the line itself would show the
/// password in raw logs, and CI secrets are masked by the runner already. The toolkit's
/// default [`DEFAULT_USER_PASSWORD`](crate::env::DEFAULT_USER_PASSWORD) is no secret, and
/// redacting it would garble every `admin` user name in the report.
fn register_user_password(password: &str) {
    if password != crate::env::DEFAULT_USER_PASSWORD {
        crate::ci::register_secret(password);
    }
}
