//! The server's short way from a routed request to its protobuf bytes.
//!
//! Most REST requests carry nothing but scalars: a name in the path (`GET
//! /v1/shelves/1/books/2`), perhaps a page size and a token in the query. For those the request
//! message is written straight as protobuf wire bytes, field by field, and the caller decodes
//! its typed message from them; no `DynamicMessage` is built and transcoded.
//!
//! Anything else (a body, a repeated or message-typed field, a well-known type in the query, a
//! parameter given twice, a value that does not parse, a name that is no field) gives `None`,
//! and the caller takes [`decode_request`](super::decode_request), which builds the same message
//! or gives the error. The rules are that function's: query parameters first, then path
//! variables, so that a path variable wins (on the wire the last value of a singular field
//! wins, and a message field written twice is merged).

#![cfg_attr(not(feature = "server"), allow(dead_code))]

use std::sync::OnceLock;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor, Value};

use super::message::{field_by_name, form_decode, is_scalar_wkt, parse_kind};
use super::router::RouteMatch;

/// The request of `route` as protobuf bytes of `desc`, when it has only scalar values (see the
/// module docs); `None` sends the caller to `decode_request`.
pub(crate) fn encode_scalar_request(
    route: &RouteMatch<'_>,
    desc: &MessageDescriptor,
    query: Option<&str>,
    body: &[u8],
    ignored_params: &[&str],
) -> Option<Vec<u8>> {
    if !route.binding.body.is_empty() && !body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let mut out = Vec::with_capacity(64);
    if let Some(query) = query {
        let plus_as_space = route.options.query_plus_as_space;
        let mut seen: Vec<FieldDescriptor> = Vec::new();
        for (raw_key, raw_value) in crate::codec::query_pairs(query) {
            let key = form_decode(raw_key, plus_as_space).ok()?;
            if ignored_params.contains(&key.as_str()) {
                continue;
            }
            let value = form_decode(raw_value, plus_as_space).ok()?;
            let field = Resolved::new(desc, &key, true)?;
            if seen.contains(&field.leaf) {
                return None;
            }
            field.write(&value, &mut out)?;
            seen.push(field.leaf);
        }
    }
    let cached = route.compiled.path_fields.0.get_or_init(|| {
        let fields = route
            .variables
            .iter()
            .map(|(field_path, _)| Resolved::new(desc, field_path, false))
            .collect();
        (desc.clone(), fields)
    });
    if cached.0 == *desc {
        let fields = cached.1.as_ref()?;
        for (field, (_, value)) in fields.iter().zip(&route.variables) {
            field.write(value, &mut out)?;
        }
    } else {
        // Another message than the binding's first request had (not the server's case).
        for (field_path, value) in &route.variables {
            Resolved::new(desc, field_path, false)?.write(value, &mut out)?;
        }
    }
    Some(out)
}

/// A binding's path variables resolved against its request message, in template order
/// (`None` when one of them is not a singular scalar), worked out once.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathFields(OnceLock<(MessageDescriptor, Option<Vec<Resolved>>)>);

/// A field path resolved to a singular scalar field, through singular message fields.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The numbers of the message fields that enclose the leaf, outermost first.
    parents: Vec<u32>,
    leaf: FieldDescriptor,
    /// The leaf is a string: its text goes on the wire as it is.
    is_string: bool,
}

impl Resolved {
    fn new(desc: &MessageDescriptor, path: &str, json_names: bool) -> Option<Self> {
        let lookup = |desc: &MessageDescriptor, name: &str| field_by_name(desc, name, json_names);
        let mut parents = Vec::new();
        let mut names = path.split('.');
        let mut current = lookup(desc, names.next()?)?;
        for name in names {
            if current.is_list() || current.is_map() {
                return None;
            }
            let Kind::Message(m) = current.kind() else {
                return None;
            };
            if is_scalar_wkt(&m) {
                return None;
            }
            parents.push(current.number());
            current = lookup(&m, name)?;
        }
        if current.is_list() || current.is_map() || matches!(current.kind(), Kind::Message(_)) {
            return None;
        }
        Some(Self {
            parents,
            is_string: matches!(current.kind(), Kind::String),
            leaf: current,
        })
    }

    /// Appends the field set to `text` (wrapped in its enclosing messages); `None` when `text`
    /// does not parse as the field's type.
    fn write(&self, text: &str, out: &mut Vec<u8>) -> Option<()> {
        if self.parents.is_empty() {
            return self.write_leaf(text, out);
        }
        let mut inner = Vec::new();
        self.write_leaf(text, &mut inner)?;
        for &number in self.parents.iter().rev() {
            let mut wrapped = Vec::with_capacity(inner.len() + 8);
            write_len_delimited(number, &inner, &mut wrapped);
            inner = wrapped;
        }
        out.extend_from_slice(&inner);
        Some(())
    }

