//! Typed proto3 JSON.
//!
//! For the messages of the packages named with [`crate::Builder::typed_json`], proto3 JSON is
//! written and read with code generated here, field by field, instead of walking descriptors at
//! run time: that is the hot path of every REST call (the client reads each answer, the server
//! writes it). The code covers what those packages use; a message with a field it does not
//! cover (bytes, a map with a non-string key, a repeated enum, another well-known type) gets no
//! typed code, and every caller falls back to the prost-reflect mapping for it. The runtime half
//! is eeops' `src/json/typed.rs`, into which the generated file is included.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use prost_reflect::{DescriptorPool, MessageDescriptor};

use crate::names::{field_ident, snake, upper_camel};

/// The Rust path prost-build gives a message or enum (`google.rpc.BadRequest.FieldViolation`
/// -> `crate::pb::google::rpc::bad_request::FieldViolation`).
pub(crate) fn rust_type_path(root: &str, package: &str, full_name: &str) -> String {
    match full_name {
        "google.protobuf.Any" => return "::prost_types::Any".into(),
        "google.protobuf.Duration" => return "::prost_types::Duration".into(),
        "google.protobuf.Timestamp" => return "::prost_types::Timestamp".into(),
        _ => {}
    }
    let mut path = String::from(root);
    for part in package.split('.').filter(|p| !p.is_empty()) {
        path.push_str("::");
        path.push_str(part);
    }
    let local = full_name
        .strip_prefix(package)
        .unwrap_or(full_name)
        .trim_start_matches('.');
    let parts: Vec<&str> = local.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        path.push_str("::");
        if i + 1 == parts.len() {
            path.push_str(&upper_camel(part));
        } else {
            path.push_str(&snake(part));
        }
    }
    path
}

/// How one value of a field is written and read.
struct ValueCode {
    /// An expression writing `v` (a reference) to `out`; may use `?`.
    write: String,
    /// The type read from JSON (a wrapper with `into_inner`).
    read_ty: String,
}

fn value_code(
    root: &str,
    kind: &prost_reflect::Kind,
    package_of: &dyn Fn(&str) -> String,
) -> Option<ValueCode> {
    use prost_reflect::Kind;
    let (write, read_ty) = match kind {
        Kind::String => ("w_str(out, v)".to_owned(), "String".to_owned()),
        Kind::Bool => ("w_bool(out, *v)".to_owned(), "bool".to_owned()),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            ("w_int(out, *v)".to_owned(), "I32".to_owned())
        }
        Kind::Uint32 | Kind::Fixed32 => ("w_int(out, *v)".to_owned(), "U32".to_owned()),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            ("w_quoted_int(out, *v)".to_owned(), "I64".to_owned())
        }
        Kind::Uint64 | Kind::Fixed64 => ("w_quoted_int(out, *v)".to_owned(), "U64".to_owned()),
        Kind::Double => ("w_f64(out, *v)".to_owned(), "F64".to_owned()),
        Kind::Float => ("w_f32(out, *v)".to_owned(), "F32".to_owned()),
        Kind::Bytes => return None,
        Kind::Enum(e) => {
            let path = rust_type_path(root, e.package_name(), e.full_name());
            (
                format!("w_enum(out, *v, {path}::try_from(*v).ok().map(|e| e.as_str_name()))"),
                // Read by the caller with an enum seed.
                String::new(),
            )
        }
        Kind::Message(m) => match m.full_name() {
            "google.protobuf.Any" => ("w_any(out, v)?".to_owned(), "AnyJson".to_owned()),
            "google.protobuf.Duration" => (
                "w_duration(out, v)?".to_owned(),
                "FromText<::prost_types::Duration>".to_owned(),
            ),
            "google.protobuf.Timestamp" => (
                "w_timestamp(out, v)?".to_owned(),
                "FromText<::prost_types::Timestamp>".to_owned(),
            ),
            name => {
                let path = package_of(name);
                if path.is_empty() {
                    return None;
                }
                ("w_msg(out, v)?".to_owned(), format!("Msg<{path}>"))
            }
        },
    };
    Some(ValueCode { write, read_ty })
}

/// The Rust path of a message with typed code, or `""` if it has none.
fn typed_path(root: &str, pool: &DescriptorPool, names: &BTreeSet<String>, name: &str) -> String {
    match pool.get_message_by_name(name) {
        Some(m) if names.contains(name) => rust_type_path(root, m.package_name(), name),
        _ => String::new(),
    }
}

