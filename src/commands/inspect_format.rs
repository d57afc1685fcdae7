//! `inspect --format TEMPLATE`: the field lookups of a Go template, as `skopeo inspect
//! --format` takes them: `{{.Digest}}`, `{{.Labels.KEY}}`, `{{index .Labels "a.b"}}`, with
//! text between them, `{{-`/`-}}` trimming, and `\n`/`\t` in the text. Values print as Go
//! prints them (`[a b]` for a list, `map[k:v]` for labels, `<no value>` for a missing
//! label, the creation time as `2024-01-02 03:04:05 +0000 UTC`), and a newline ends the
//! output unless the template ends with one. Anything else a Go template can do
//! (conditions, loops, pipes, functions other than `index`) is refused when the template
//! is parsed, before the image is read.

use anyhow::{bail, Result};
use serde_json::Value;

/// The fields of the summary, as `skopeo inspect` names them.
const FIELDS: &[&str] = &[
    "Name",
    "Tag",
    "Digest",
    "RepoTags",
    "Created",
    "DockerVersion",
    "Labels",
    "Architecture",
    "Variant",
    "Os",
    "Layers",
    "LayersData",
    "Env",
];

/// A parsed template: text, and lookups of a field or of one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(String),
    Label(String),
}

impl Template {
    /// Parses `s`, refusing what is not a field lookup.
    pub fn parse(s: &str) -> Result<Template> {
        let mut pieces = Vec::new();
        let mut rest = s;
        while let Some(open) = rest.find("{{") {
            let Some(len) = rest[open..].find("}}") else {
                bail!(
                    "--format {s:?}: {{{{ at byte {} is not closed",
                    s.len() - rest.len() + open
                );
            };
            let action = &rest[open + 2..open + len];
            let (action, trim_before) = match action.strip_prefix("- ") {
                Some(a) => (a, true),
                None => (action, false),
            };
            let (action, trim_after) = match action.strip_suffix(" -") {
                Some(a) => (a, true),
                None => (action, false),
            };
            let mut text = unescape(&rest[..open]);
            if trim_before {
                text.truncate(text.trim_end().len());
            }
            pieces.push(Piece::Text(text));
            pieces.push(lookup(action.trim()).map_err(|e| anyhow::anyhow!("--format {s:?}: {e}"))?);
            rest = &rest[open + len + 2..];
            if trim_after {
                rest = rest.trim_start();
            }
        }
        pieces.push(Piece::Text(unescape(rest)));
        pieces.retain(|p| p != &Piece::Text(String::new()));
        Ok(Template(pieces))
    }

    /// Renders the template over the summary (`Summary` as JSON).
    pub fn render(&self, summary: &Value) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => out.push_str(&field(summary, f)),
                Piece::Label(k) => match summary["Labels"].get(k) {
                    Some(v) => out.push_str(&go_value(v, false)),
                    None => out.push_str("<no value>"),
                },
            }
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out
    }
}

/// One action: `.Field`, `.Labels.KEY` or `index .Labels "KEY"`.
fn lookup(action: &str) -> Result<Piece> {
    if let Some(args) = action.strip_prefix("index ") {
        let key = args.trim().strip_prefix(".Labels").map(str::trim);
        let key = key.and_then(|k| k.strip_prefix('"')?.strip_suffix('"'));
        return match key {
            Some(k) if !k.contains(['"', '\\']) => Ok(Piece::Label(k.to_string())),
            _ => bail!("{{{{{action}}}}}: only `index .Labels \"KEY\"` is supported"),
        };
    }
    let path: Vec<&str> = match action.strip_prefix('.') {
        Some(p) if !p.is_empty() => p.split('.').collect(),
        _ => bail!(
            "{{{{{action}}}}} is not a field lookup; only {{{{.Field}}}}, {{{{.Labels.KEY}}}} \
             and {{{{index .Labels \"KEY\"}}}} are supported"
        ),
    };
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !path.iter().all(|p| ok(p)) {
        bail!("{{{{{action}}}}} is not a field lookup; only {{{{.Field}}}}, {{{{.Labels.KEY}}}} and {{{{index .Labels \"KEY\"}}}} are supported");
    }
    if !FIELDS.contains(&path[0]) {
        bail!(
            "no field {} (the fields are {})",
            path[0],
            FIELDS.join(", ")
        );
    }
    match path.as_slice() {
        [f] => Ok(Piece::Field(f.to_string())),
        ["Labels", key] => Ok(Piece::Label(key.to_string())),
        [f, sub, ..] => {
            bail!("{{{{{action}}}}}: {f} has no field {sub} (only Labels has keys to look up)")
        }
        [] => unreachable!("split gives at least one part"),
    }
}

/// `\n` and `\t` in the text, as skopeo reads them.
fn unescape(s: &str) -> String {
    s.replace("\\n", "\n").replace("\\t", "\t")
}

