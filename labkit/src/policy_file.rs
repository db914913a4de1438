// What an allow-list file of the static check holds (`labkit/student-code.toml`). Shared by
// `student_code` and the build script, which turns this repository's file into Rust data so that
// the lab tests need no TOML parser.

use serde::Deserialize;

/// An allow-list file as written (see `labkit/student-code.toml` for what each part means);
/// [`super::Policy::from_file`] checks it and makes it a policy.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub crates: Vec<String>,
    pub allow: Vec<String>,
    pub macros: Vec<String>,
    pub attributes: Vec<String>,
    pub inner_attributes: Vec<String>,
    pub derives: Vec<String>,
    #[serde(default)]
    pub deny: Vec<DenyEntry>,
}

/// One `[[deny]]` entry: paths and macros refused, with the reason the student sees.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyEntry {
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub macros: Vec<String>,
    pub reason: String,
}
