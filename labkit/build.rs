//! Turns the allow-list of the static check (`student-code.toml`) into Rust data
//! (`$OUT_DIR/builtin_policy.rs`, an expression of type `Result<PolicyFile, String>`), so that the
//! lab tests check student code against it without linking a TOML parser. A file that does not
//! parse becomes the `Err` with the parser's message: the lab tests then stop with it, as they did
//! when they parsed the file themselves.

use std::fmt::Write as _;

#[allow(dead_code)]
#[path = "src/policy_file.rs"]
mod policy_file;

use policy_file::PolicyFile;

const POLICY: &str = "student-code.toml";

fn strings(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
    format!("strings(&[{}])", items.join(", "))
}

fn rust_data(file: &PolicyFile) -> String {
    let mut deny = String::new();
    for entry in &file.deny {
        let _ = write!(
            deny,
            "DenyEntry {{ paths: {}, macros: {}, reason: {:?}.to_string() }}, ",
            strings(&entry.paths),
            strings(&entry.macros),
            entry.reason
        );
    }
    format!(
        "Ok(PolicyFile {{ crates: {}, allow: {}, macros: {}, attributes: {}, inner_attributes: {}, \
         derives: {}, deny: vec![{deny}] }})",
        strings(&file.crates),
        strings(&file.allow),
        strings(&file.macros),
        strings(&file.attributes),
        strings(&file.inner_attributes),
        strings(&file.derives),
    )
}

fn main() {
    println!("cargo::rerun-if-changed={POLICY}");
    println!("cargo::rerun-if-changed=src/policy_file.rs");
    let code = match std::fs::read_to_string(POLICY) {
        Ok(text) => match toml::from_str::<PolicyFile>(&text) {
            Ok(file) => rust_data(&file),
            Err(e) => format!("Err({:?}.to_string())", e.to_string()),
        },
        Err(e) => format!("Err({:?}.to_string())", e.to_string()),
    };
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("builtin_policy.rs"), code).expect("OUT_DIR is writable");
}
