//! Unit tests of the sync plan (`plan.rs`).

use super::*;

fn unit(source: &str) -> Unit {
    Unit {
        source: source.to_string(),
        name: source.to_string(),
        tags: vec!["1".into()],
        from: Source::Layout(PathBuf::from(source)),
    }
}

#[test]
fn shards_are_disjoint_cover_the_plan_and_move_little_when_it_grows() {
    let units: Vec<Unit> = (0..300)
        .map(|i| unit(&format!("r.example/team{}/app{i}", i % 7)))
        .collect();
    let shard: Vec<usize> = units.iter().map(|u| shard_of(u, 3)).collect();
    for s in 0..3 {
        let n = shard.iter().filter(|x| **x == s).count();
        assert!((60..=140).contains(&n), "shard {s} has {n} of 300");
    }
    // A fourth shard takes units only from the others; none moves between the first 3.
    for (u, before) in units.iter().zip(&shard) {
        let after = shard_of(u, 4);
        assert!(
            after == *before || after == 3,
            "{} moved {before} → {after}",
            u.source
        );
    }
}

#[test]
fn tag_selection() {
    let rule = |f: &dyn Fn(&mut RepoRule)| {
        let mut r = RepoRule::default();
        f(&mut r);
        r
    };
    let tags: Vec<String> = [
        "1.0.0",
        "1.2.0",
        "v1.10.1",
        "2.0.0-rc1",
        "2.0.0",
        "latest",
        "1.2.0-debug",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let all = rule(&|r| r.all_tags = true);
    assert_eq!(select(&all, &tags).len(), 7);
    let semver = rule(&|r| r.semver = vec![semver::VersionReq::parse(">=1.2, <2").unwrap()]);
    assert_eq!(select(&semver, &tags), ["1.2.0", "v1.10.1"]);
    let deny = rule(&|r| {
        r.all_tags = true;
        r.deny = Some(regex::Regex::new("rc|debug").unwrap());
    });
    assert_eq!(
        select(&deny, &tags),
        ["1.0.0", "1.2.0", "2.0.0", "latest", "v1.10.1"]
    );
    let newest = rule(&|r| {
        r.all_tags = true;
        r.keep_newest = Some(2);
    });
    assert_eq!(select(&newest, &tags), ["2.0.0", "2.0.0-rc1"]);
}

#[test]
fn full_references() {
    assert_eq!(
        split_full_ref("r.example:5000/lab/app:1").unwrap(),
        ("r.example:5000/lab/app".to_string(), "1".to_string())
    );
    assert_eq!(
        split_full_ref("r.example/app@sha256:ab").unwrap(),
        ("r.example/app".to_string(), "sha256:ab".to_string())
    );
    assert!(split_full_ref("app:1").is_err());
}