    fn write_leaf(&self, text: &str, out: &mut Vec<u8>) -> Option<()> {
        if self.is_string {
            write_len_delimited(self.leaf.number(), text.as_bytes(), out);
            return Some(());
        }
        let value = parse_kind(&self.leaf.kind(), text).ok()?;
        write_scalar(&self.leaf, &value, out)
    }
}

/// Wire types of the protobuf encoding.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

fn write_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn write_key(number: u32, wire_type: u32, out: &mut Vec<u8>) {
    write_varint(u64::from((number << 3) | wire_type), out);
}

fn write_len_delimited(number: u32, bytes: &[u8], out: &mut Vec<u8>) {
    write_key(number, LEN, out);
    write_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Appends one scalar field; `None` when the value does not fit the field's kind.
fn write_scalar(fd: &FieldDescriptor, value: &Value, out: &mut Vec<u8>) -> Option<()> {
    let n = fd.number();
    match (fd.kind(), value) {
        (Kind::String, Value::String(s)) => write_len_delimited(n, s.as_bytes(), out),
        (Kind::Bytes, Value::Bytes(b)) => write_len_delimited(n, b, out),
        // int32 and enums are sign-extended to 64 bits on the wire.
        (Kind::Int32, Value::I32(v)) | (Kind::Enum(_), Value::EnumNumber(v)) => {
            write_key(n, VARINT, out);
            write_varint(i64::from(*v) as u64, out);
        }
        (Kind::Int64, Value::I64(v)) => {
            write_key(n, VARINT, out);
            write_varint(*v as u64, out);
        }
        (Kind::Uint32, Value::U32(v)) => {
            write_key(n, VARINT, out);
            write_varint(u64::from(*v), out);
        }
        (Kind::Uint64, Value::U64(v)) => {
            write_key(n, VARINT, out);
            write_varint(*v, out);
        }
        (Kind::Sint32, Value::I32(v)) => {
            write_key(n, VARINT, out);
            write_varint(u64::from(((v << 1) ^ (v >> 31)) as u32), out);
        }
        (Kind::Sint64, Value::I64(v)) => {
            write_key(n, VARINT, out);
            write_varint(((v << 1) ^ (v >> 63)) as u64, out);
        }
        (Kind::Bool, Value::Bool(v)) => {
            write_key(n, VARINT, out);
            write_varint(u64::from(*v), out);
        }
        (Kind::Fixed32, Value::U32(v)) => {
            write_key(n, FIXED32, out);
            out.extend_from_slice(&v.to_le_bytes());
        }
        (Kind::Sfixed32, Value::I32(v)) => {
            write_key(n, FIXED32, out);
            out.extend_from_slice(&v.to_le_bytes());
        }
        (Kind::Float, Value::F32(v)) => {
            write_key(n, FIXED32, out);
            out.extend_from_slice(&v.to_le_bytes());
        }
        (Kind::Fixed64, Value::U64(v)) => {
            write_key(n, FIXED64, out);
            out.extend_from_slice(&v.to_le_bytes());
        }
        (Kind::Sfixed64, Value::I64(v)) => {
            write_key(n, FIXED64, out);
            out.extend_from_slice(&v.to_le_bytes());
        }
        (Kind::Double, Value::F64(v)) => {
            write_key(n, FIXED64, out);
            out.extend_from_slice(&v.to_le_bytes());
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    //! Every value the short way writes decodes to what `decode_request` sets, and what it
    //! cannot write goes the long way.

    use prost::Message;
    use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage};
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto};

    use super::*;

    /// `t.Scalars`: one field of every scalar kind, an enum, a nested message, a repeated
    /// field and a map-free message field, numbered to need two-byte keys past 15.
    fn scalars() -> MessageDescriptor {
        let field = |name: &str, number: i32, ty: Type| FieldDescriptorProto {
            name: Some(name.into()),
            json_name: Some(name.into()),
            number: Some(number),
            label: Some(Label::Optional as i32),
            r#type: Some(ty as i32),
            ..Default::default()
        };
        let mut fields = vec![
            field("d", 1, Type::Double),
            field("f", 2, Type::Float),
            field("i64", 3, Type::Int64),
            field("u64", 4, Type::Uint64),
            field("i32", 5, Type::Int32),
            field("fx64", 6, Type::Fixed64),
            field("fx32", 7, Type::Fixed32),
            field("b", 8, Type::Bool),
            field("s", 9, Type::String),
            field("by", 12, Type::Bytes),
            field("u32", 13, Type::Uint32),
            field("sf32", 15, Type::Sfixed32),
            field("sf64", 16, Type::Sfixed64),
            field("s32", 17, Type::Sint32),
            field("s64", 18, Type::Sint64),
        ];
        let mut e = field("e", 20, Type::Enum);
        e.type_name = Some(".t.Color".into());
        let mut inner = field("inner", 300, Type::Message);
        inner.type_name = Some(".t.Scalars".into());
        let mut list = field("list", 21, Type::String);
        list.label = Some(Label::Repeated as i32);
        fields.extend([e, inner, list]);
        let file = FileDescriptorProto {
            name: Some("t.proto".into()),
            package: Some("t".into()),
            syntax: Some("proto3".into()),
            message_type: vec![DescriptorProto {
                name: Some("Scalars".into()),
                field: fields,
                ..Default::default()
            }],
            enum_type: vec![prost_types::EnumDescriptorProto {
                name: Some("Color".into()),
                value: ["RED", "GREEN"]
                    .iter()
                    .enumerate()
                    .map(|(i, n)| prost_types::EnumValueDescriptorProto {
                        name: Some((*n).into()),
                        number: Some(i as i32),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let pool = DescriptorPool::from_file_descriptor_set(prost_types::FileDescriptorSet {
            file: vec![file],
        })
        .unwrap();
        pool.get_message_by_name("t.Scalars").unwrap()
    }

    /// Writes `path=text` the short way and decodes it.
    fn short(path: &str, text: &str) -> Option<DynamicMessage> {
        let desc = scalars();
        let resolved = Resolved::new(&desc, path, true)?;
        let mut out = Vec::new();
        resolved.write(text, &mut out)?;
        Some(DynamicMessage::decode(desc, out.as_slice()).unwrap())
    }

    /// Writes `path=text` the short way and decodes it; the long way's message beside it.
    fn both(path: &str, text: &str) -> (Option<DynamicMessage>, DynamicMessage) {
        let desc = scalars();
        let short = short(path, text);
        let mut long = DynamicMessage::new(desc.clone());
        let mut target = &mut long;
        let mut names: Vec<&str> = path.split('.').collect();
        let leaf = names.pop().unwrap();
        for name in names {
            let fd = target.descriptor().get_field_by_name(name).unwrap();
            target = target.get_field_mut(&fd).as_message_mut().unwrap();
        }
        let fd = target.descriptor().get_field_by_name(leaf).unwrap();
        if let Ok(value) = parse_kind(&fd.kind(), text) {
            target.set_field(&fd, value);
        }
        (short, long)
    }

    #[test]
    fn every_scalar_kind_decodes_to_what_the_long_way_sets() {
        let cases = [
            ("d", "-2.5"),
            ("d", "Infinity"),
            ("f", "1.25"),
            ("i64", "-9223372036854775808"),
            ("u64", "18446744073709551615"),
            ("i32", "-1"),
            ("i32", "2147483647"),
            ("fx64", "18446744073709551615"),
            ("fx32", "4294967295"),
            ("b", "true"),
            ("b", "false"),
            ("s", "shelves/1/books/é"),
            ("s", ""),
            ("by", "aGk_"),
            ("u32", "4294967295"),
            ("sf32", "-2147483648"),
            ("sf64", "-1"),
            ("s32", "-2147483648"),
            ("s32", "2147483647"),
            ("s64", "-9223372036854775808"),
            ("s64", "9223372036854775807"),
            ("e", "GREEN"),
            ("e", "7"),
            ("e", "-3"),
            ("inner.s", "deep"),
            ("inner.inner.i32", "-5"),
        ];
        for (path, text) in cases {
            let (short, long) = both(path, text);
            let short = short.unwrap_or_else(|| panic!("{path}={text} should go the short way"));
            // (Compared as bytes: `==` on a message that holds itself never ends.)
            assert_eq!(short.encode_to_vec(), long.encode_to_vec(), "{path}={text}");
        }
    }

    #[test]
    fn what_the_short_way_cannot_write_goes_the_long_way() {
        for (path, text) in [
            ("list", "a"),         // repeated
            ("inner", "x"),        // a message
            ("nope", "1"),         // no such field
            ("s.x", "1"),          // through a scalar
            ("i32", "1.5"),        // does not parse
            ("i32", "2147483648"), // out of range
            ("b", "yes"),          // not a bool
            ("by", "*"),           // not base64
            ("e", "BLUE"),         // no such value
        ] {
            assert!(short(path, text).is_none(), "{path}={text}");
        }
    }

    #[test]
    fn json_names_resolve_in_queries_and_proto_names_in_paths() {
        let desc = scalars();
        assert!(Resolved::new(&desc, "i32", false).is_some());
        let nested = Resolved::new(&desc, "inner.inner.s", true).unwrap();
        assert_eq!(nested.parents, vec![300, 300]);
        assert_eq!(nested.leaf.name(), "s");
    }
}