/// A top-level field as Go prints it; one the summary leaves out is empty.
fn field(summary: &Value, name: &str) -> String {
    match (name, summary.get(name)) {
        ("Created", Some(Value::String(t))) => go_time(t).unwrap_or_else(|| t.clone()),
        ("Created", None | Some(Value::Null)) => "<nil>".to_string(),
        ("Labels", Some(v)) => go_value(v, true),
        ("Env" | "Layers" | "RepoTags", Some(Value::Null)) => "[]".to_string(),
        (_, Some(v)) => go_value(v, false),
        (_, None) => String::new(),
    }
}

/// A value as Go's `fmt` prints it: a list `[a b]`, a map (labels, annotations) `map[k:v]`
/// with sorted keys, a struct (a layer's data) `{v1 v2}` in field order.
fn go_value(v: &Value, is_map: bool) -> String {
    match v {
        Value::Null if is_map => "map[]".to_string(),
        Value::Null => "<nil>".to_string(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(|x| go_value(x, false)).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(o) if is_map => {
            let mut kv: Vec<(&String, &Value)> = o.iter().collect();
            kv.sort_by(|a, b| a.0.cmp(b.0));
            let items: Vec<String> = kv
                .iter()
                .map(|(k, v)| format!("{k}:{}", go_value(v, false)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
        Value::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, v)| go_value(v, k == "Annotations"))
                .collect();
            format!("{{{}}}", items.join(" "))
        }
    }
}

/// An RFC 3339 time as Go prints a `time.Time`: `2024-01-02 03:04:05.5 +0000 UTC`, or
/// `… +0200 +0200` for an offset, whose zone has no name.
fn go_time(t: &str) -> Option<String> {
    let (date, rest) = t.split_once(['T', 't'])?;
    let zone_at = rest.find(['Z', 'z', '+', '-'])?;
    let (clock, zone) = rest.split_at(zone_at);
    let (hms, frac) = match clock.split_once('.') {
        Some((h, f)) if f.chars().all(|c| c.is_ascii_digit()) => (h, f.trim_end_matches('0')),
        Some(_) => return None,
        None => (clock, ""),
    };
    if date.len() != 10 || hms.len() != 8 {
        return None;
    }
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    let zone = match zone {
        "Z" | "z" => "+0000 UTC".to_string(),
        z if z.len() == 6 && &z[3..4] == ":" => {
            let off = format!("{}{}", &z[..3], &z[4..]);
            format!("{off} {off}")
        }
        _ => return None,
    };
    Some(format!("{date} {hms}{frac} {zone}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().render(v)
    }

    #[test]
    fn looks_up_fields_as_go_prints_them() {
        let v = serde_json::json!({
            "Digest": "sha256:ab", "Labels": {"b": "2", "a.x": "1"}, "Env": null,
            "Layers": ["l1", "l2"], "Created": "2024-01-02T03:04:05.120Z",
            "LayersData": [{"MIMEType": "t", "Size": 3, "Annotations": null}],
        });
        assert_eq!(render("{{.Digest}}", &v), "sha256:ab\n");
        assert_eq!(render("d={{ .Digest }}\\n", &v), "d=sha256:ab\n");
        assert_eq!(render("{{.Labels}} {{.Env}}", &v), "map[a.x:1 b:2] []\n");
        assert_eq!(render("{{.Labels.b}}/{{.Labels.c}}", &v), "2/<no value>\n");
        assert_eq!(render("{{index .Labels \"a.x\"}}", &v), "1\n");
        assert_eq!(render("{{.Layers}}|{{.Name}}|", &v), "[l1 l2]||\n");
        assert_eq!(
            render("{{.Created}}", &v),
            "2024-01-02 03:04:05.12 +0000 UTC\n"
        );
        assert_eq!(render("{{.LayersData}}", &v), "[{t 3 map[]}]\n");
        assert_eq!(render("a  {{- .Digest -}}  b", &v), "asha256:abb\n");
        assert_eq!(
            go_time("2024-01-02T03:04:05+02:00").unwrap(),
            "2024-01-02 03:04:05 +0200 +0200"
        );
    }

    #[test]
    fn refuses_what_is_not_a_field_lookup() {
        for (t, want) in [
            ("{{.Nope}}", "no field Nope"),
            ("{{.Digest.x}}", "Digest has no field x"),
            ("{{json .Labels}}", "not a field lookup"),
            ("{{if .Digest}}x{{end}}", "not a field lookup"),
            ("{{.Digest | printf}}", "not a field lookup"),
            ("{{.}}", "not a field lookup"),
            ("{{index .Env 0}}", "only `index .Labels"),
            ("x {{.Digest", "is not closed"),
        ] {
            let e = format!("{:#}", Template::parse(t).unwrap_err());
            assert!(e.contains(want), "{t}: {e}");
        }
    }
}
