//! `labs handout`: the student repository has no solutions and no instructor-only files, its stubs
//! name the lab to implement, and it builds without warnings.

use std::path::Path;
use std::process::Command;

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("labs/ is in the workspace")
}

#[test]
fn the_handout_has_stubs_instead_of_solutions_and_builds_without_warnings() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("handout");
    let _ = std::fs::remove_dir_all(&out);
    let report = labs::handout::generate(workspace_root(), &out).expect("handout");
    for student_file in [
        "raft/src/raft.rs",
        "raft/src/messages.rs",
        "kvraft/src/server.rs",
    ] {
        assert!(
            report.stubbed.iter().any(|f| f == student_file),
            "{report:?}"
        );
    }
    for gone in [
        "labs/mutants",
        "checker/mutants",
        "GRADING.md",
        "raft/tests",
        "labs/src/grade",
        "labs/src/mutants.rs",
        "labs/src/bin/labs/instructor.rs",
        "labs/rubric.toml",
        "labs/gradescope",
        "labs/tests/grade.rs",
    ] {
        assert!(
            !out.join(gone).exists(),
            "{gone} must not be in the handout"
        );
    }
    // The stubs follow the rules the students' code is checked against.
    let policy = labs::student_code::load_policy(&out.join(labs::student_code::POLICY_FILE))
        .expect("the handout has the student-code policy");
    let findings = labs::student_code::check_tree(&out, &policy).expect("student files");
    assert!(
        findings.is_empty(),
        "{}",
        labs::student_code::render_findings(&findings)
    );
    let raft = std::fs::read_to_string(out.join("raft/src/raft.rs")).expect("raft.rs");
    assert!(!raft.contains("BEGIN SOLUTION") && !raft.contains("become_leader"));
    insta::assert_snapshot!("handout_raft_rs", raft);
    // The message and KV argument types keep their names, lose the reference's fields, and say
    // where the student's go.
    for (file, kept, gone) in [
        (
            "raft/src/messages.rs",
            "pub struct AppendEntriesArgs {",
            "pub leader_commit",
        ),
        (
            "kvraft/src/common.rs",
            "pub struct PutAppendArgs {",
            "pub seq",
        ),
    ] {
        let text = std::fs::read_to_string(out.join(file)).expect(file);
        assert!(
            text.contains(kept) && !text.contains(gone) && text.contains("// Your fields here"),
            "{file} in the handout:\n{text}"
        );
    }
    // The grader's subcommands are cut out of the CLI, not just their files.
    let cli = std::fs::read_to_string(out.join("labs/src/bin/labs/main.rs")).expect("main.rs");
    for gone in [
        "mod instructor",
        "instructor::",
        "INSTRUCTOR ONLY",
        "labs grade",
    ] {
        assert!(!cli.contains(gone), "{gone:?} in the handout's CLI:\n{cli}");
    }
    // Every registered lab reaches the student: its handout page, its suite, its stubbed files.
    for lab in labs::registry::LABS {
        for path in [lab.handout, &format!("tests/{}.rs", lab.suite)]
            .into_iter()
            .chain(lab.student_files.iter().copied())
        {
            assert!(out.join(path).is_file(), "{}: {path}", lab.id);
        }
    }

    // It compiles, every target included (`cargo test` builds examples too), without a single
    // warning. (A separate target directory: the handout is a different workspace.)
    let status = Command::new(env!("CARGO"))
        .current_dir(&out)
        .args(["check", "--workspace", "--all-targets", "--quiet"])
        .env("CARGO_TARGET_DIR", out.with_file_name("handout-target"))
        .env("RUSTFLAGS", "-D warnings")
        .status()
        .expect("run cargo check on the handout");
    assert!(status.success(), "the handout does not build cleanly");
}

