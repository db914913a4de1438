//! The static check of student code: the central rule (no threads, clocks, randomness or I/O in a
//! Raft or a KV service), enforced before the code runs.
//!
//! The student-owned files ([`STUDENT_FILES`]) are parsed with `syn` and every path, `use`,
//! attribute and macro call in them is checked against an allow-list that instructors edit,
//! `labkit/student-code.toml` ([`Policy`]). Each refusal names the file, line and column:
//!
//! ```text
//! raft/src/raft.rs:123:5: std::fs::read is not allowed in student code (no I/O: ask the framework for effects ...)
//! ```
//!
//! Always refused, whatever the allow-list says: `unsafe` (blocks, functions, impls, traits),
//! `extern` (crates, blocks, ABIs), `mod x;` (a module in another file), `static mut`, macro
//! definitions, `use` and attributes inside macro arguments, and a file that does not parse.
//!
//! How names are checked. A path whose first segment starts a path into another crate (`std`,
//! `core`, `alloc` and the student crates' dependencies, listed in the policy), or any path written
//! with a leading `::`, must match an `allow` entry and no more specific `deny` entry; `core::` and
//! `alloc::` paths are checked as the `std::` path of the same name. Other paths start with a local
//! name (`crate`, `self`, `super`, an item of the file, or a name brought in by a `use`, which is
//! itself checked), so an alias cannot reach what the `use` could not: `use std as s;` is refused
//! at the `use`. A glob import is refused if it would bring in a denied name. Macro arguments are
//! token streams, not syntax trees: every path and macro call in them is checked the same way, and
//! `use`, `unsafe`, `extern`, `mod` and attributes inside them are refused. Macros are checked by
//! name (`println!` is refused however it was imported; `tracing::debug!` must also be an allowed
//! path), attributes and derives by name against the policy's lists, and attribute arguments like
//! code (plus the string arguments of `#[serde(...)]`, which name functions).
//!
//! Where it runs: every lab test checks the files of its own workspace once per process before
//! running any student code (so `cargo test --test lab2a` fails at once, naming the lines),
//! `labkit/tests/student_code.rs` checks them as a test of its own, and the grader checks a
//! submission before building it, with the instructor's copy of the policy.
//!
//! The policy built in here ([`Policy::builtin`]) is `labkit/student-code.toml` as it was when this
//! crate was built: the build script turns it into Rust data, so that the lab tests need no TOML
//! parser (the tools read policy files with `labs::policy`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use proc_macro2::{Delimiter, Spacing, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::punctuated::Punctuated;
use syn::visit::Visit;

/// The files a student writes; everything else comes from the framework (and, when grading, from
/// the instructor's pristine copy).
pub const STUDENT_FILES: &[&str] = &[
    "raft/src/raft.rs",
    "raft/src/messages.rs",
    "kvraft/src/common.rs",
    "kvraft/src/server.rs",
    "kvraft/src/client.rs",
];

/// The policy file, relative to the repository root.
pub const POLICY_FILE: &str = "labkit/student-code.toml";

/// Environment variable: when set to `1`, the lab harness does not check the student files before
/// a test. Only the grader's test-only mode sets it (to test its run-time defences on code the
/// check would refuse); the grader checks submissions itself, before building them.
pub const SKIP_VAR: &str = "LAB_SKIP_STUDENT_CHECK";

#[path = "policy_file.rs"]
mod policy_file;
pub use policy_file::{DenyEntry, PolicyFile};

/// A list of names, for the build script's data.
fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// This repository's policy file as built into the framework (the harness checks against it), or
/// why it could not be read.
fn builtin_policy_file() -> Result<PolicyFile, String> {
    include!(concat!(env!("OUT_DIR"), "/builtin_policy.rs"))
}

/// Why a name that the allow-list does not cover is refused.
const NOT_LISTED: &str = "not on the allow-list in labkit/student-code.toml";

