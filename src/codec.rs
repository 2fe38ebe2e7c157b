//! Percent-encoding, query strings and base64, one place each, on the crates
//! `percent-encoding`, `form_urlencoded` and `base64`.
//!
//! * Encoding: every byte outside `[-_.~0-9A-Za-z]` is escaped, in path variables
//!   ([`encode_segment`], or [`encode_multi_segment`] which keeps `/`), query keys and values
//!   ([`encode_query`], a space as `%20`) and the routing header.
//! * Decoding for requests that must be exact ([`decode_strict`]): a malformed escape or a
//!   result that is not UTF-8 is refused, and the escapes of chosen bytes can stay encoded
//!   (`%2F` in a multi-segment path variable).
//! * Decoding for parameters a server only tolerates (`query_pairs_lossy`, with the `server`
//!   feature): HTML form rules, anything malformed kept as text.
//! * Base64 as proto3 JSON writes bytes ([`base64_encode`]: standard alphabet, padded) and
//!   reads them ([`base64_decode`]: either alphabet, padding optional).

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, PercentEncode, utf8_percent_encode};

/// Bytes escaped everywhere eeops percent-encodes: all but `[-_.~0-9A-Za-z]`.
const UNRESERVED_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The same, with `/` kept: the value of a multi-segment path variable.
const MULTI_SEGMENT_ESCAPES: &AsciiSet = &UNRESERVED_ESCAPES.remove(b'/');

/// Escapes every byte of `text` outside `[-_.~0-9A-Za-z]`: a single-segment path variable, a
/// query key or value, a routing header value.
pub(crate) fn encode_segment(text: &str) -> PercentEncode<'_> {
    utf8_percent_encode(text, UNRESERVED_ESCAPES)
}

/// Escapes every byte of `text` outside `[-_.~0-9A-Za-z]` except `/`: a multi-segment path
/// variable.
pub(crate) fn encode_multi_segment(text: &str) -> PercentEncode<'_> {
    utf8_percent_encode(text, MULTI_SEGMENT_ESCAPES)
}

/// Builds a query string `k=v&k=v` from pairs, keys and values escaped by [`encode_segment`].
pub(crate) fn encode_query(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(encode_segment(key));
        out.push('=');
        out.extend(encode_segment(value));
    }
    out
}

/// The raw (still encoded) pairs of a query string: empty pairs skipped, each split at its
/// first `=` (a pair without one has an empty value). Decode each part with [`decode_strict`].
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// The decoded pairs of a query string under HTML form rules, for parameters a server only
/// tolerates: `+` is a space, a malformed escape stays as it is, bytes that are not UTF-8
/// become U+FFFD. Pairs are split as in [`query_pairs`].
#[cfg(feature = "server")]
pub(crate) fn query_pairs_lossy(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// Why [`decode_strict`] refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// A `%` not followed by two hex digits.
    Malformed,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

/// Percent-decodes `raw`: `%XX` is the byte `XX`, `+` a space when `plus_as_space`, and the
/// escape of a byte for which `keep` is true stays as it was. A malformed escape or a result
/// that is not UTF-8 is an error. Borrows when there is nothing to decode.
pub(crate) fn decode_strict(
    raw: &str,
    plus_as_space: bool,
    keep: impl Fn(u8) -> bool,
) -> Result<Cow<'_, str>, DecodeError> {
    let plus = plus_as_space && raw.as_bytes().contains(&b'+');
    if !plus && !raw.as_bytes().contains(&b'%') {
        return Ok(Cow::Borrowed(raw));
    }
    let text = if plus {
        Cow::Owned(raw.replace('+', " "))
    } else {
        Cow::Borrowed(raw)
    };
    let bytes = text.as_bytes();
    // `percent-encoding` lets a malformed escape through as text and decodes every escape;
    // here a malformed one is refused, and the kept ones are copied around its decoding.
    let mut out = Vec::with_capacity(bytes.len());
    let mut start = 0;
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|&b| b == b'%') {
        let i = at + offset;
        let byte = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .ok_or(DecodeError::Malformed)?;
        if keep(byte) {
            out.extend(percent_encoding::percent_decode(&bytes[start..i]));
            out.extend_from_slice(&bytes[i..i + 3]);
            start = i + 3;
        }
        at = i + 3;
    }
    out.extend(percent_encoding::percent_decode(&bytes[start..]));
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| DecodeError::NotUtf8)
}

