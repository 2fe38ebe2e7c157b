//! Typed proto3 JSON: the fast path for eeops' own messages.
//!
//! The generator (`eeops-build`, called by `build.rs`) writes, for each message of `google.longrunning`, `google.rpc` and
//! `google.earthengine.v1` (and for every package of a user's compilation, in a module of
//! its own that imports this one), code that writes and reads its proto3 JSON field by field (the
//! [`TypedJson`] implementations, and the `Any` registry `read_any_payload` /
//! `write_any_payload`). This module is the runtime those impls call.
//!
//! It gives the same results as the prost-reflect mapping in the parent module, which stays
//! the reference and the fallback: whatever the typed code does not handle (an `Any` of a type
//! without typed code, an `Any` whose `@type` is not its first key, a value of a shape it does
//! not accept, a timestamp out of range, ...) makes it give up, and the caller runs the
//! prost-reflect mapping instead. The tests at the bottom check the two agree, field by field,
//! on fixtures and on generated messages of every type.
//!
//! One difference on purpose: an `Any` of `google.protobuf.Empty` is written
//! `{"@type": ".../google.protobuf.Empty"}`, as Google's servers write it (prost-reflect adds
//! `"value": {}`, which eeops' REST server removes again). Both forms are read.

use std::fmt;
use std::marker::PhantomData;

use prost::Message as _;
use serde::Deserialize;
pub use serde::de::{
    self, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor,
};

/// The typed code could not handle a value; use the prost-reflect mapping instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fallback;

/// A message with generated proto3 JSON code.
pub trait TypedJson: prost::Message + Default + Sized {
    /// Writes the set fields as `"jsonName":value` pairs (comma-separated; `first` says
    /// whether one has been written yet), in field-number order, without braces.
    fn write_fields(&self, out: &mut Vec<u8>, first: &mut bool) -> Result<(), Fallback>;

    /// Reads the value of the field named `key` (JSON name or proto name) from `map`; an
    /// unknown key's value is skipped.
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<(), A::Error>;
}

// The generated impls and the `Any` registry.
include!(concat!(env!("OUT_DIR"), "/eeops_pb_typed_json.rs"));

/// Writes `message` as compact proto3 JSON, appending to `out`. On `Err`, `out` may hold a
/// partial document: truncate it.
pub fn write<T: TypedJson>(message: &T, out: &mut Vec<u8>) -> Result<(), Fallback> {
    w_msg(out, message)
}

/// Reads a `T` from proto3 JSON, ignoring unknown fields.
pub fn read<T: TypedJson>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let message = Msg::<T>::deserialize(&mut de)?.0;
    de.end()?;
    Ok(message)
}

// ----------------------------------------------------------------------------------- writing

pub fn key(out: &mut Vec<u8>, first: &mut bool, quoted_key_and_colon: &[u8]) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.extend_from_slice(quoted_key_and_colon);
}

pub fn w_str(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail; serde_json escapes exactly as prost-reflect's output does.
    let _ = serde_json::to_writer(&mut *out, s);
}

pub fn w_bool(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

pub fn w_int<I: serde::Serialize>(out: &mut Vec<u8>, v: I) {
    let _ = serde_json::to_writer(&mut *out, &v);
}

/// 64-bit integers are strings in proto3 JSON.
pub fn w_quoted_int<I: serde::Serialize>(out: &mut Vec<u8>, v: I) {
    out.push(b'"');
    let _ = serde_json::to_writer(&mut *out, &v);
    out.push(b'"');
}

pub fn w_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        let _ = serde_json::to_writer(&mut *out, &v);
    } else if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v > 0.0 {
        out.extend_from_slice(b"\"Infinity\"");
    } else {
        out.extend_from_slice(b"\"-Infinity\"");
    }
}

// Writers and readers for field kinds the generator covers but eeops' protos do not use today.
#[allow(dead_code)]
pub fn w_f32(out: &mut Vec<u8>, v: f32) {
    if v.is_finite() {
        let _ = serde_json::to_writer(&mut *out, &v);
    } else {
        w_f64(out, f64::from(v));
    }
}