/// Keywords refused inside macro arguments (outside them the syntax tree is checked instead).
const REFUSED_IN_MACROS: &[(&str, &str)] = &[
    ("unsafe", "unsafe is not allowed in student code"),
    (
        "extern",
        "extern is not allowed in student code (no foreign code or crates)",
    ),
    (
        "use",
        "`use` inside macro arguments is not allowed in student code (put it at the top of the file)",
    ),
    (
        "mod",
        "a module inside macro arguments is not allowed in student code",
    ),
    ("macro", "macro definitions are not allowed in student code"),
];

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{path}: {message}")]
    Policy { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One refusal: where, and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// The file, relative to the repository root (`raft/src/raft.rs`).
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// The findings as the student sees them: one per line, and what to do.
pub fn render_findings(findings: &[Finding]) -> String {
    let mut out = format!(
        "student code breaks the rules of the labs ({} finding{}; no threads, clocks, randomness \
         or I/O, and only what labkit/student-code.toml allows):\n",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" }
    );
    for finding in findings {
        out.push_str(&format!("  {finding}\n"));
    }
    out
}

/// The allow-list (see `labkit/student-code.toml` for what each part means).
#[derive(Clone, Debug)]
pub struct Policy {
    crates: BTreeSet<String>,
    /// Path prefixes (by segment): `None` allows, `Some(reason)` denies.
    rules: Vec<(Vec<String>, Option<String>)>,
    macros: BTreeSet<String>,
    denied_macros: BTreeMap<String, String>,
    attributes: BTreeSet<String>,
    inner_attributes: BTreeSet<String>,
    derives: BTreeSet<String>,
}

fn segments(path: &str) -> Vec<String> {
    path.split("::").map(|s| s.trim().to_string()).collect()
}

impl Policy {
    /// Check a policy file's contents and make them a policy (`name` is used in errors).
    pub fn from_file(name: &str, file: PolicyFile) -> Result<Policy, CheckError> {
        let bad = |message: String| CheckError::Policy {
            path: name.to_string(),
            message,
        };
        let mut rules = Vec::new();
        let valid = |path: &str| {
            let segs = segments(path);
            if segs.iter().any(|s| s.is_empty()) {
                Err(bad(format!("{path:?} is not a path like std::collections")))
            } else {
                Ok(segs)
            }
        };
        for path in &file.allow {
            rules.push((valid(path)?, None));
        }
        let mut denied_macros = BTreeMap::new();
        for entry in &file.deny {
            for path in &entry.paths {
                rules.push((valid(path)?, Some(entry.reason.clone())));
            }
            for name in &entry.macros {
                denied_macros.insert(name.clone(), entry.reason.clone());
            }
        }
        if let Some(both) = file.macros.iter().find(|m| denied_macros.contains_key(*m)) {
            return Err(bad(format!("macro {both:?} is both allowed and denied")));
        }
        Ok(Policy {
            crates: file.crates.into_iter().collect(),
            rules,
            macros: file.macros.into_iter().collect(),
            denied_macros,
            attributes: file.attributes.into_iter().collect(),
            inner_attributes: file.inner_attributes.into_iter().collect(),
            derives: file.derives.into_iter().collect(),
        })
    }

    /// The policy built into this framework (`labkit/student-code.toml` when it was compiled).
    pub fn builtin() -> Result<Policy, CheckError> {
        let file = builtin_policy_file().map_err(|message| CheckError::Policy {
            path: POLICY_FILE.to_string(),
            message,
        })?;
        Policy::from_file(POLICY_FILE, file)
    }

    /// The crate names a path into another crate may start with.
    pub fn crates(&self) -> impl Iterator<Item = &str> {
        self.crates.iter().map(String::as_str)
    }

    /// The most specific rule matching `segs` (deny beats allow at equal length).
    fn rule(&self, segs: &[String]) -> Option<&Option<String>> {
        let mut best: Option<(usize, &Option<String>)> = None;
        for (prefix, rule) in &self.rules {
            if segs.len() >= prefix.len() && segs[..prefix.len()] == prefix[..] {
                let better = match best {
                    None => true,
                    Some((len, current)) => {
                        prefix.len() > len
                            || (prefix.len() == len && current.is_none() && rule.is_some())
                    }
                };
                if better {
                    best = Some((prefix.len(), rule));
                }
            }
        }
        best.map(|(_, rule)| rule)
    }

    /// Why the path `segs` may not be named, or `None` if it may (or if it starts with a local
    /// name, which the check does not follow).
    pub fn refusal(&self, segs: &[String], leading_colon: bool) -> Option<String> {
        let first = segs.first()?;
        if !self.crates.contains(first) {
            return leading_colon.then(|| NOT_LISTED.to_string());
        }
        match self.rule(&normalize(segs)) {
            Some(None) => None,
            Some(Some(reason)) => Some(reason.clone()),
            None => Some(NOT_LISTED.to_string()),
        }
    }

    /// Why `use <segs>::*` is refused, if it is: the path itself is refused, or the glob would
    /// import a denied name.
    fn glob_refusal(&self, segs: &[String], leading_colon: bool) -> Option<String> {
        if let Some(reason) = self.refusal(segs, leading_colon) {
            return Some(reason);
        }
        if segs.is_empty() || !self.crates.contains(&segs[0]) {
            return None;
        }
        let norm = normalize(segs);
        self.rules.iter().find_map(|(prefix, rule)| {
            let reason = rule.as_ref()?;
            (prefix.len() > norm.len() && prefix[..norm.len()] == norm[..]).then(|| {
                format!(
                    "it would import {}, which is not allowed: {reason}",
                    prefix.join("::")
                )
            })
        })
    }

    /// Why calling the macro named by `segs` is refused, if it is.
    fn macro_refusal(&self, segs: &[String], leading_colon: bool) -> Option<String> {
        if (segs.len() > 1 || leading_colon)
            && let Some(reason) = self.refusal(segs, leading_colon)
        {
            return Some(reason);
        }
        let name = segs.last()?;
        if let Some(reason) = self.denied_macros.get(name) {
            Some(reason.clone())
        } else if !self.macros.contains(name) {
            Some(NOT_LISTED.to_string())
        } else {
            None
        }
    }
}

/// `core::x` and `alloc::x` are checked as `std::x`.
fn normalize(segs: &[String]) -> Vec<String> {
    let mut out = segs.to_vec();
    if let Some(first) = out.first_mut()
        && (first == "core" || first == "alloc")
    {
        *first = "std".to_string();
    }
    out
}

fn ident_name(ident: &syn::Ident) -> String {
    ident.unraw().to_string()
}

fn path_segments(path: &syn::Path) -> Vec<String> {
    path.segments.iter().map(|s| ident_name(&s.ident)).collect()
}

fn shown(segs: &[String], leading_colon: bool) -> String {
    format!(
        "{}{}",
        if leading_colon { "::" } else { "" },
        segs.join("::")
    )
}

fn path_span(path: &syn::Path) -> Span {
    match (&path.leading_colon, path.segments.first()) {
        (Some(colon), _) => colon.spans[0],
        (None, Some(first)) => first.ident.span(),
        (None, None) => Span::call_site(),
    }
}

/// Check one file's text. `file` is its name in the findings.
pub fn check_source(file: &str, source: &str, policy: &Policy) -> Vec<Finding> {
    let mut checker = Checker {
        policy,
        file,
        findings: Vec::new(),
    };
    match syn::parse_file(source) {
        Ok(ast) => checker.visit_file(&ast),
        Err(e) => checker.report(
            e.span(),
            format!("the file could not be parsed, so it cannot be checked: {e}"),
        ),
    }
    let mut findings = checker.findings;
    // Line numbers are taken; let proc-macro2 forget the text it keeps for spans (a grader checks
    // thousands of files in one process).
    proc_macro2::extra::invalidate_current_thread_spans();
    findings.sort();
    findings.dedup();
    findings
}

/// Check the student files of the repository at `root` (a missing file is skipped: the handout's
/// stub is checked where it is used).
pub fn check_tree(root: &Path, policy: &Policy) -> Result<Vec<Finding>, CheckError> {
    let mut findings = Vec::new();
    for file in STUDENT_FILES {
        let path = root.join(file);
        let text = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(CheckError::Io { path, source }),
        };
        match String::from_utf8(text) {
            Ok(text) => findings.extend(check_source(file, &text, policy)),
            Err(_) => findings.push(Finding {
                file: file.to_string(),
                line: 1,
                column: 1,
                message: "the file is not UTF-8 text".to_string(),
            }),
        }
    }
    Ok(findings)
}

