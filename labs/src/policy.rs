//! Reading an allow-list file of the static check (`labkit/student-code.toml`). The lab tests use
//! the copy built into `labkit` ([`Policy::builtin`]); the grader reads the pristine copy's file,
//! and instructors' tests read the file as it is now.

use std::path::Path;

use labkit::student_code::{CheckError, Policy, PolicyFile};

/// Parse a policy file's text (`name` is used in errors).
pub fn parse_policy(name: &str, text: &str) -> Result<Policy, CheckError> {
    let file: PolicyFile = toml::from_str(text).map_err(|e| CheckError::Policy {
        path: name.to_string(),
        message: e.to_string(),
    })?;
    Policy::from_file(name, file)
}

/// Read a policy file.
pub fn load_policy(path: &Path) -> Result<Policy, CheckError> {
    let text = std::fs::read_to_string(path).map_err(|source| CheckError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_policy(&path.display().to_string(), &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_files_are_parsed_and_validated() {
        assert!(parse_policy("p.toml", "crates = []").is_err());
        let minimal = "crates = []\nallow = []\nmacros = [\"x\"]\nattributes = []\ninner_attributes = []\nderives = []\n";
        assert!(parse_policy("p.toml", minimal).is_ok());
        assert!(parse_policy("p.toml", &format!("{minimal}unknown = 1\n")).is_err());
        let both = format!("{minimal}[[deny]]\nmacros = [\"x\"]\nreason = \"r\"\n");
        assert!(
            matches!(parse_policy("p.toml", &both), Err(CheckError::Policy { message, .. }) if message.contains("both"))
        );
    }

    /// The lab tests check against the data the build script made of the file: it must be the
    /// file's policy, entry for entry.
    #[test]
    fn the_built_in_policy_is_the_policy_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("labs/ is in the workspace");
        let file = load_policy(&root.join(labkit::student_code::POLICY_FILE)).expect("the file");
        let builtin = Policy::builtin().expect("the built-in policy");
        assert_eq!(format!("{builtin:?}"), format!("{file:?}"));
    }
}
