//! `oci-copy probe docker://HOST/REPO`: runs the registry probe, prints its report (a table,
//! or JSON with `--json`), and decides the exit status: 0 when the registry can take images
//! of the format asked about (that manifest type accepted, and uploads that work and keep
//! their sessions), 1 otherwise.

use anyhow::{bail, Result};
use serde_json::json;

use crate::cli::ProbeArgs;
use crate::media_type::Format;
use crate::transport::registry::probe::{self, Cap, Check, ProbeReport};

/// Runs the probe and prints the report; fails (exit 1) when the registry cannot take
/// images of the format asked about.
pub fn run(args: ProbeArgs) -> Result<()> {
    let format: Format = args.format.into();
    let mut opts = args.registry.options();
    opts.retry.stall = (!args.stall_timeout.is_zero()).then_some(args.stall_timeout);
    let report = probe::probe(&args.repository, &opts, args.uploads as usize)?;
    let reasons = reasons(&report, format);
    let text = match args.json {
        true => {
            let mut t = serde_json::to_vec_pretty(&to_json(&report, format, &reasons))?;
            t.push(b'\n');
            t
        }
        false => render(&report, format, &reasons).into_bytes(),
    };
    crate::print(&text)?;
    if !reasons.is_empty() {
        bail!(
            "docker://{}: the registry cannot take {} images: {}",
            args.repository.repository(),
            format_name(format),
            reasons.join("; ")
        );
    }
    Ok(())
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Oci => "OCI",
        Format::V2s2 => "Docker v2s2",
    }
}

/// Why the registry cannot take images of `format`; empty when it can.
pub fn reasons(r: &ProbeReport, format: Format) -> Vec<String> {
    let mut out = Vec::new();
    let (cap, what) = match format {
        Format::Oci => (Cap::OciManifest, "OCI image manifests"),
        Format::V2s2 => (Cap::DockerManifest, "Docker v2s2 manifests"),
    };
    if let Some(c) = r.get(cap) {
        match c.supported {
            Some(true) => {}
            Some(false) => out.push(format!("{what} are refused ({})", c.evidence)),
            None => out.push(format!("{what} could not be pushed ({})", c.evidence)),
        }
    }
    let works = |cap| {
        r.get(cap)
            .is_some_and(|c: &Check| c.supported == Some(true))
    };
    let s = &r.upload_sessions;
    // Uploads that failed because sessions were lost are explained by the next reason.
    if !works(Cap::ChunkedUpload) && !works(Cap::MonolithicUpload) && s.consistent {
        out.push("neither chunked nor monolithic uploads worked".into());
    }
    if !s.consistent {
        let lost = s.problems.iter().any(|p| p.failure.kind.is_session_loss());
        let why = if lost {
            "upload sessions are lost between requests: the signature of registry replicas behind a load balancer without shared storage or a shared http.secret, or of an unreliable NFS"
        } else {
            "uploads fail part-way"
        };
        out.push(format!(
            "{why} ({} of {} uploads failed; see the report)",
            s.uploads - s.completed,
            s.uploads
        ));
    }
    out
}

fn yes_no(c: &Check) -> &'static str {
    match c.supported {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

/// The report as JSON: the verdict first, then what was probed, `capabilities` by key,
/// the upload sessions and the cleanup.
pub fn to_json(r: &ProbeReport, format: Format, reasons: &[String]) -> serde_json::Value {
    let caps: serde_json::Map<String, serde_json::Value> = r
        .capabilities
        .iter()
        .map(|(cap, c)| {
            let v = serde_json::to_value(c).expect("a check serialises");
            (cap.key().to_string(), v)
        })
        .collect();
    json!({
        "format": format.name(),
        "ready": reasons.is_empty(),
        "reasons": reasons,
        "registry": r.registry,
        "repository": r.repository,
        "url": r.url,
        "api_version": r.api_version,
        "api_evidence": r.api_evidence,
        "auth": r.auth,
        "probe_tag": r.probe_tag,
        "capabilities": caps,
        "upload_sessions": r.upload_sessions,
        "cleanup": r.cleanup,
        "rate_limit": r.rate_limit,
    })
}

/// `text` folded at spaces into lines of at most `width` characters, continuation lines
/// starting with `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut lines: Vec<String> = vec![String::new()];
    for word in text.split_whitespace() {
        let cur = lines.last_mut().expect("there is always a line");
        if !cur.trim().is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(format!("{indent}{word}"));
        } else {
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
        }
    }
    lines.join("\n")
}

/// The report as a table, with the session diagnosis, the cleanup and the verdict.
pub fn render(r: &ProbeReport, format: Format, reasons: &[String]) -> String {
    let mut s = render_header(r);
    s += &format!("{:<30} {:<9} EVIDENCE\n", "CAPABILITY", "SUPPORTED");
    for (cap, c) in &r.capabilities {
        s += &format!("{:<30} {:<9} {}\n", cap.label(), yes_no(c), c.evidence);
        if let Some(n) = &c.note {
            s += &format!("{:<40} ({n})\n", "");
        }
    }
    let u = &r.upload_sessions;
    let text = format!("Upload sessions: {}", u.diagnosis);
    s += &format!("\n{}\n", wrap(&text, 96, ""));
    for p in u.problems.iter().chain(&u.warnings) {
        s += &format!(
            "  upload {} at {}: {}\n",
            p.upload, p.failure.step, p.failure.evidence
        );
    }
    s += &render_cleanup(r);
    s + &render_verdict(format, reasons)
}

/// Registry, API version, auth and the probe's tags.
fn render_header(r: &ProbeReport) -> String {
    let api = r
        .api_version
        .as_deref()
        .unwrap_or("(no Docker-Distribution-API-Version header)");
    let mut auth = r.auth.scheme.clone();
    if let Some(realm) = &r.auth.realm {
        auth += &format!(" (realm {realm}");
        if let Some(service) = &r.auth.service {
            auth += &format!(", service {service}");
        }
        auth += ")";
    }
    if let Some(from) = &r.auth.credentials_from {
        auth += &format!("; credentials from {from}");
    }
    let limit = match &r.rate_limit {
        Some(l) => format!("Rate limit   {l}\n"),
        None => String::new(),
    };
    format!(
        "Registry     {} ({}), repository {}\nAPI version  {api} ({})\nAuth         {auth}\n{limit}Probe tags   {}-*\n\n",
        r.registry, r.url, r.repository, r.api_evidence, r.probe_tag
    )
}

/// What the probe deleted, and what it could not or would not.
fn render_cleanup(r: &ProbeReport) -> String {
    let mut s = format!("\nCleanup: deleted {} objects", r.cleanup.deleted.len());
    if r.cleanup.not_deleted.is_empty() {
        s += "; nothing the probe wrote is left.\n";
    } else {
        s += &format!("; could not delete {}:\n", r.cleanup.not_deleted.len());
        for n in &r.cleanup.not_deleted {
            s += &format!("  {}: {}\n", n.object, n.reason);
        }
    }
    for l in &r.cleanup.left_alone {
        s += &format!("  left alone (it was there before): {l}\n");
    }
    s
}

fn render_verdict(format: Format, reasons: &[String]) -> String {
    if reasons.is_empty() {
        return format!(
            "\nVerdict: this registry can take {} images.\n",
            format_name(format)
        );
    }
    let mut s = format!(
        "\nVerdict: this registry cannot take {} images:\n",
        format_name(format)
    );
    for why in reasons {
        s += &format!("  - {why}\n");
    }
    s
}
