//! The binding table: every REST binding of every RPC method, from the service-config HTTP
//! rules (if any) and the `google.api.http` annotations.

use std::fmt::Write as _;
use std::path::Path;

use prost_reflect::{DescriptorPool, DynamicMessage, Value};

use crate::BuildError;

/// One row of the binding table.
#[derive(Debug, Clone)]
pub(crate) struct Binding {
    pub(crate) method: String,
    pub(crate) http_method: String,
    pub(crate) template: String,
    pub(crate) body: String,
    pub(crate) response_body: String,
    pub(crate) api_version: String,
}

/// Reads every binding: the rules file's first (a service config overrides the annotations, as
/// Earth Engine's does for the Operations mixin), then the protos' own annotations.
///
/// The rules file is a JSON object of `api version -> google.api.Http` (the proto3 JSON form of
/// a service config's `http` section); its keys become the bindings' `api_version`.
pub(crate) fn collect(
    pool: &DescriptorPool,
    rules_file: Option<&Path>,
) -> Result<Vec<Binding>, BuildError> {
    let mut out = Vec::new();
    let http_ext = pool.get_extension_by_name("google.api.http");

    if let Some(path) = rules_file {
        let shown = path.display();
        let http_rule = pool.get_message_by_name("google.api.Http").ok_or_else(|| {
            format!("{shown}: HTTP rules need google/api/http.proto among the compiled protos")
        })?;
        let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
        let versions: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| {
                format!("{shown}: not a JSON object of version -> google.api.Http: {e}")
            })?;
        for (version, http) in versions {
            let http = DynamicMessage::deserialize(http_rule.clone(), http)
                .map_err(|e| format!("{shown}: entry {version:?} is not a google.api.Http: {e}"))?;
            let rules = http.get_field_by_name("rules").ok_or("Http.rules")?;
            for rule in rules.as_list().unwrap_or_default() {
                let rule = rule.as_message().ok_or("a rule is not a message")?;
                let selector = string_field(rule, "selector");
                let method = pool
                    .services()
                    .flat_map(|s| s.methods().collect::<Vec<_>>())
                    .find(|m| m.full_name() == selector)
                    .ok_or_else(|| {
                        format!("{shown}: {version}: no RPC method named {selector:?}")
                    })?;
                push_rule(&mut out, method.full_name(), rule, &version)?;
            }
        }
    }

    if let Some(http_ext) = http_ext {
        for service in pool.services() {
            for method in service.methods() {
                let options = method.options();
                if !options.has_extension(&http_ext) {
                    continue;
                }
                let value = options.get_extension(&http_ext);
                let rule = value
                    .as_message()
                    .ok_or("google.api.http is not a message")?;
                push_rule(&mut out, method.full_name(), rule, "")?;
            }
        }
    }
    Ok(out)
}

fn push_rule(
    out: &mut Vec<Binding>,
    method: &str,
    rule: &DynamicMessage,
    api_version: &str,
) -> Result<(), BuildError> {
    let mut pattern = None;
    for verb in ["get", "put", "post", "delete", "patch"] {
        let path = string_field(rule, verb);
        if !path.is_empty() {
            pattern = Some((verb.to_ascii_uppercase(), path));
        }
    }
    if let Some(Value::Message(custom)) = rule.get_field_by_name("custom").as_deref() {
        let kind = string_field(custom, "kind");
        if !kind.is_empty() {
            pattern = Some((kind, string_field(custom, "path")));
        }
    }
    let (http_method, template) =
        pattern.ok_or_else(|| format!("the HTTP rule for {method} has no pattern"))?;
    out.push(Binding {
        method: method.to_owned(),
        http_method,
        template,
        body: string_field(rule, "body"),
        response_body: string_field(rule, "response_body"),
        api_version: api_version.to_owned(),
    });
    if let Some(extra) = rule.get_field_by_name("additional_bindings") {
        for more in extra.as_list().unwrap_or_default() {
            if let Some(more) = more.as_message() {
                push_rule(out, method, more, api_version)?;
            }
        }
    }
    Ok(())
}

fn string_field(message: &DynamicMessage, name: &str) -> String {
    message
        .get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The rows as Rust `HttpBinding` literals, one per line.
pub(crate) fn render_rows<'a>(bindings: impl IntoIterator<Item = &'a Binding>) -> String {
    let mut s = String::new();
    for b in bindings {
        let _ = writeln!(
            s,
            "::eeops::transcode::HttpBinding {{ method: {:?}, http_method: {:?}, template: {:?}, body: {:?}, response_body: {:?}, api_version: {:?} }},",
            b.method, b.http_method, b.template, b.body, b.response_body, b.api_version
        );
    }
    s
}