/// The check the lab harness runs: this workspace's student files (the workspace this framework
/// was compiled in) against the built-in policy. Empty when [`SKIP_VAR`] is `1`, or when the
/// files are not where they were at build time (a test binary copied elsewhere).
pub fn check_this_workspace() -> Result<Vec<Finding>, CheckError> {
    if std::env::var_os(SKIP_VAR).is_some_and(|v| v == "1") {
        return Ok(Vec::new());
    }
    let Some(root) = Path::new(env!("CARGO_MANIFEST_DIR")).parent() else {
        return Ok(Vec::new());
    };
    check_tree(root, &Policy::builtin()?)
}

struct Checker<'a> {
    policy: &'a Policy,
    file: &'a str,
    findings: Vec<Finding>,
}

impl Checker<'_> {
    fn report(&mut self, span: Span, message: String) {
        let start = span.start();
        self.findings.push(Finding {
            file: self.file.to_string(),
            line: start.line.max(1),
            column: start.column + 1,
            message,
        });
    }

    fn check_path(&mut self, span: Span, segs: &[String], leading_colon: bool) {
        if let Some(reason) = self.policy.refusal(segs, leading_colon) {
            self.report(
                span,
                format!(
                    "{} is not allowed in student code ({reason})",
                    shown(segs, leading_colon)
                ),
            );
        }
    }

    fn check_macro(&mut self, span: Span, segs: &[String], leading_colon: bool) {
        if let Some(reason) = self.policy.macro_refusal(segs, leading_colon) {
            self.report(
                span,
                format!(
                    "{}! is not allowed in student code ({reason})",
                    shown(segs, leading_colon)
                ),
            );
        }
    }

    fn walk_use(&mut self, tree: &syn::UseTree, prefix: &mut Vec<String>, leading_colon: bool) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(ident_name(&p.ident));
                self.walk_use(&p.tree, prefix, leading_colon);
                prefix.pop();
            }
            syn::UseTree::Name(syn::UseName { ident })
            | syn::UseTree::Rename(syn::UseRename { ident, .. }) => {
                let mut segs = prefix.clone();
                let name = ident_name(ident);
                if name != "self" || segs.is_empty() {
                    segs.push(name);
                }
                let span = ident.span();
                self.check_path(span, &segs, leading_colon);
            }
            syn::UseTree::Glob(glob) => {
                if let Some(reason) = self.policy.glob_refusal(prefix, leading_colon) {
                    let what = shown(prefix, leading_colon);
                    self.report(
                        glob.star_token.span,
                        format!("`use {what}::*` is not allowed in student code ({reason})"),
                    );
                }
            }
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.walk_use(tree, prefix, leading_colon);
                }
            }
        }
    }

    /// Check the paths, macro calls and refused keywords of a token stream (macro arguments,
    /// attribute arguments, syntax `syn` keeps as tokens). `at` replaces the tokens' own spans
    /// (for tokens parsed from a string).
    fn scan_tokens(&mut self, tokens: TokenStream, at: Option<Span>) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let span = |t: &TokenTree| at.unwrap_or_else(|| t.span());
        let is_punct = |t: Option<&TokenTree>, c: char| matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == c);
        let is_path_sep = |i: usize| {
            matches!(tokens.get(i), Some(TokenTree::Punct(p)) if p.as_char() == ':' && p.spacing() == Spacing::Joint)
                && is_punct(tokens.get(i + 1), ':')
                && matches!(tokens.get(i + 2), Some(TokenTree::Ident(_)))
        };
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(group) => {
                    self.scan_tokens(group.stream(), at);
                    i += 1;
                }
                TokenTree::Punct(p) if p.as_char() == '#' => {
                    let mut j = i + 1;
                    if is_punct(tokens.get(j), '!') {
                        j += 1;
                    }
                    if matches!(tokens.get(j), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket)
                    {
                        self.report(
                            span(&tokens[i]),
                            "attributes inside macro arguments are not allowed in student code"
                                .to_string(),
                        );
                        i = j + 1;
                    } else {
                        i += 1;
                    }
                }
                TokenTree::Punct(_) if is_path_sep(i) => {
                    // A `::` that does not continue a path (after `>` it continues `Vec::<u8>::`).
                    let leading = !(i > 0 && is_punct(tokens.get(i - 1), '>'));
                    let start = span(&tokens[i]);
                    i = self.scan_path(&tokens, i + 2, leading, start, at);
                }
                TokenTree::Ident(ident) => {
                    let raw = ident.to_string();
                    if let Some((_, message)) = REFUSED_IN_MACROS.iter().find(|(k, _)| *k == raw) {
                        self.report(span(&tokens[i]), message.to_string());
                        i += 1;
                        continue;
                    }
                    let start = span(&tokens[i]);
                    i = self.scan_path(&tokens, i, false, start, at);
                }
                _ => i += 1,
            }
        }
    }

    /// The path starting at the identifier `tokens[i]`: check it (as a macro call if `!(...)`
    /// follows); returns the index after it.
    fn scan_path(
        &mut self,
        tokens: &[TokenTree],
        mut i: usize,
        leading: bool,
        start: Span,
        at: Option<Span>,
    ) -> usize {
        let mut segs = Vec::new();
        while let Some(TokenTree::Ident(ident)) = tokens.get(i) {
            let text = ident.to_string();
            segs.push(text.strip_prefix("r#").unwrap_or(&text).to_string());
            let sep = matches!(tokens.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == ':' && p.spacing() == Spacing::Joint)
                && matches!(tokens.get(i + 2), Some(TokenTree::Punct(p)) if p.as_char() == ':')
                && matches!(tokens.get(i + 3), Some(TokenTree::Ident(_)));
            if !sep {
                i += 1;
                break;
            }
            i += 3;
        }
        let bang = matches!(tokens.get(i), Some(TokenTree::Punct(p)) if p.as_char() == '!');
        if bang && matches!(tokens.get(i + 1), Some(TokenTree::Group(_))) {
            self.check_macro(start, &segs, leading);
            if segs.last().is_some_and(|s| s == "macro_rules") {
                return i + 2;
            }
            return i + 1;
        }
        let _ = at;
        self.check_path(start, &segs, leading);
        i
    }

    /// The string arguments of `#[serde(...)]` (`with = "module"`, `default = "path"`, ...) name
    /// code: check them as paths.
    fn scan_serde_strings(&mut self, tokens: TokenStream) {
        for token in tokens {
            match token {
                TokenTree::Group(group) => self.scan_serde_strings(group.stream()),
                TokenTree::Literal(literal) => {
                    let span = literal.span();
                    let Ok(string) = syn::parse2::<syn::LitStr>(TokenTree::Literal(literal).into())
                    else {
                        continue;
                    };
                    if let Ok(inner) = syn::parse_str::<TokenStream>(&string.value()) {
                        self.scan_tokens(inner, Some(span));
                    }
                }
                _ => {}
            }
        }
    }
}

