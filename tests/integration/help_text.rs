//! `oci-copy --help` is the help of the main form, `oci-copy SRC DST`: it lists every option
//! `oci-copy copy --help` lists, and so does the top of the man page.

use crate::support::{assert_success, oci_copy};

/// The long options (`--name`) a help text lists at the start of a line.
fn long_options(help: &str) -> Vec<String> {
    let mut out: Vec<String> = help
        .lines()
        .map(str::trim_start)
        .filter_map(|l| l.strip_prefix("-").map(|_| l))
        .filter_map(|l| l.split("--").nth(1))
        .map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            format!("--{name}")
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn stdout_of(args: &[&str]) -> String {
    let out = oci_copy(args);
    assert_success(&out);
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

#[test]
fn top_level_help_lists_every_copy_option() {
    let copy = long_options(&stdout_of(&["copy", "--help"]));
    assert!(copy.len() >= 25, "too few copy options found: {copy:?}");
    for args in [&["--help"][..], &["-h"]] {
        let top = long_options(&stdout_of(args));
        let missing: Vec<_> = copy.iter().filter(|o| !top.contains(o)).collect();
        assert!(missing.is_empty(), "oci-copy {args:?} lacks {missing:?}");
    }
    let top = stdout_of(&["--help"]);
    assert!(top.starts_with("Copy container images"), "{top}");
    assert!(top.contains("Usage: oci-copy [OPTIONS] SRC DST"), "{top}");
    assert!(
        top.contains("manifest-digest"),
        "the commands are listed too"
    );
}

#[test]
fn the_man_page_lists_the_copy_options_at_the_top() {
    let man = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/oci-copy.1"))
        .expect("man/oci-copy.1");
    let top = man.split("\n.TH ").nth(1).expect("a first page");
    for flag in [
        "format",
        "dest\\-compress\\-format",
        "all",
        "src\\-creds",
        "digestfile",
    ] {
        assert!(
            top.contains(&format!("\\-\\-{flag}")),
            "oci-copy(1) lacks --{flag}"
        );
    }
}

#[test]
fn no_arguments_prints_the_help() {
    let out = oci_copy::<[&str; 0], &str>([]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--dest-compress-format"), "{err}");
}
