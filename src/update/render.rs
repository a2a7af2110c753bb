//! The plan as a table for a terminal.

use super::Plan;
use std::fmt::Write;

/// One row per root with changes, then the totals.
pub fn table(plan: &Plan) -> String {
    let mut rows: Vec<[String; 7]> = vec![[
        "ROOT".into(),
        "ACTION".into(),
        "+INST".into(),
        "~INST".into(),
        "-INST".into(),
        "+REL".into(),
        "-REL".into(),
    ]];
    for r in &plan.roots {
        rows.push([
            r.root.clone(),
            r.action.clone(),
            r.created_instances.len().to_string(),
            r.updated_instances.len().to_string(),
            r.deleted_instances.len().to_string(),
            r.created_relations.len().to_string(),
            r.deleted_relations.len().to_string(),
        ]);
    }
    let t = &plan.totals;
    rows.push([
        format!("total ({} roots)", t.roots),
        String::new(),
        t.created_instances.to_string(),
        t.updated_instances.to_string(),
        t.deleted_instances.to_string(),
        t.created_relations.to_string(),
        t.deleted_relations.to_string(),
    ]);
    let mut widths = [0usize; 7];
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (n, row) in rows.iter().enumerate() {
        if n == rows.len() - 1 {
            let total: usize = widths.iter().sum::<usize>() + 2 * 6;
            let _ = writeln!(out, "{}", "-".repeat(total));
        }
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i < 2 {
                let _ = write!(line, "{:<w$}  ", c, w = widths[i]);
            } else {
                let _ = write!(line, "{:>w$}  ", c, w = widths[i]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if plan.is_empty() {
        out.push_str("No changes: the environment matches the patches.\n");
    }
    if !plan.excluded_roots.is_empty() {
        let _ = writeln!(
            out,
            "{} excluded (instance-managed) roots left untouched.",
            plan.excluded_roots.len()
        );
    }
    out
}
