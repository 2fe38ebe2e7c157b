//! Finding a Python for the interop tests that need one (included with `#[path]`).

use std::process::Command;

/// An interpreter that can import `modules`, or `None` (after printing SKIPPED) when there is
/// none and `CI` is not set.
pub fn python_with(modules: &str) -> Option<String> {
    let candidates: Vec<String> = std::env::var("EEOPS_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .into_iter()
        .chain(["python3".to_owned()])
        .collect();
    for python in &candidates {
        let ok = Command::new(python)
            .args(["-c", &format!("import {modules}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python.clone());
        }
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "no Python with {modules} ({candidates:?}), and CI is set: the interop test cannot be skipped"
    );
    println!("SKIPPED: no Python with {modules} (tried {candidates:?}; set EEOPS_PYTHON)");
    None
}