/// What the docs of a tree (its README and every other Markdown page) name that the tree does
/// not have: files and folders, test targets, packages, examples, subcommands and flags of the
/// `labs` and `checker` CLIs, and `LAB_*` settings. One line per finding.
fn docs_name_what_is_missing(tree: &Path) -> Vec<String> {
    let mut pages = Vec::new();
    for entry in walk(tree) {
        if entry.ends_with(".md") {
            pages.push(entry);
        }
    }
    let sources = |dir: &str| -> String {
        walk(&tree.join(dir))
            .into_iter()
            .filter(|f| f.ends_with(".rs"))
            .map(|f| std::fs::read_to_string(tree.join(dir).join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let all_files = walk(tree);
    let manifests: String = all_files
        .iter()
        .filter(|f| f.ends_with("Cargo.toml"))
        .map(|f| std::fs::read_to_string(tree.join(f)).unwrap_or_default())
        .collect();
    let all_sources: String = [
        "labkit",
        "labs",
        "tests",
        "checker",
        "linearizability",
        "raft",
        "kvraft",
    ]
    .iter()
    .map(|d| sources(d))
    .collect();
    let mut missing = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(tree.join(page)).unwrap_or_default();
        let mut say = |what: String| missing.push(format!("{page}: {what}"));
        for span in code_spans(&text) {
            for word in span.split_whitespace() {
                let word = word.trim_matches(|c: char| ",;:()`'\"".contains(c));
                if looks_like_path(word) && !tree.join(word.trim_end_matches('/')).exists() {
                    say(format!("names `{word}`, which is not in the tree"));
                }
                if let Some((name, _)) = word.split_once('=')
                    && name.starts_with("LAB_")
                    && !all_sources.contains(&format!("\"{name}\""))
                {
                    say(format!("names the setting {name}, which no code reads"));
                }
            }
            let words: Vec<&str> = span.split_whitespace().collect();
            let cargo_args: &[&str] = match words.iter().position(|w| *w == "cargo") {
                Some(at) => &words[at + 1..],
                None => &[],
            };
            let (cargo_part, tool_part) = match cargo_args.iter().position(|w| *w == "--") {
                Some(at) => (&cargo_args[..at], &cargo_args[at + 1..]),
                None => (cargo_args, &[][..]),
            };
            let value_of = |flag: &str| -> Vec<&str> {
                cargo_part
                    .windows(2)
                    .filter(|w| w[0] == flag)
                    .map(|w| w[1])
                    .collect()
            };
            for test in value_of("--test") {
                if !all_files
                    .iter()
                    .any(|f| f.ends_with(&format!("tests/{test}.rs")))
                {
                    say(format!(
                        "runs `--test {test}`, which is not a test target here"
                    ));
                }
            }
            for example in value_of("--example") {
                if !all_files
                    .iter()
                    .any(|f| f.ends_with(&format!("examples/{example}.rs")))
                {
                    say(format!("runs `--example {example}`, which is not here"));
                }
            }
            let packages: Vec<&str> = value_of("-p");
            for package in &packages {
                if !manifests.contains(&format!("name = \"{package}\"")) {
                    say(format!("names the package `{package}`, which is not here"));
                }
            }
            // `cargo run -p labs -- SUB --flag` and `labs SUB` / `checker SUB` in prose.
            let mut tool_calls: Vec<(&str, &[&str])> = Vec::new();
            if cargo_part.first() == Some(&"run")
                && !cargo_part.contains(&"--example")
                && let Some(package) = packages.first()
            {
                tool_calls.push((package, tool_part));
            }
            if let [tool @ ("labs" | "checker"), rest @ ..] = words.as_slice()
                && words.len() > 1
            {
                tool_calls.push((tool, rest));
            }
            for (tool, args) in tool_calls {
                if tool != "labs" && tool != "checker" {
                    continue;
                }
                let cli = sources(&format!("{tool}/src"));
                if let Some(sub) = args.first().filter(|a| !a.starts_with('-')) {
                    let variant = format!("{}{}", sub[..1].to_uppercase(), &sub[1..]);
                    if !sub.chars().all(|c| c.is_ascii_lowercase())
                        || !cli.contains(&format!("    {variant}"))
                    {
                        say(format!(
                            "runs `{tool} {sub}`, which this {tool} CLI does not have"
                        ));
                    }
                }
                for flag in args.iter().filter_map(|a| a.strip_prefix("--")) {
                    let flag = flag.split('=').next().unwrap_or(flag);
                    let field = flag.replace('-', "_");
                    if flag != "help"
                        && !cli.contains(&format!(" {field}:"))
                        && !cli.contains(&format!("\"{flag}\""))
                    {
                        say(format!(
                            "gives `{tool}` the flag --{flag}, which it does not have"
                        ));
                    }
                }
            }
        }
    }
    missing
}

/// Every file under `root` (relative, `/`-separated), outside `target/` and hidden folders.
fn walk(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    dirs.push(path);
                }
            } else if let Ok(rel) = path.strip_prefix(root) {
                files.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    files.sort();
    files
}

/// The code in a Markdown page: each line of a fenced block (up to a `#` comment), and each
/// inline `code` span.
fn code_spans(text: &str) -> Vec<String> {
    let mut spans = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            let code = line.split(" #").next().unwrap_or(line);
            spans.push(code.to_string());
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(code), Some(_)) = (parts.next(), parts.next()) {
            spans.push(code.to_string());
        }
        // An odd last part (an unclosed span) is not code.
    }
    spans
}

