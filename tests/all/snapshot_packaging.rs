//! The snapshot packaging (action, reusable workflow, GitLab component, Azure template):
//! values reach scripts through the environment only, every action input is mapped, the
//! token is never on a command line, and the generated workflow copy matches its source.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &str) -> String {
    std::fs::read_to_string(root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// The text of every script value (`run:`, `bash:`, `script:`), inline or block.
fn scripts(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let t = l.trim_start();
        let key = ["- run:", "run:", "- bash:", "bash:", "script:"]
            .iter()
            .find(|k| t.starts_with(*k));
        let Some(k) = key else {
            i += 1;
            continue;
        };
        let indent = l.len() - t.len() + if k.starts_with('-') { 2 } else { 0 };
        let mut block = t[k.len()..].to_string();
        i += 1;
        while i < lines.len() {
            let n = lines[i];
            if !n.trim().is_empty() && n.len() - n.trim_start().len() <= indent {
                break;
            }
            block.push('\n');
            block.push_str(n);
            i += 1;
        }
        out.push(block);
    }
    out
}

const FILES: &[&str] = &[
    "actions/snapshot/action.yml",
    "workflows/cadkit-snapshot.yml",
    "templates/snapshot.yml",
    "azure/snapshot.yml",
];

#[test]
fn scripts_never_expand_inputs_and_never_take_the_token_as_an_argument() {
    let mut n = 0;
    for f in FILES {
        let text = read(f);
        for s in scripts(&text) {
            n += 1;
            assert!(
                !s.contains("${{") && !s.contains("$[[") && !s.contains("$(${{"),
                "{f}: an expression inside a script:\n{s}"
            );
            assert!(!s.contains("--git.token"), "{f}: token option in a script");
            assert!(
                !s.contains("$CADKIT_GIT_TOKEN"),
                "{f}: token on a command line"
            );
        }
    }
    assert!(n >= 4, "only {n} scripts found");
}

#[test]
fn every_action_input_is_mapped_through_env() {
    let text = read("actions/snapshot/action.yml");
    let inputs = text
        .split("\ninputs:\n")
        .nth(1)
        .unwrap()
        .split("\noutputs:\n")
        .next()
        .unwrap();
    let mut n = 0;
    for line in inputs.lines() {
        if line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':') {
            let name = line.trim().trim_end_matches(':');
            n += 1;
            assert!(
                text.contains(&format!(": ${{{{ inputs.{name} }}}}")),
                "input {name} is not mapped to an environment variable"
            );
        }
    }
    assert!(n >= 10);
}

#[test]
fn templates_pass_the_token_and_schedule_as_documented() {
    let gitlab = read("templates/snapshot.yml");
    assert!(gitlab.starts_with("# GitLab CI/CD component"));
    assert!(gitlab.contains("\nspec:\n  inputs:\n") && gitlab.contains("\n---\n"));
    assert!(gitlab.contains(r#"$CI_PIPELINE_SOURCE == "schedule""#));
    assert!(gitlab.contains("CADKIT_GIT_TOKEN_ENV: $[[ inputs.token-variable ]]"));
    let azure = read("azure/snapshot.yml");
    assert!(azure.contains("#   schedules:\n#     - cron:"));
    assert!(azure.contains("CADKIT_GIT_TOKEN: $(${{ parameters.tokenVariable }})"));
    // Azure renders booleans as True/False; the CLI wants true/false.
    assert!(azure.contains("CADKIT_DRY_RUN: ${{ lower(parameters.dryRun) }}"));
    assert!(azure.contains("CADKIT_GIT_CREATE_BRANCH: ${{ lower(parameters.createBranch) }}"));
    let workflow = read("workflows/cadkit-snapshot.yml");
    assert!(workflow.contains("  workflow_call:\n"));
    assert!(workflow.contains("#     schedule:\n#       - cron:"));
}

#[test]
fn generated_workflow_copy_matches_its_source() {
    let src = read("workflows/cadkit-snapshot.yml");
    let copy = read(".github/workflows/cadkit-snapshot.yml");
    assert_eq!(
        copy,
        format!(
            "# GENERATED from workflows/cadkit-snapshot.yml by scripts/sync-workflows: edit the source, not this copy.\n{src}"
        ),
        "run scripts/sync-workflows (or copy workflows/cadkit-snapshot.yml with its header)"
    );
    assert!(Path::new(&root().join("actions/snapshot/action.yml")).is_file());
}