/// An enum by name; a number the enum does not define stays a number.
pub fn w_enum(out: &mut Vec<u8>, number: i32, name: Option<&str>) {
    match name {
        Some(name) => w_str(out, name),
        None => w_int(out, number),
    }
}

pub fn w_msg<T: TypedJson>(out: &mut Vec<u8>, message: &T) -> Result<(), Fallback> {
    out.push(b'{');
    let mut first = true;
    message.write_fields(out, &mut first)?;
    out.push(b'}');
    Ok(())
}

/// The largest and smallest seconds a `Timestamp` may hold (0001-01-01 to 9999-12-31).
pub const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
pub const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;
/// The largest seconds a `Duration` may hold, either way (about 10,000 years).
pub const MAX_DURATION_SECONDS: i64 = 315_576_000_000;

pub fn w_timestamp(out: &mut Vec<u8>, t: &prost_types::Timestamp) -> Result<(), Fallback> {
    if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&t.seconds)
        || !(0..1_000_000_000).contains(&t.nanos)
    {
        return Err(Fallback);
    }
    w_display(out, t);
    Ok(())
}

pub fn w_duration(out: &mut Vec<u8>, d: &prost_types::Duration) -> Result<(), Fallback> {
    if !(-MAX_DURATION_SECONDS..=MAX_DURATION_SECONDS).contains(&d.seconds)
        || !(-999_999_999..=999_999_999).contains(&d.nanos)
        || (d.seconds > 0 && d.nanos < 0)
        || (d.seconds < 0 && d.nanos > 0)
    {
        return Err(Fallback);
    }
    w_display(out, d);
    Ok(())
}

/// A `Display` that writes nothing JSON must escape (timestamps and durations), quoted.
pub fn w_display(out: &mut Vec<u8>, v: &dyn fmt::Display) {
    use std::io::Write as _;
    out.push(b'"');
    let _ = write!(out, "{v}");
    out.push(b'"');
}

/// The message name in a type URL (what follows its last `/`).
pub fn type_name(type_url: &str) -> Option<&str> {
    type_url.rsplit_once('/').map(|(_, name)| name)
}

pub fn w_any(out: &mut Vec<u8>, any: &prost_types::Any) -> Result<(), Fallback> {
    let name = type_name(&any.type_url).ok_or(Fallback)?;
    out.extend_from_slice(b"{\"@type\":");
    w_str(out, &any.type_url);
    match name {
        "google.protobuf.Empty" => {
            // Its value must still be a valid (empty) message.
            <()>::decode(any.value.as_slice()).map_err(|_| Fallback)?;
        }
        "google.protobuf.Duration" => {
            out.extend_from_slice(b",\"value\":");
            let d = prost_types::Duration::decode(any.value.as_slice()).map_err(|_| Fallback)?;
            w_duration(out, &d)?;
        }
        "google.protobuf.Timestamp" => {
            out.extend_from_slice(b",\"value\":");
            let t = prost_types::Timestamp::decode(any.value.as_slice()).map_err(|_| Fallback)?;
            w_timestamp(out, &t)?;
        }
        _ => write_any_payload(name, &any.value, out).ok_or(Fallback)??,
    }
    out.push(b'}');
    Ok(())
}

/// Writes the fields of a `T` decoded from `value`, each preceded by a comma (they follow
/// `"@type"`).
pub fn write_payload<T: TypedJson>(value: &[u8], out: &mut Vec<u8>) -> Result<(), Fallback> {
    let message = T::decode(value).map_err(|_| Fallback)?;
    let mut first = false;
    message.write_fields(out, &mut first)
}

// ----------------------------------------------------------------------------------- reading

/// A value read from JSON, unwrapped into what the message stores.
pub trait Wrap {
    type Inner;
    fn into_inner(self) -> Self::Inner;
}

impl Wrap for String {
    type Inner = String;
    fn into_inner(self) -> String {
        self
    }
}

impl Wrap for bool {
    type Inner = bool;
    fn into_inner(self) -> bool {
        self
    }
}

/// An object key, borrowed from the input when it has no escapes.
pub enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A message read from a JSON object.
pub struct Msg<T>(pub T);