/// A word that names a file or folder of the tree: a relative path with a known top-level folder
/// or a root Markdown page, not generated output (`target/`), a pattern or an elision.
fn looks_like_path(word: &str) -> bool {
    const TOP: &[&str] = &[
        "raft/",
        "kvraft/",
        "labkit/",
        "labs/",
        "checker/",
        "linearizability/",
        "tests/",
        "docs/",
        ".ci/",
    ];
    let plain = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c));
    let root_page = !word.contains('/')
        && word.ends_with(".md")
        && word[..1].chars().all(|c| c.is_ascii_uppercase());
    plain && !word.contains("...") && (TOP.iter().any(|t| word.starts_with(t)) || root_page)
}

/// The handout's README and lab pages name only files, tests, packages, subcommands, flags and
/// settings the handout has: nothing of the grader, the rubric, the mutants or the benchmarks.
#[test]
fn the_handouts_docs_name_only_what_the_handout_has() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("handout-docs");
    let _ = std::fs::remove_dir_all(&out);
    labs::handout::generate(workspace_root(), &out).expect("handout");
    let readme = std::fs::read_to_string(out.join("README.md")).expect("README.md");
    for gone in [
        "INSTRUCTOR ONLY",
        "## For instructors",
        "GRADING.md",
        "rubric",
    ] {
        assert!(!readme.contains(gone), "{gone:?} in the handout's README");
    }
    let missing = docs_name_what_is_missing(&out);
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// The instructor's own tree passes the same check (its docs name its own files), and the check
/// sees each kind of name that does not exist.
#[test]
fn the_docs_check_finds_names_that_do_not_exist() {
    let missing = docs_name_what_is_missing(workspace_root());
    assert!(missing.is_empty(), "{}", missing.join("\n"));

    let tree = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs-check");
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(tree.join("labs/src")).unwrap();
    std::fs::create_dir_all(tree.join("tests")).unwrap();
    std::fs::write(tree.join("tests/lab2a.rs"), "").unwrap();
    std::fs::write(
        tree.join("labs/src/main.rs"),
        "enum Commands {\n    Run(RunArgs),\n}\nstruct RunArgs {\n    seeds: u64,\n}\nconst S: &str = \"LAB_SEEDS\";\n",
    )
    .unwrap();
    std::fs::write(tree.join("Cargo.toml"), "name = \"labs\"\n").unwrap();
    std::fs::write(
        tree.join("README.md"),
        "Fine: `tests/lab2a.rs`, `LAB_SEEDS=5 cargo test --release --test lab2a`, \
         `cargo run -p labs -- run --seeds 3`.\n\n```sh\ncargo test --test lab2z   # a comment\n\
         cargo run -p labs -- grade --out x\ncargo run -p nothere\n```\n\n\
         See `GRADING.md`, `labs/rubric.toml`, `labs run --jobs 2`, `LAB_VIZ=1`.\n",
    )
    .unwrap();
    let missing = docs_name_what_is_missing(&tree).join("\n");
    for expected in [
        "`--test lab2z`",
        "`labs grade`",
        "--out",
        "`nothere`",
        "`GRADING.md`",
        "`labs/rubric.toml`",
        "--jobs",
        "LAB_VIZ",
    ] {
        assert!(
            missing.contains(expected),
            "{expected} not found in:\n{missing}"
        );
    }
    for fine in ["lab2a`", "--seeds", "LAB_SEEDS", "`labs run`"] {
        assert!(
            !missing.contains(fine),
            "{fine} wrongly reported:\n{missing}"
        );
    }
}