/// The messages of `packages` that get typed code, by full name.
pub(crate) fn candidates(
    root: &str,
    pool: &DescriptorPool,
    packages: &[String],
) -> BTreeMap<String, MessageDescriptor> {
    use prost_reflect::Kind;

    let mut candidates: BTreeMap<String, MessageDescriptor> = pool
        .all_messages()
        .filter(|m| packages.iter().any(|p| p == m.package_name()) && !m.is_map_entry())
        .map(|m| (m.full_name().to_owned(), m))
        .collect();
    // Drop every message with a field the generated code does not cover, and then every
    // message that refers to a dropped one, until nothing changes.
    loop {
        let before = candidates.len();
        let names: BTreeSet<String> = candidates.keys().cloned().collect();
        let path_of = |name: &str| typed_path(root, pool, &names, name);
        candidates.retain(|_, m| {
            m.fields().all(|f| {
                if f.is_map() {
                    let Kind::Message(entry) = f.kind() else {
                        return false;
                    };
                    let value = entry.map_entry_value_field().kind();
                    entry.map_entry_key_field().kind() == Kind::String
                        && !matches!(value, Kind::Enum(_))
                        && value_code(root, &value, &path_of).is_some()
                } else if f.is_list() && matches!(f.kind(), Kind::Enum(_)) {
                    false
                } else {
                    value_code(root, &f.kind(), &path_of).is_some()
                }
            })
        });
        if candidates.len() == before {
            break;
        }
    }
    candidates
}

