//! Docker as a judge: the daemon loads what oci-copy writes and names its image ID, runs the
//! busybox test image, and holds images for the `docker-daemon:` transport. A machine
//! without a running daemon fails the test with the commands that install and start it;
//! it never skips silently.
//!
//! Every test that touches the daemon holds [`lock`] while it does: tags such as
//! `lab/out:t` are shared by many tests, and a load, inspect and `docker rmi` of one must
//! not interleave with another's.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

use super::{describe, p};

const INSTALL: &str = "install and start it with `apt-get install -y docker.io` and `dockerd &`";

static LOCK: Mutex<()> = Mutex::new(());

/// Exclusive use of the daemon, once it is known to answer.
pub fn lock() -> MutexGuard<'static, ()> {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(why) = CHECKED.get_or_init(daemon_answers) {
        panic!("{why}");
    }
    guard
}

fn daemon_answers() -> Result<(), String> {
    match Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
    {
        Err(e) => Err(format!("the docker command cannot run ({e}): {INSTALL}")),
        Ok(out) if !out.status.success() => Err(format!(
            "the Docker daemon does not answer: {INSTALL}\n{}",
            describe(&out)
        )),
        Ok(_) => Ok(()),
    }
}

/// Runs `docker ARGS`; it must succeed. Call it holding [`lock`].
pub fn docker(args: &[&str]) -> Output {
    let out = docker_may_fail(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed\n{}",
        describe(&out)
    );
    out
}

/// Runs `docker ARGS`, whatever its exit status.
pub fn docker_may_fail(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("the docker command cannot run ({e}): {INSTALL}"))
}

/// The image ID the daemon holds under `name`, or `None`.
pub fn image_id(name: &str) -> Option<String> {
    let out = docker_may_fail(&["image", "inspect", "--format", "{{.Id}}", name]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Images this guard removes from the daemon when it drops, found or not.
pub struct Images(pub Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = docker_may_fail(&["rmi", "--force", name]);
        }
    }
}

/// `docker load` takes the docker-archive `file`, and the image it loads has the ID
/// `config_digest`; the image is removed again. Holds [`lock`] while it does.
pub fn loads_archive(file: &Path, config_digest: &str) {
    let _daemon = lock();
    load_and_check(file, config_digest);
}

/// [`loads_archive`] for a caller that holds [`lock`].
pub fn load_and_check(file: &Path, config_digest: &str) {
    let out = docker(&["load", "--quiet", "--input", &p(file)]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    let names: Vec<String> = said
        .lines()
        .filter_map(|l| {
            l.strip_prefix("Loaded image: ")
                .or_else(|| l.strip_prefix("Loaded image ID: "))
        })
        .map(|n| n.trim().to_string())
        .collect();
    let _loaded = Images(names.clone());
    assert_eq!(names.len(), 1, "docker load said: {said}");
    assert_eq!(
        image_id(&names[0]).as_deref(),
        Some(config_digest),
        "docker's image ID of {} must be the config digest",
        file.display()
    );
}

/// `docker run --rm IMAGE`'s output; it must succeed.
pub fn run(image: &str) -> String {
    let out = docker(&["run", "--rm", "--network", "none", image]);
    String::from_utf8_lossy(&out.stdout).to_string()
}