/// The student's types: in a handout they are stubs (`todo!`), so test code that builds one fails
/// there. Such tests check the reference and belong in instructor-only regions.
const STUDENT_TYPES: &[&str] = &["Raft", "KvServer", "Clerk"];

/// Where test code outside the lab suites names a student's type: `file: test` per finding. Test
/// code is every `#[test]` function and `#[cfg(test)]` item, and the whole of each crate's
/// `tests/*.rs` (the workspace's own `tests/` holds the lab suites, skipped, and the harness, whose
/// non-test code drives the student's Raft by design).
fn tests_naming_student_types(tree: &Path) -> Vec<String> {
    use syn::visit::Visit;

    struct Finder<'a> {
        file: &'a str,
        /// The test item being read, if any.
        test: Option<String>,
        found: Vec<String>,
    }
    impl Finder<'_> {
        fn note(&mut self, name: &str) {
            if let Some(test) = &self.test
                && STUDENT_TYPES.contains(&name)
            {
                let finding = format!("{}: {test} names `{name}`", self.file);
                if !self.found.contains(&finding) {
                    self.found.push(finding);
                }
            }
        }
        fn tokens(&mut self, tokens: proc_macro2::TokenStream) {
            for token in tokens {
                match token {
                    proc_macro2::TokenTree::Ident(ident) => self.note(&ident.to_string()),
                    proc_macro2::TokenTree::Group(group) => self.tokens(group.stream()),
                    _ => {}
                }
            }
        }
        fn within(&mut self, is_test: bool, name: String, visit: impl FnOnce(&mut Self)) {
            if is_test && self.test.is_none() {
                self.test = Some(name);
                visit(self);
                self.test = None;
            } else {
                visit(self);
            }
        }
    }
    fn is_test(attrs: &[syn::Attribute]) -> bool {
        attrs.iter().any(|a| {
            let path = a.path();
            path.segments.last().is_some_and(|s| s.ident == "test")
                || (path.is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test"))
        })
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
            let name = format!("fn {}", item.sig.ident);
            self.within(is_test(&item.attrs), name, |f| {
                syn::visit::visit_item_fn(f, item)
            });
        }
        fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
            let name = format!("mod {}", item.ident);
            self.within(is_test(&item.attrs), name, |f| {
                syn::visit::visit_item_mod(f, item)
            });
        }
        fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
            let name = format!("fn {}", item.sig.ident);
            self.within(is_test(&item.attrs), name, |f| {
                syn::visit::visit_impl_item_fn(f, item)
            });
        }
        fn visit_ident(&mut self, ident: &'ast syn::Ident) {
            self.note(&ident.to_string());
        }
        fn visit_macro(&mut self, mac: &'ast syn::Macro) {
            syn::visit::visit_macro(self, mac);
            self.tokens(mac.tokens.clone());
        }
    }

    let mut found = Vec::new();
    for file in walk(tree).into_iter().filter(|f| f.ends_with(".rs")) {
        let parts: Vec<&str> = file.split('/').collect();
        // `<crate>/tests/...`: integration tests and their support modules.
        let crate_tests = parts.len() >= 3 && parts[1] == "tests";
        // `tests/<name>.rs` beside the lab suites (a framework test such as tests/viz.rs).
        let workspace_test = parts.len() == 2
            && parts[0] == "tests"
            && !labs::registry::LABS
                .iter()
                .any(|lab| file == format!("tests/{}.rs", lab.suite));
        let text = std::fs::read_to_string(tree.join(&file)).expect("read a source file");
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut finder = Finder {
            file: &file,
            test: (crate_tests || workspace_test).then(|| "the test file".to_string()),
            found: Vec::new(),
        };
        finder.visit_file(&ast);
        found.extend(finder.found);
    }
    found
}