impl<'ast> Visit<'ast> for Checker<'_> {
    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        let path = attr.path();
        let name = path_segments(path).join("::");
        let inner = matches!(attr.style, syn::AttrStyle::Inner(_));
        let span = attr.pound_token.span;
        if inner && !self.policy.inner_attributes.contains(&name) {
            self.report(
                span,
                format!(
                    "the inner attribute #![{name}] is not allowed in student code (only lint \
                     levels and doc comments)"
                ),
            );
            return;
        }
        if !inner && !self.policy.attributes.contains(&name) {
            self.report(
                span,
                format!("the attribute #[{name}] is not allowed in student code ({NOT_LISTED})"),
            );
            return;
        }
        match (name.as_str(), &attr.meta) {
            ("doc", syn::Meta::NameValue(nv)) => {
                if !matches!(
                    &nv.value,
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(_),
                        ..
                    })
                ) {
                    self.report(
                        span,
                        "a doc attribute in student code must be a string (a doc comment)"
                            .to_string(),
                    );
                }
            }
            ("derive", _) => {
                match attr
                    .parse_args_with(Punctuated::<syn::Path, syn::Token![,]>::parse_terminated)
                {
                    Ok(paths) => {
                        for path in paths {
                            let segs = path_segments(&path);
                            let span = path_span(&path);
                            if segs.len() > 1 || path.leading_colon.is_some() {
                                self.check_path(span, &segs, path.leading_colon.is_some());
                            }
                            let last = segs.last().cloned().unwrap_or_default();
                            if !self.policy.derives.contains(&last) {
                                self.report(
                                    span,
                                    format!(
                                        "#[derive({last})] is not allowed in student code ({NOT_LISTED})"
                                    ),
                                );
                            }
                        }
                    }
                    Err(e) => self.report(e.span(), format!("unreadable derive list: {e}")),
                }
            }
            (_, syn::Meta::List(list)) => {
                self.scan_tokens(list.tokens.clone(), None);
                if name == "serde" {
                    self.scan_serde_strings(list.tokens.clone());
                }
            }
            (_, syn::Meta::NameValue(nv)) => self.visit_expr(&nv.value),
            (_, syn::Meta::Path(_)) => {}
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segs = path_segments(path);
        self.check_path(path_span(path), &segs, path.leading_colon.is_some());
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let segs = path_segments(&mac.path);
        self.check_macro(
            path_span(&mac.path),
            &segs,
            mac.path.leading_colon.is_some(),
        );
        // Generic arguments in the macro's path, if any.
        for segment in &mac.path.segments {
            self.visit_path_arguments(&segment.arguments);
        }
        if segs.last().is_none_or(|s| s != "macro_rules") {
            self.scan_tokens(mac.tokens.clone(), None);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        for attr in &item.attrs {
            self.visit_attribute(attr);
        }
        self.walk_use(&item.tree, &mut Vec::new(), item.leading_colon.is_some());
    }

    fn visit_item_extern_crate(&mut self, item: &'ast syn::ItemExternCrate) {
        self.report(
            item.extern_token.span,
            "extern crate is not allowed in student code (only the crates the handout depends on)"
                .to_string(),
        );
    }

    fn visit_item_foreign_mod(&mut self, item: &'ast syn::ItemForeignMod) {
        self.report(
            item.abi.extern_token.span,
            "extern blocks are not allowed in student code (no foreign code)".to_string(),
        );
    }

    fn visit_abi(&mut self, abi: &'ast syn::Abi) {
        self.report(
            abi.extern_token.span,
            "extern ABIs are not allowed in student code (no foreign code)".to_string(),
        );
    }

    fn visit_safety(&mut self, safety: &'ast syn::Safety) {
        if let syn::Safety::Unsafe(token) = safety {
            self.report(
                token.span,
                "unsafe is not allowed in student code".to_string(),
            );
        }
    }

    fn visit_expr_unsafe(&mut self, expr: &'ast syn::ExprUnsafe) {
        self.report(
            expr.unsafe_token.span,
            "unsafe is not allowed in student code".to_string(),
        );
        syn::visit::visit_expr_unsafe(self, expr);
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        if let Some(token) = &item.unsafety {
            self.report(
                token.span,
                "unsafe is not allowed in student code".to_string(),
            );
        }
        syn::visit::visit_item_impl(self, item);
    }

    fn visit_item_trait(&mut self, item: &'ast syn::ItemTrait) {
        if let Some(token) = &item.unsafety {
            self.report(
                token.span,
                "unsafe is not allowed in student code".to_string(),
            );
        }
        syn::visit::visit_item_trait(self, item);
    }

    fn visit_type_fn_ptr(&mut self, ty: &'ast syn::TypeFnPtr) {
        if let Some(token) = &ty.unsafety {
            self.report(
                token.span,
                "unsafe is not allowed in student code".to_string(),
            );
        }
        syn::visit::visit_type_fn_ptr(self, ty);
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if let Some(token) = &item.unsafety {
            self.report(
                token.span,
                "unsafe is not allowed in student code".to_string(),
            );
        }
        if item.content.is_none() {
            self.report(
                item.mod_token.span,
                format!(
                    "`mod {};` (a module in another file) is not allowed in student code: the \
                     grader takes only the student files; write the module inline, `mod {} {{ ... }}`",
                    item.ident, item.ident
                ),
            );
        }
        syn::visit::visit_item_mod(self, item);
    }

    fn visit_item_static(&mut self, item: &'ast syn::ItemStatic) {
        if let syn::StaticMutability::Mut(token) = &item.mutability {
            self.report(
                token.span,
                "static mut is not allowed in student code".to_string(),
            );
        }
        syn::visit::visit_item_static(self, item);
    }

    fn visit_item(&mut self, item: &'ast syn::Item) {
        if let syn::Item::Verbatim(tokens) = item {
            self.scan_tokens(tokens.clone(), None);
        }
        syn::visit::visit_item(self, item);
    }

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        if let syn::ImplItem::Verbatim(tokens) = item {
            self.scan_tokens(tokens.clone(), None);
        }
        syn::visit::visit_impl_item(self, item);
    }

    fn visit_trait_item(&mut self, item: &'ast syn::TraitItem) {
        if let syn::TraitItem::Verbatim(tokens) = item {
            self.scan_tokens(tokens.clone(), None);
        }
        syn::visit::visit_trait_item(self, item);
    }

    fn visit_expr(&mut self, expr: &'ast syn::Expr) {
        if let syn::Expr::Verbatim(tokens) = expr {
            self.scan_tokens(tokens.clone(), None);
        }
        syn::visit::visit_expr(self, expr);
    }

    fn visit_type(&mut self, ty: &'ast syn::Type) {
        if let syn::Type::Verbatim(tokens) = ty {
            self.scan_tokens(tokens.clone(), None);
        }
        syn::visit::visit_type(self, ty);
    }

    fn visit_pat(&mut self, pat: &'ast syn::Pat) {
        if let syn::Pat::Verbatim(tokens) = pat {
            self.scan_tokens(tokens.clone(), None);
        }
        syn::visit::visit_pat(self, pat);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str) -> Vec<String> {
        let policy = Policy::builtin().expect("the built-in policy parses");
        check_source("raft/src/raft.rs", source, &policy)
            .into_iter()
            .map(|f| f.to_string())
            .collect()
    }

    /// `source` is refused, and the first finding is at `line:column` and mentions `what`.
    #[track_caller]
    fn refused(source: &str, at: &str, what: &str) {
        let findings = check(source);
        assert!(
            findings.first().is_some_and(
                |f| f.starts_with(&format!("raft/src/raft.rs:{at}: ")) && f.contains(what)
            ),
            "expected a finding at {at} mentioning {what:?} for\n{source}\ngot {findings:#?}"
        );
    }

    #[track_caller]
    fn accepted(source: &str) {
        let findings = check(source);
        assert!(findings.is_empty(), "{source}\n{findings:#?}");
    }

    #[test]
    fn io_threads_clocks_and_randomness_are_refused_with_the_line() {
        refused(
            "fn f() {\n    let _ = std::fs::read(\"x\");\n}\n",
            "2:13",
            "std::fs::read is not allowed in student code (no I/O",
        );
        refused("use std::net::TcpStream;\n", "1:15", "std::net::TcpStream");
        refused(
            "fn f() { std::thread::spawn(|| ()); }",
            "1:10",
            "no threads",
        );
        refused(
            "fn f() { let _ = std::time::Instant::now(); }",
            "1:18",
            "no clocks",
        );
        refused("use std::collections::HashMap;\n", "1:23", "BTreeMap");
        refused(
            "fn f() { std::process::exit(0) }",
            "1:10",
            "std::process::exit",
        );
        refused(
            "fn f() { let _ = std::env::var(\"A\"); }",
            "1:18",
            "no environment",
        );
        refused(
            "fn f() { let _ = std::io::stdout(); }",
            "1:18",
            "std::io::stdout",
        );
        refused("use std::os::unix::fs::PermissionsExt;", "1:24", "std::os");
    }

    #[test]
    fn aliases_globs_and_other_spellings_are_caught() {
        refused(
            "use std as s;\nfn f() { s::fs::read(\"x\"); }",
            "1:5",
            "std is not allowed",
        );
        refused(
            "fn f() { ::std::fs::read(\"x\"); }",
            "1:10",
            "::std::fs::read",
        );
        refused("use std::{fs};", "1:11", "std::fs");
        refused(
            "use std::{collections::BTreeMap, fs::{self, File}};",
            "1:39",
            "std::fs",
        );
        refused("use std::*;", "1:10", "`use std::*`");
        refused(
            "use std::collections::*;",
            "1:23",
            "std::collections::HashMap",
        );
        refused(
            "fn f() { core::ptr::null::<u8>(); }",
            "1:10",
            "core::ptr::null",
        );
        refused(
            "fn f() { alloc::alloc::alloc(x); }",
            "1:10",
            "alloc::alloc::alloc",
        );
        refused(
            "fn f() { r#std::fs::read(\"x\"); }",
            "1:10",
            "std::fs::read",
        );
        refused("use std::time;", "1:10", "std::time");
        refused("use ::serde_json::Value;", "1:19", "::serde_json::Value");
        refused(
            "fn f() -> Vec<std::fs::File> { vec![] }",
            "1:15",
            "std::fs::File",
        );
        refused("fn f<T: std::io::Read>(t: T) {}", "1:9", "std::io::Read");
        refused(
            "fn f(x: u8) { <u8 as std::io::Read>::read(x); }",
            "1:22",
            "std::io::Read",
        );
        accepted(
            "use std::collections::{BTreeMap, BTreeSet};\nuse std::time::Duration;\nuse core::cmp::Ordering;\nuse std::collections::btree_map::Entry;\nuse serde::*;\nuse crate::contract::*;\nuse super::*;\nfn f() -> Duration { let _ = std::mem::take(&mut 1); Duration::from_millis(1) }",
        );
    }

    #[test]
    fn macros_are_checked_by_name_and_inside_their_arguments() {
        refused(
            "fn f() { println!(\"x\"); }",
            "1:10",
            "println! is not allowed",
        );
        refused("fn f() { std::println!(\"x\"); }", "1:10", "std::println!");
        refused("fn f() { dbg!(1); }", "1:10", "dbg!");
        refused(
            "const S: &str = include_str!(\"../../../../../raft/src/raft.rs\");",
            "1:17",
            "include_str! is not allowed in student code (student code may not read files",
        );
        refused("fn f() { let _ = env!(\"HOME\"); }", "1:18", "env!");
        refused("macro_rules! m { () => {} }", "1:1", "macro_rules!");
        refused(
            "fn f() { let _ = vec![std::fs::read(\"x\")]; }",
            "1:23",
            "std::fs::read",
        );
        refused(
            "fn f() { let _ = format!(\"{:?}\", { use std::fs; 1 }); }",
            "1:36",
            "`use` inside macro arguments",
        );
        refused("fn f() { assert!(unsafe { g() }); }", "1:18", "unsafe");
        refused(
            "fn f() { tracing::debug!(x = ?std::env::args()); }",
            "1:31",
            "std::env::args",
        );
        refused(
            "fn f() { let _ = vec![include_bytes!(\"x\")]; }",
            "1:23",
            "include_bytes!",
        );
        refused(
            "fn f() { thread_local!(static X: u8 = 1); }",
            "1:10",
            "thread_local!",
        );
        refused(
            "fn f() { my_macro!(); }",
            "1:10",
            "my_macro! is not allowed",
        );
        refused(
            "fn f() { vec![{ #[path = \"x\"] mod m; 1 }]; }",
            "1:17",
            "attributes inside macro arguments",
        );
        accepted(
            "use tracing::{debug, trace};\nfn f(x: u64) { debug!(term = x, role = ?x, \"booted\"); trace!(x); tracing::warn!(\"w\"); assert!(x != 1, \"{} {}\", x, matches!(x, 1 | 2)); debug_assert!(x < 2); let _ = format!(\"{x:?}\"); let _ = vec![0u8; 3]; if !matches!(x, 3) { todo!(\"2A: x\") } }",
        );
    }

    #[test]
    fn unsafe_extern_modules_and_attributes_are_refused() {
        refused("fn f() { unsafe { g() } }", "1:10", "unsafe is not allowed");
        refused("unsafe fn f() {}", "1:1", "unsafe");
        refused("unsafe impl Send for X {}", "1:1", "unsafe");
        refused("unsafe trait T {}", "1:1", "unsafe");
        refused("extern crate std as s;", "1:1", "extern crate");
        refused("extern \"C\" { fn abort(); }", "1:1", "extern blocks");
        refused("extern \"C\" fn f() {}", "1:1", "extern ABIs");
        refused("type F = unsafe extern \"C\" fn();", "1:10", "unsafe");
        refused("mod evil;", "1:1", "`mod evil;`");
        refused("#[path = \"/etc/passwd\"]\nmod m {}", "1:1", "#[path]");
        refused("#![no_std]", "1:1", "#![no_std]");
        refused("#![cfg_attr(all(), path = \"x\")]", "1:1", "cfg_attr");
        refused(
            "#[cfg_attr(all(), path = \"x\")]\nmod m {}",
            "1:1",
            "#[cfg_attr]",
        );
        refused("#[unsafe(no_mangle)]\nfn f() {}", "1:1", "");
        refused(
            "#[global_allocator]\nstatic A: u8 = 0;",
            "1:1",
            "#[global_allocator]",
        );
        refused("static mut X: u8 = 0;", "1:8", "static mut");
        refused("#[used]\nstatic X: u8 = 0;", "1:1", "#[used]");
        refused(
            "#[unsafe(link_section = \".init_array\")]\nstatic X: u8 = 0;",
            "1:1",
            "",
        );
        refused(
            "#[link_section = \".init_array\"]\nstatic X: u8 = 0;",
            "1:1",
            "#[link_section]",
        );
        refused(
            "#[doc = include_str!(\"x\")]\nfn f() {}",
            "1:1",
            "doc attribute",
        );
        refused(
            "#[derive(Clone, Evil)]\nstruct S;",
            "1:17",
            "#[derive(Evil)]",
        );
        refused("#[serde(with = \"std::fs\")]\nstruct S;", "1:16", "std::fs");
        refused(
            "#[error(\"{0}\", std::env::args())]\nstruct S;",
            "1:16",
            "std::env::args",
        );
        refused("mod m { use std::fs; }", "1:18", "std::fs");
    }

    #[test]
    fn the_handout_derives_docs_and_lints_pass() {
        accepted(
            "//! Docs.\n#![allow(unused_imports, dead_code)] // remove as you implement\n/// An entry.\n#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]\n#[serde(default)]\npub struct E { #[serde(skip)] pub t: u64 }\n#[derive(Debug, thiserror::Error)]\npub enum Er { #[error(\"bad: {0}\")] Bad(String) }\n#[cfg(test)]\nmod tests { #[test] fn t() { assert_eq!(1, 1); } }\nimpl E { #[must_use] #[inline] fn f(&self) -> u64 { self.t } }",
        );
    }

    #[test]
    fn unparsable_files_are_refused() {
        refused("fn f( {", "1:7", "could not be parsed");
    }

    #[test]
    fn the_policy_file_is_validated() {
        let minimal = PolicyFile {
            macros: strings(&["x"]),
            ..PolicyFile::default()
        };
        assert!(Policy::from_file("p.toml", minimal.clone()).is_ok());
        let mut both = minimal.clone();
        both.deny.push(DenyEntry {
            macros: strings(&["x"]),
            reason: "r".to_string(),
            ..DenyEntry::default()
        });
        assert!(
            matches!(Policy::from_file("p.toml", both), Err(CheckError::Policy { message, .. }) if message.contains("both"))
        );
        let mut bad_path = minimal;
        bad_path.allow = strings(&["std::"]);
        assert!(Policy::from_file("p.toml", bad_path).is_err());
    }

    #[test]
    fn most_specific_rule_wins() {
        let policy = Policy::builtin().unwrap();
        let segs = |p: &str| segments(p);
        assert_eq!(
            policy.refusal(&segs("std::time::Duration::from_secs"), false),
            None
        );
        assert!(policy.refusal(&segs("std::time::Instant"), false).is_some());
        assert_eq!(policy.refusal(&segs("std::sync::Arc"), false), None);
        assert!(policy.refusal(&segs("std::sync::Mutex"), false).is_some());
        assert_eq!(policy.refusal(&segs("my_module::fs::read"), false), None);
        assert!(policy.refusal(&segs("postcard::to_io"), false).is_some());
        assert_eq!(policy.refusal(&segs("postcard::to_allocvec"), false), None);
    }
}
