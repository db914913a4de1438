//! Builds one module per Raft mutant: the reference `raft/src/raft.rs` with
//! `labs/mutants/<name>.patch` applied. The patches are plain unified diffs; each hunk is applied
//! by finding its old text. Only the patches that change `raft/src/raft.rs` and nothing else are
//! Raft mutants; the others (the KV service's, labs 3A/3B) are skipped.
//!
//! `checker/mutants/extra/*.patch` are built the same way, for the checker's tests only: they are
//! listed in `EXTRA`, not in the graded catalog (`CATALOG`, which `labs mutants` grades).

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.join("../..");
    let raft_rs = root.join("raft/src/raft.rs");
    let mutants_dir = root.join("labs/mutants");
    let extra_dir = manifest.join("extra");
    let checker_only_dir = root.join("labs/mutants/checker-only");
    println!("cargo:rerun-if-changed={}", raft_rs.display());
    println!("cargo:rerun-if-changed={}", mutants_dir.display());
    println!("cargo:rerun-if-changed={}", extra_dir.display());
    println!("cargo:rerun-if-changed={}", checker_only_dir.display());
    let source = std::fs::read_to_string(&raft_rs).expect("read raft/src/raft.rs");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));

    let patches_in = |dir: &PathBuf| {
        let mut patches: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "patch"))
            .collect();
        patches.sort();
        patches
    };
    let catalogued = patches_in(&mutants_dir);
    let mut extra = patches_in(&extra_dir);
    if checker_only_dir.is_dir() {
        extra.extend(patches_in(&checker_only_dir));
    }

    let mut modules = String::new();
    let mut catalog = String::from(
        "/// Every Raft mutant: (name, lab, what it breaks).\npub const CATALOG: &[(&str, &str, &str)] = &[\n",
    );
    let mut dispatch = String::from(
        "/// `checker check` (its flags in `args`, e.g. `--preset figure8`) on the mutant `name`: its exit\n\
         /// code, or `None` for no such Raft mutant.\n\
         pub fn check_mutant(name: &str, args: &checker::model::cli::CheckArgs, out: &mut dyn std::io::Write) -> Option<u8> {\n    match name {\n",
    );
    let mut extras = String::from(
        "/// The mutants for the checker's tests only (checker/mutants/extra/): (name, lab, what it breaks).\npub const EXTRA: &[(&str, &str, &str)] = &[\n",
    );
    for patch in catalogued.iter().chain(&extra) {
        println!("cargo:rerun-if-changed={}", patch.display());
        let name = patch.file_stem().unwrap().to_string_lossy().into_owned();
        let module = name.replace('-', "_");
        let text = std::fs::read_to_string(patch).expect("read patch");
        if changed_files(&text) != ["raft/src/raft.rs"] {
            continue;
        }
        let (lab, what) = header(&text);
        let patched = apply(&source, &text).unwrap_or_else(|e| panic!("{}: {e}", patch.display()));
        let file = out_dir.join(format!("{module}.rs"));
        std::fs::write(&file, patched).expect("write mutant");
        let _ = writeln!(
            modules,
            "#[path = {:?}]\n#[allow(dead_code, unused, clippy::all, clippy::pedantic)]\npub mod {module};",
            file.display().to_string()
        );
        let _ = writeln!(
            dispatch,
            "        {name:?} => Some(checker::model::cli::check_command::<{module}::Raft>(args, {name:?}, out, false)),"
        );
        let list = if extra.contains(patch) {
            &mut extras
        } else {
            &mut catalog
        };
        let _ = writeln!(list, "    ({name:?}, {lab:?}, {what:?}),");
    }
    catalog.push_str("];\n");
    extras.push_str("];\n");
    dispatch.push_str("        _ => None,\n    }\n}\n");
    std::fs::write(
        out_dir.join("mutants.rs"),
        modules + &catalog + &extras + &dispatch,
    )
    .expect("write mutants.rs");
}

/// The files a patch changes: its `+++ b/PATH` lines.
fn changed_files(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("+++ b/"))
        .map(str::trim_end)
        .collect()
}

/// `Mutant NAME (lab 2A): what it does.` on the first line.
fn header(text: &str) -> (String, String) {
    let first = text.lines().next().unwrap_or_default();
    let lab = first
        .split("(lab ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or("?")
        .to_string();
    let what = first
        .split("): ")
        .nth(1)
        .unwrap_or(first)
        .trim_end_matches('.')
        .to_string();
    (lab, what)
}

/// Apply every hunk of a unified diff to `source` by exact search for its old lines.
fn apply(source: &str, diff: &str) -> Result<String, String> {
    let mut result = source.to_string();
    let mut lines = diff.lines().peekable();
    while let Some(line) = lines.next() {
        if !line.starts_with("@@") {
            continue;
        }
        let (mut old, mut new) = (Vec::new(), Vec::new());
        while let Some(l) = lines.peek() {
            if l.starts_with("@@") || l.starts_with("diff ") {
                break;
            }
            let l = lines.next().unwrap();
            match l.chars().next() {
                Some('-') => old.push(&l[1..]),
                Some('+') => new.push(&l[1..]),
                Some(' ') => {
                    old.push(&l[1..]);
                    new.push(&l[1..]);
                }
                None => {
                    old.push("");
                    new.push("");
                }
                _ => {} // "\ No newline at end of file"
            }
        }
        let old = old.join("\n");
        let new = new.join("\n");
        match result.matches(&old).count() {
            1 => result = result.replacen(&old, &new, 1),
            0 => return Err(format!("hunk does not apply:\n{old}")),
            _ => return Err(format!("hunk matches more than once:\n{old}")),
        }
    }
    Ok(result)
}