impl<T> Wrap for Msg<T> {
    type Inner = T;
    fn into_inner(self) -> T {
        self.0
    }
}

impl<'de, T: TypedJson> Deserialize<'de> for Msg<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MsgVisitor<T>(PhantomData<T>);
        impl<'de, T: TypedJson> Visitor<'de> for MsgVisitor<T> {
            type Value = Msg<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Msg<T>, A::Error> {
                read_rest::<T, A>(&mut map).map(Msg)
            }
        }
        deserializer.deserialize_map(MsgVisitor(PhantomData))
    }
}

/// Reads the remaining entries of `map` as the fields of a `T`.
pub fn read_rest<'de, T: TypedJson, A: MapAccess<'de>>(map: &mut A) -> Result<T, A::Error> {
    let mut message = T::default();
    while let Some(key) = map.next_key::<Key<'de>>()? {
        message.read_field(key.as_str(), map)?;
    }
    Ok(message)
}

pub fn oneof_twice<E: de::Error>(oneof: &str) -> E {
    E::custom(format!("multiple fields provided for oneof '{oneof}'"))
}

/// Integers: a JSON number that fits, or a decimal string.
macro_rules! int_wrapper {
    ($name:ident, $ty:ty, $what:literal) => {
        // Not every kind the generator covers is used by eeops' protos today.
        #[allow(dead_code)]
        pub struct $name(pub $ty);

        impl Wrap for $name {
            type Inner = $ty;
            fn into_inner(self) -> $ty {
                self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        <$ty>::try_from(v).map($name).map_err(E::custom)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        <$ty>::try_from(v).map($name).map_err(E::custom)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        v.parse::<$ty>().map($name).map_err(E::custom)
                    }
                }
                deserializer.deserialize_any(V)
            }
        }
    };
}

int_wrapper!(I32, i32, "a 32-bit signed integer");
int_wrapper!(I64, i64, "a 64-bit signed integer");
int_wrapper!(U32, u32, "a 32-bit unsigned integer");
int_wrapper!(U64, u64, "a 64-bit unsigned integer");

/// Floating point: a JSON number, or `"NaN"`, `"Infinity"`, `"-Infinity"` or a decimal string.
macro_rules! float_wrapper {
    ($name:ident, $ty:ty) => {
        #[allow(dead_code)]
        pub struct $name(pub $ty);

        impl Wrap for $name {
            type Inner = $ty;
            fn into_inner(self) -> $ty {
                self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a floating point number")
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$name, E> {
                        <$ty as FromF64>::from_f64::<E>(v).map($name)
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        Ok($name(v as $ty))
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        Ok($name(v as $ty))
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        match v {
                            "NaN" => Ok($name(<$ty>::NAN)),
                            "Infinity" => Ok($name(<$ty>::INFINITY)),
                            "-Infinity" => Ok($name(<$ty>::NEG_INFINITY)),
                            _ => v.parse::<$ty>().map($name).map_err(E::custom),
                        }
                    }
                }
                deserializer.deserialize_any(V)
            }
        }
    };
}

float_wrapper!(F64, f64);

float_wrapper!(F32, f32);

pub trait FromF64: Sized {
    fn from_f64<E: de::Error>(v: f64) -> Result<Self, E>;
}

impl FromF64 for f64 {
    fn from_f64<E: de::Error>(v: f64) -> Result<f64, E> {
        Ok(v)
    }
}

impl FromF64 for f32 {
    fn from_f64<E: de::Error>(v: f64) -> Result<f32, E> {
        if v < f64::from(f32::MIN) || v > f64::from(f32::MAX) {
            Err(E::custom("float value out of range"))
        } else {
            Ok(v as f32)
        }
    }
}

/// An enum: its name (an unknown name reads as "not set", as prost-reflect does when unknown
/// fields are allowed) or its number. `None` for null, `Some(None)` for an unknown name.
pub struct EnumSeed(pub fn(&str) -> Option<i32>);

impl<'de> DeserializeSeed<'de> for EnumSeed {
    type Value = Option<Option<i32>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Visitor<'_> for EnumSeed {
    type Value = Option<Option<i32>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an enum name or number")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some((self.0)(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        i32::try_from(v).map(|n| Some(Some(n))).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i32::try_from(v).map(|n| Some(Some(n))).map_err(E::custom)
    }
}