/// The typed JSON code: a `TypedJson` impl per candidate message, and the `Any` registry.
pub(crate) fn render(root: &str, pool: &DescriptorPool, packages: &[String]) -> String {
    use prost_reflect::Kind;

    let candidates = candidates(root, pool, packages);
    let names: BTreeSet<String> = candidates.keys().cloned().collect();
    let path_of = |name: &str| typed_path(root, pool, &names, name);

    let mut out = String::from("// Generated by eeops-build: typed proto3 JSON. Do not edit.\n\n");
    let mut any_read = String::new();
    let mut any_write = String::new();
    for (name, m) in &candidates {
        let ty = rust_type_path(root, m.package_name(), name);
        let mut fields: Vec<_> = m.fields().collect();
        fields.sort_by_key(|f| f.number());
        let mut write = String::new();
        let mut read = String::new();
        for f in &fields {
            let ident = field_ident(f.name());
            let key_lit = format!("b\"\\\"{}\\\":\"", f.json_name());
            let keys = if f.json_name() == f.name() {
                format!("{:?}", f.name())
            } else {
                format!("{:?} | {:?}", f.json_name(), f.name())
            };
            let oneof = f.containing_oneof().filter(|o| !o.is_synthetic());
            if f.is_map() {
                let Kind::Message(entry) = f.kind() else {
                    unreachable!()
                };
                let vc = value_code(root, &entry.map_entry_value_field().kind(), &path_of)
                    .expect("checked above");
                let _ = writeln!(
                    write,
                    "        if !self.{ident}.is_empty() {{\n            key(out, first, {key_lit});\n            out.push(b'{{');\n            for (i, (k, v)) in self.{ident}.iter().enumerate() {{\n                if i > 0 {{ out.push(b','); }}\n                w_str(out, k);\n                out.push(b':');\n                {};\n            }}\n            out.push(b'}}');\n        }}",
                    vc.write
                );
                let _ = writeln!(
                    read,
                    "            {keys} => {{\n                if let Some(v) = map.next_value::<Option<::std::collections::HashMap<String, {}>>>()? {{\n                    self.{ident} = v.into_iter().map(|(k, v)| (k, v.into_inner())).collect();\n                }}\n            }}",
                    vc.read_ty
                );
                continue;
            }
            let vc = value_code(root, &f.kind(), &path_of).expect("checked above");
            let is_enum = matches!(f.kind(), Kind::Enum(_));
            let enum_path = match f.kind() {
                Kind::Enum(e) => rust_type_path(root, e.package_name(), e.full_name()),
                _ => String::new(),
            };
            if f.is_list() {
                let _ = writeln!(
                    write,
                    "        if !self.{ident}.is_empty() {{\n            key(out, first, {key_lit});\n            out.push(b'[');\n            for (i, v) in self.{ident}.iter().enumerate() {{\n                if i > 0 {{ out.push(b','); }}\n                {};\n            }}\n            out.push(b']');\n        }}",
                    vc.write
                );
                let _ = writeln!(
                    read,
                    "            {keys} => {{\n                if let Some(v) = map.next_value::<Option<Vec<{}>>>()? {{\n                    self.{ident} = v.into_iter().map(Wrap::into_inner).collect();\n                }}\n            }}",
                    vc.read_ty
                );
                continue;
            }
            // What is read (`Option<value>`; `None` for null), and how it is stored.
            let read_value = if is_enum {
                format!(
                    "map.next_value_seed(EnumSeed(|s| {enum_path}::from_str_name(s).map(|e| e as i32)))?.flatten()"
                )
            } else {
                format!(
                    "map.next_value::<Option<{}>>()?.map(Wrap::into_inner)",
                    vc.read_ty
                )
            };
            let is_message = matches!(f.kind(), Kind::Message(_));
            if let Some(o) = oneof {
                let oneof_ident = field_ident(&snake(o.name()));
                let variant = format!(
                    "{}::{}::{}",
                    rust_type_path(root, m.package_name(), name)
                        .rsplit_once("::")
                        .map(|(p, _)| p.to_owned())
                        .unwrap_or_default(),
                    snake(m.name()),
                    upper_camel(o.name())
                );
                let variant = format!("{variant}::{}", upper_camel(f.name()));
                let _ = writeln!(
                    write,
                    "        if let Some({variant}(v)) = &self.{oneof_ident} {{\n            key(out, first, {key_lit});\n            {};\n        }}",
                    vc.write
                );
                let _ = writeln!(
                    read,
                    "            {keys} => {{\n                if let Some(v) = {read_value} {{\n                    if self.{oneof_ident}.is_some() {{\n                        return Err(oneof_twice({:?}));\n                    }}\n                    self.{oneof_ident} = Some({variant}(v));\n                }}\n            }}",
                    o.name()
                );
                continue;
            }
            let optional = f.supports_presence() || is_message;
            if optional {
                let _ = writeln!(
                    write,
                    "        if let Some(v) = &self.{ident} {{\n            key(out, first, {key_lit});\n            {};\n        }}",
                    vc.write
                );
                let _ = writeln!(
                    read,
                    "            {keys} => {{\n                if let Some(v) = {read_value} {{\n                    self.{ident} = Some(v);\n                }}\n            }}"
                );
                continue;
            }
            let non_default = match f.kind() {
                Kind::String => format!("!self.{ident}.is_empty()"),
                Kind::Bool => format!("self.{ident}"),
                Kind::Double | Kind::Float => format!("self.{ident} != 0.0"),
                _ => format!("self.{ident} != 0"),
            };
            let _ = writeln!(
                write,
                "        if {non_default} {{\n            key(out, first, {key_lit});\n            let v = &self.{ident};\n            {};\n        }}",
                vc.write
            );
            let _ = writeln!(
                read,
                "            {keys} => {{\n                if let Some(v) = {read_value} {{\n                    self.{ident} = v;\n                }}\n            }}"
            );
        }
        let _ = writeln!(
            out,
            "impl TypedJson for {ty} {{\n    fn write_fields(&self, out: &mut Vec<u8>, first: &mut bool) -> Result<(), Fallback> {{\n        let _ = (&out, &first);\n{write}        Ok(())\n    }}\n\n    fn read_field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {{\n        match key {{\n{read}            _ => {{\n                map.next_value::<IgnoredAny>()?;\n            }}\n        }}\n        Ok(())\n    }}\n}}\n"
        );
        let _ = writeln!(
            any_read,
            "        {name:?} => read_rest::<{ty}, A>(map)?.encode_to_vec(),"
        );
        let _ = writeln!(
            any_write,
            "        {name:?} => write_payload::<{ty}>(value, out),"
        );
    }
    let _ = writeln!(
        out,
        "/// Reads the fields after `@type` of an `Any` of the named type; `None` if it has no typed code.\npub(crate) fn read_any_payload<'de, A: MapAccess<'de>>(type_name: &str, map: &mut A) -> Result<Option<Vec<u8>>, A::Error> {{\n    Ok(Some(match type_name {{\n{any_read}        _ => return Ok(None),\n    }}))\n}}\n\n/// Writes the fields of an `Any`'s value of the named type; `None` if it has no typed code.\npub(crate) fn write_any_payload(type_name: &str, value: &[u8], out: &mut Vec<u8>) -> Option<Result<(), Fallback>> {{\n    Some(match type_name {{\n{any_write}        _ => return None,\n    }})\n}}\n\n/// The messages with typed code, by full name.\n#[cfg(test)]\npub(crate) const TYPED_MESSAGES: &[&str] = &{:?};",
        names.iter().collect::<Vec<_>>()
    );
    out
}