/// No framework test of the handout builds the student's (stubbed) Raft, KV server or clerk: a
/// student's `cargo test` must fail only in the lab suites. A fast, static stand-in for the
/// ignored test below, which runs the handout's tests: it sees only tests that name the types
/// (not, say, one that runs a lab through the harness, as tests/viz.rs does). The instructor's own
/// tree does have such tests (in instructor-only regions or files), and the check finds them there.
#[test]
fn no_framework_test_in_the_handout_builds_the_students_code() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("handout-test-code");
    let _ = std::fs::remove_dir_all(&out);
    labs::handout::generate(workspace_root(), &out).expect("handout");
    let found = tests_naming_student_types(&out);
    assert!(
        found.is_empty(),
        "framework tests that would fail on the handout's stubs (mark them instructor-only):\n{}",
        found.join("\n")
    );

    let instructor = tests_naming_student_types(workspace_root());
    for expected in [
        "checker/src/model/cli.rs: mod tests names `Raft`",
        "checker/src/model/step.rs: mod tests names `Raft`",
        "checker/tests/model.rs: the test file names `Raft`",
        "raft/tests/handler_rules.rs: the test file names `Raft`",
        "kvraft/tests/reference.rs: the test file names `KvServer`",
    ] {
        assert!(
            instructor.iter().any(|f| f == expected),
            "the check misses {expected:?}; it found:\n{}",
            instructor.join("\n")
        );
    }
}

/// In a student's repository, `cargo test --release --workspace` fails only in the lab suites
/// (every one of them, as nothing is implemented yet): no framework test assumes the reference.
/// Slow (a release build of the whole handout), so ignored by default:
/// `cargo test --release -p labs --test handout -- --ignored`.
#[test]
#[ignore]
fn the_handouts_own_tests_fail_only_in_the_lab_suites() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("handout-tests");
    let _ = std::fs::remove_dir_all(&out);
    labs::handout::generate(workspace_root(), &out).expect("handout");
    // One file for both streams, so that each binary's `Running` line (stderr) comes before its
    // `test result` line (stdout).
    let log_path = out.with_file_name("handout-tests.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    Command::new(env!("CARGO"))
        .current_dir(&out)
        .args(["test", "--release", "--workspace", "--no-fail-fast"])
        .env(
            "CARGO_TARGET_DIR",
            out.with_file_name("handout-tests-target"),
        )
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .status()
        .expect("run cargo test on the handout");
    let text = std::fs::read_to_string(&log_path).expect("log file");
    assert!(
        !text.contains("could not compile"),
        "the handout's tests do not build:\n{text}"
    );
    // `Running tests/lab2a.rs (...)` then, later, that binary's `test result:` line.
    let mut failing = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Running ") {
            current = rest.split(" (").next().unwrap_or(rest).to_string();
        } else if let Some(krate) = line.strip_prefix("Doc-tests ") {
            current = format!("the doc tests of {krate}");
        } else if line.starts_with("test result: FAILED") {
            failing.push(current.clone());
        }
    }
    let suites: Vec<String> = labs::registry::LABS
        .iter()
        .map(|lab| format!("tests/{}.rs", lab.suite))
        .collect();
    let others: Vec<&String> = failing.iter().filter(|f| !suites.contains(f)).collect();
    assert!(
        others.is_empty(),
        "framework tests fail in the handout: {others:?}"
    );
    for suite in &suites {
        assert!(
            failing.contains(suite),
            "{suite} passes on the stubs: {failing:?}"
        );
    }
}