/// A well-known type with a text form: `Timestamp` (RFC 3339) or `Duration` (`"1.5s"`).
pub struct FromText<T>(pub T);

impl<T> Wrap for FromText<T> {
    type Inner = T;
    fn into_inner(self) -> T {
        self.0
    }
}

impl<'de, T> Deserialize<'de> for FromText<T>
where
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map(FromText).map_err(D::Error::custom)
    }
}

/// An `Any`, whose first key must be `@type` naming a type with typed code (or `Empty`,
/// `Duration`, `Timestamp`); anything else is an error, and the caller falls back.
pub struct AnyJson(pub prost_types::Any);

impl Wrap for AnyJson {
    type Inner = prost_types::Any;
    fn into_inner(self) -> prost_types::Any {
        self.0
    }
}

impl<'de> Deserialize<'de> for AnyJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnyVisitor;
        impl<'de> Visitor<'de> for AnyVisitor {
            type Value = AnyJson;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an Any object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyJson, A::Error> {
                match map.next_key::<Key<'de>>()? {
                    Some(k) if k.as_str() == "@type" => {}
                    _ => return Err(A::Error::custom("`@type` is not the first key")),
                }
                let type_url: String = map.next_value()?;
                let name = type_name(&type_url)
                    .ok_or_else(|| A::Error::custom("a type URL without `/`"))?;
                let value = match name {
                    "google.protobuf.Empty" => {
                        // `"value": {}` may be there or not; nothing else counts.
                        while let Some(key) = map.next_key::<Key<'de>>()? {
                            if key.as_str() == "value" {
                                map.next_value::<EmptyJson>()?;
                            } else {
                                map.next_value::<IgnoredAny>()?;
                            }
                        }
                        Vec::new()
                    }
                    "google.protobuf.Duration" => {
                        wkt_value::<FromText<prost_types::Duration>, A>(&mut map)?
                            .0
                            .encode_to_vec()
                    }
                    "google.protobuf.Timestamp" => {
                        wkt_value::<FromText<prost_types::Timestamp>, A>(&mut map)?
                            .0
                            .encode_to_vec()
                    }
                    _ => read_any_payload(name, &mut map)?
                        .ok_or_else(|| A::Error::custom(format!("no typed code for {name}")))?,
                };
                Ok(AnyJson(prost_types::Any { type_url, value }))
            }
        }
        deserializer.deserialize_map(AnyVisitor)
    }
}

/// The `"value"` of an `Any` of a well-known type with a special JSON form; required.
pub fn wkt_value<'de, W: Deserialize<'de>, A: MapAccess<'de>>(map: &mut A) -> Result<W, A::Error> {
    let mut value = None;
    while let Some(key) = map.next_key::<Key<'de>>()? {
        if key.as_str() == "value" && value.is_none() {
            value = Some(map.next_value::<W>()?);
        } else {
            map.next_value::<IgnoredAny>()?;
        }
    }
    value.ok_or_else(|| A::Error::missing_field("value"))
}

/// `google.protobuf.Empty`: an object; its keys are ignored.
pub struct EmptyJson;

