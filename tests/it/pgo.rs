//! The profile-guided build's wrapper (`scripts/pgo-rustc`): it adds the profile's flag to the
//! compiles of proxydoc's own crates only, as `PROXYDOC_PGO` says, and refuses a setting it
//! does not know. `echo` stands in for rustc, so what rustc would be given is printed.

use std::process::Command;

fn wrapped(pgo: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(crate::common::root().join("scripts/pgo-rustc"));
    command.arg("echo").args(args);
    match pgo {
        Some(value) => command.env("PROXYDOC_PGO", value),
        None => command.env_remove("PROXYDOC_PGO"),
    };
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const OURS: &[&str] = &["--crate-name", "proxydoc", "--edition=2024", "src/lib.rs"];
const THEIRS: &[&str] = &[
    "--crate-name",
    "polars_core",
    "--edition=2021",
    "src/lib.rs",
];

#[test]
fn proxydocs_crates_get_the_profiles_flag() {
    let (ok, args, _) = wrapped(Some("generate=/t/pgo/counts"), OURS);
    assert!(ok);
    assert_eq!(
        args,
        "--crate-name proxydoc --edition=2024 src/lib.rs -Cprofile-generate=/t/pgo/counts"
    );
    let (ok, args, _) = wrapped(Some("use=/t/pgo/proxydoc-1-2.profdata"), OURS);
    assert!(ok);
    assert!(args.ends_with(" src/lib.rs -Cprofile-use=/t/pgo/proxydoc-1-2.profdata"));
}

#[test]
fn other_crates_and_plain_builds_are_passed_as_they_are() {
    for pgo in [
        Some("use=/t/p.profdata"),
        Some("generate=/t/c"),
        Some(""),
        None,
    ] {
        let (ok, args, _) = wrapped(pgo, THEIRS);
        assert!(ok, "{pgo:?}");
        assert_eq!(args, THEIRS.join(" "), "{pgo:?}");
    }
    for pgo in [Some(""), None] {
        let (ok, args, _) = wrapped(pgo, OURS);
        assert!(ok, "{pgo:?}");
        assert_eq!(args, OURS.join(" "), "{pgo:?}");
    }
    // cargo asks rustc its version through the wrapper.
    let (ok, args, _) = wrapped(Some("use=/t/p.profdata"), &["-vV"]);
    assert!(ok);
    assert_eq!(args, "-vV");
}

#[test]
fn an_unknown_setting_is_refused_with_what_is_expected() {
    let (ok, args, stderr) = wrapped(Some("optimise"), OURS);
    assert!(!ok);
    assert_eq!(args, "");
    assert!(stderr.contains("generate=DIR or use=FILE"), "{stderr}");
}

#[test]
fn the_plain_build_says_nothing_of_profiles() {
    // The suite's binary is built without PROXYDOC_PGO.
    let output = Command::new(env!("CARGO_BIN_EXE_proxydoc"))
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(text.trim(), concat!("proxydoc ", env!("CARGO_PKG_VERSION")));
}