/// Base64 as proto3 JSON reads bytes: padding optional, loose trailing bits ignored (the
/// URL-safe alphabet is mapped onto this one first).
const BASE64_LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// Standard base64 with padding, as proto3 JSON writes bytes.
pub(crate) fn base64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Base64, standard or URL-safe (even mixed), padding optional, as proto3 JSON accepts bytes.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let text = text.trim_end_matches('=');
    let standard = if text.contains(['-', '_']) {
        Cow::Owned(text.replace('-', "+").replace('_', "/"))
    } else {
        Cow::Borrowed(text)
    };
    BASE64_LENIENT.decode(standard.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(raw: &str, plus_as_space: bool) -> Result<Cow<'_, str>, DecodeError> {
        decode_strict(raw, plus_as_space, |_| false)
    }

    #[test]
    fn encoding_keeps_only_unreserved_bytes() {
        let all: String = (0x20u8..0x7f).map(char::from).collect();
        let seg = encode_segment(&all).to_string();
        assert!(
            seg.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b))
        );
        assert_eq!(
            encode_segment("a/b c+é~").to_string(),
            "a%2Fb%20c%2B%C3%A9~"
        );
        assert_eq!(
            encode_multi_segment("a/b c+é~").to_string(),
            "a/b%20c%2B%C3%A9~"
        );
        // Every byte comes back from the strict decoder.
        assert_eq!(strict(&seg, true).as_deref(), Ok(all.as_str()));
    }

    #[test]
    fn query_building() {
        let pairs = [
            ("filter".to_owned(), "done = true&x".to_owned()),
            ("a b".to_owned(), String::new()),
            ("k".to_owned(), "1".to_owned()),
            ("k".to_owned(), "2/3".to_owned()),
        ];
        let q = encode_query(&pairs);
        assert_eq!(q, "filter=done%20%3D%20true%26x&a%20b=&k=1&k=2%2F3");
        let back: Vec<(String, String)> = query_pairs(&q)
            .map(|(k, v)| {
                (
                    strict(k, true).unwrap().into_owned(),
                    strict(v, true).unwrap().into_owned(),
                )
            })
            .collect();
        assert_eq!(back, pairs);
        assert_eq!(encode_query(&[]), "");
    }

    #[test]
    fn raw_pairs_split_at_the_first_equals() {
        let pairs: Vec<_> = query_pairs("&a=1&&b&=v&c=x=y&&k=1&k=2&").collect();
        assert_eq!(
            pairs,
            [
                ("a", "1"),
                ("b", ""),
                ("", "v"),
                ("c", "x=y"),
                ("k", "1"),
                ("k", "2")
            ]
        );
        assert_eq!(query_pairs("").count(), 0);
    }

    #[test]
    fn strict_decoding() {
        // `+` is a space only when asked; an escaped `+` is always a plus.
        assert_eq!(strict("a+b%2Bc", true).as_deref(), Ok("a b+c"));
        assert_eq!(strict("a+b%2Bc", false).as_deref(), Ok("a+b+c"));
        // `%2F` decodes unless kept, in either case of hex digit.
        assert_eq!(strict("x%2Fy%2fz", false).as_deref(), Ok("x/y/z"));
        assert_eq!(
            decode_strict("x%2Fy%2fz%20%41", false, |b| b == b'/').as_deref(),
            Ok("x%2Fy%2fz A")
        );
        // Malformed escapes, anywhere.
        for bad in ["%zz", "a%", "a%2", "%2g", "ok%%41", "%-1", "%é1"] {
            assert_eq!(strict(bad, true), Err(DecodeError::Malformed), "{bad}");
        }
        // Bytes that are not UTF-8, even when kept escapes surround them.
        assert_eq!(strict("%FF", true), Err(DecodeError::NotUtf8));
        assert_eq!(strict("%C3", false), Err(DecodeError::NotUtf8));
        assert_eq!(
            decode_strict("%2F%FF", false, |b| b == b'/'),
            Err(DecodeError::NotUtf8)
        );
        assert_eq!(strict("%C3%A9", true).as_deref(), Ok("é"));
        // Nothing to decode: borrowed as is.
        assert!(matches!(
            strict("plain-text", true),
            Ok(Cow::Borrowed("plain-text"))
        ));
        assert!(matches!(strict("a+b", false), Ok(Cow::Borrowed("a+b"))));
        assert_eq!(strict("", true).as_deref(), Ok(""));
    }

    #[test]
    #[cfg(feature = "server")]
    fn lossy_pairs() {
        let pairs: Vec<(String, String)> = query_pairs_lossy("a=1+2&&=e&%zz=%FF&k&k=%2F&alt=json")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("a", "1 2"),
                ("", "e"),
                ("%zz", "\u{FFFD}"),
                ("k", ""),
                ("k", "/"),
                ("alt", "json")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn base64_both_alphabets() {
        for data in [
            &b""[..],
            b"\x00",
            b"\x01\x02",
            b"\xfb\xff\xbf",
            b"hello, world",
        ] {
            let text = base64_encode(data);
            assert_eq!(base64_decode(&text).as_deref(), Some(data), "{text}");
            assert_eq!(
                base64_decode(text.trim_end_matches('=')).as_deref(),
                Some(data)
            );
            let url_safe = text.replace('+', "-").replace('/', "_");
            assert_eq!(base64_decode(&url_safe).as_deref(), Some(data));
        }
        assert_eq!(base64_encode(b"\x01\x02\x03"), "AQID");
        assert_eq!(base64_encode(b"\xfb\xff"), "+/8=");
        assert_eq!(base64_decode("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(base64_decode("+_8="), Some(vec![0xfb, 0xff]));
        assert_eq!(base64_decode("A"), None);
        assert_eq!(base64_decode("AQ*D"), None);
    }
}