impl<'de> Deserialize<'de> for EmptyJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EmptyJson;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EmptyJson, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(EmptyJson)
            }
        }
        deserializer.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    //! The typed code against the prost-reflect mapping, on generated messages of every type
    //! with typed code: the same JSON out, the same message back.

    use prost_reflect::{
        DynamicMessage, Kind, MapKey, MessageDescriptor, ReflectMessage, SerializeOptions, Value,
    };
    use serde_json::Value as Json;

    use super::*;
    use crate::pb::DESCRIPTOR_POOL;

    /// A small deterministic generator (xorshift64*), so that a failure replays.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len())]
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.next() % 100 < percent
        }
    }

    fn any_type_url(name: &str) -> String {
        format!("type.googleapis.com/{name}")
    }

    fn random_string(rng: &mut Rng) -> String {
        const CHARS: &[char] = &[
            'a', 'Z', '0', ' ', '/', '"', '\\', '\n', '\t', '\u{1}', '\u{7f}', 'é', '€', '😀', '<',
            '&', '\u{2028}',
        ];
        (0..rng.below(8)).map(|_| rng.pick(CHARS)).collect()
    }

    fn random_scalar(kind: &Kind, rng: &mut Rng, depth: usize) -> Value {
        let r = rng.next();
        match kind {
            Kind::String => Value::String(random_string(rng)),
            Kind::Bool => Value::Bool(rng.chance(50)),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                Value::I32(rng.pick(&[1, -1, 42, i32::MIN, i32::MAX, r as i32]))
            }
            Kind::Uint32 | Kind::Fixed32 => Value::U32(rng.pick(&[1, u32::MAX, r as u32])),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                Value::I64(rng.pick(&[1, -1, i64::MIN, i64::MAX, r as i64]))
            }
            Kind::Uint64 | Kind::Fixed64 => Value::U64(rng.pick(&[1, u64::MAX, r])),
            Kind::Double => Value::F64(rng.pick(&[
                1.0,
                -2.5,
                0.1,
                1e300,
                5e-324,
                f64::INFINITY,
                f64::NEG_INFINITY,
                (r % 1_000_000) as f64 / 997.0,
            ])),
            Kind::Float => Value::F32(rng.pick(&[1.5, -3.25, 3.4e38, 1e-45, f32::INFINITY, 0.1])),
            Kind::Bytes => Value::Bytes(vec![1, 2, 3].into()),
            Kind::Enum(e) => {
                let numbers: Vec<i32> = e.values().map(|v| v.number()).collect();
                Value::EnumNumber(if rng.chance(10) {
                    99
                } else {
                    rng.pick(&numbers)
                })
            }
            Kind::Message(m) => Value::Message(random_message(m, rng, depth + 1)),
        }
    }

    fn random_message(desc: &MessageDescriptor, rng: &mut Rng, depth: usize) -> DynamicMessage {
        let mut msg = DynamicMessage::new(desc.clone());
        match desc.full_name() {
            "google.protobuf.Duration" => {
                let seconds = (rng.next() % 315_576_000_001) as i64;
                let nanos = rng.pick(&[0, 500_000_000, 1_000, 123_456_789]);
                let sign = if rng.chance(30) { -1 } else { 1 };
                msg.set_field_by_name("seconds", Value::I64(sign * seconds));
                msg.set_field_by_name("nanos", Value::I32(sign as i32 * nanos));
                return msg;
            }
            "google.protobuf.Timestamp" => {
                let span = (MAX_TIMESTAMP_SECONDS - MIN_TIMESTAMP_SECONDS) as u64;
                let seconds = MIN_TIMESTAMP_SECONDS + (rng.next() % span) as i64;
                msg.set_field_by_name("seconds", Value::I64(seconds));
                let nanos = rng.pick(&[0, 1, 500_000_000, 999_999_999, 120_000]);
                msg.set_field_by_name("nanos", Value::I32(nanos));
                return msg;
            }
            "google.protobuf.Any" => {
                let name = if depth > 2 {
                    "google.protobuf.Empty"
                } else {
                    let mut names: Vec<&str> = TYPED_MESSAGES.to_vec();
                    names.extend([
                        "google.protobuf.Empty",
                        "google.protobuf.Duration",
                        "google.protobuf.Timestamp",
                    ]);
                    rng.pick(&names)
                };
                let inner_desc = DESCRIPTOR_POOL.get_message_by_name(name).unwrap();
                let inner = random_message(&inner_desc, rng, depth + 1);
                msg.set_field_by_name("type_url", Value::String(any_type_url(name)));
                msg.set_field_by_name("value", Value::Bytes(inner.encode_to_vec().into()));
                return msg;
            }
            _ => {}
        }
        if depth > 4 {
            return msg;
        }
        for field in desc.fields() {
            if !rng.chance(60) {
                continue;
            }
            let value = if field.is_map() {
                let Kind::Message(entry) = field.kind() else {
                    unreachable!()
                };
                let mut map = std::collections::HashMap::new();
                // At most one entry: with more, nested `Any` bytes could differ in map order
                // alone.
                if rng.chance(70) {
                    let v = random_scalar(&entry.map_entry_value_field().kind(), rng, depth);
                    map.insert(MapKey::String(random_string(rng)), v);
                }
                Value::Map(map)
            } else if field.is_list() {
                Value::List(
                    (0..rng.below(4))
                        .map(|_| random_scalar(&field.kind(), rng, depth))
                        .collect(),
                )
            } else {
                random_scalar(&field.kind(), rng, depth)
            };
            msg.set_field(&field, value);
        }
        msg
    }

    /// prost-reflect's JSON, with an `Any` of `Empty` in Google's form (as the typed code and
    /// eeops' REST server write it).
    fn reflect_json(msg: &DynamicMessage) -> Json {
        let options = SerializeOptions::new().stringify_64_bit_integers(true);
        let mut value = msg
            .serialize_with_options(serde_json::value::Serializer, &options)
            .unwrap();
        crate::json::plain_empty_any(&mut value);
        value
    }

    /// Each message, as the value of an `Any` (which reaches every type through the registry).
    fn check(name: &str, msg: &DynamicMessage, proto_names: bool) {
        let any = prost_types::Any {
            type_url: any_type_url(name),
            value: msg.encode_to_vec(),
        };
        let any_desc = DESCRIPTOR_POOL
            .get_message_by_name("google.protobuf.Any")
            .unwrap();
        let dynamic_any =
            DynamicMessage::decode(any_desc.clone(), any.encode_to_vec().as_slice()).unwrap();
        let expected = reflect_json(&dynamic_any);

        let mut out = Vec::new();
        w_any(&mut out, &any).unwrap_or_else(|_| panic!("typed write gave up on {msg:?}"));
        let written: Json = serde_json::from_slice(&out).unwrap();
        assert_eq!(written, expected, "{name}: written JSON differs");

        // Read back prost-reflect's own text (with `"value": {}` for Empty; every third time
        // with proto field names, which proto3 JSON parsers accept too).
        let text_value = dynamic_any
            .serialize_with_options(
                serde_json::value::Serializer,
                &SerializeOptions::new()
                    .stringify_64_bit_integers(true)
                    .use_proto_field_name(proto_names),
            )
            .unwrap();
        let text = serde_json::to_vec(&text_value).unwrap();
        let read: AnyJson = serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("{name}: typed read failed: {e}: {text_value}"));
        let desc = DESCRIPTOR_POOL.get_message_by_name(name).unwrap();
        let back = DynamicMessage::decode(desc.clone(), read.0.value.as_slice()).unwrap();
        let by_reflect = crate::json::dynamic_from_json(any_desc, &text, false).unwrap();
        let by_reflect: prost_types::Any = by_reflect.transcode_to().unwrap();
        let by_reflect = DynamicMessage::decode(desc, by_reflect.value.as_slice()).unwrap();
        assert_eq!(
            back, by_reflect,
            "{name}: read differs from prost-reflect's for {text_value}"
        );
        // The original, as decoding sees it (a field set to its default value is not sent).
        let original = DynamicMessage::decode(back.descriptor(), any.value.as_slice()).unwrap();
        assert_eq!(back, original, "{name}: read differs from the original");
    }

    #[test]
    fn typed_json_agrees_with_prost_reflect_on_random_messages() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for name in TYPED_MESSAGES {
            let desc = DESCRIPTOR_POOL.get_message_by_name(name).unwrap();
            for round in 0..150 {
                let msg = random_message(&desc, &mut rng, 0);
                check(name, &msg, round % 3 == 0);
            }
        }
    }

    #[test]
    fn every_message_of_the_covered_packages_has_typed_code() {
        // A message that silently lost its typed code (a new field of a kind the generator
        // does not cover) would still work, through the fallback, but slowly: say so here.
        for m in DESCRIPTOR_POOL.all_messages() {
            if ["google.longrunning", "google.rpc", "google.earthengine.v1"]
                .contains(&m.package_name())
                && !m.is_map_entry()
            {
                assert!(TYPED_MESSAGES.contains(&m.full_name()), "{}", m.full_name());
            }
        }
    }
}
