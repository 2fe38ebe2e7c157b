//! The list filters the emulator understands: equality tests on `done`, `metadata.state` and
//! `metadata.type`, joined by `AND`.

use crate::pb::google::earthengine::v1::OperationMetadata;
use crate::pb::google::earthengine::v1::operation_metadata::State;

/// What the emulator's list filter supports, as error messages say it.
pub const SUPPORTED: &str = "supported filters are equality tests on `done`, `metadata.state` and \
     `metadata.type`, joined by AND (values may be quoted), e.g. \
     `metadata.state = RUNNING AND done = false`";

/// A parsed list filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    done: Option<bool>,
    states: Vec<State>,
    types: Vec<String>,
}

impl Filter {
    /// Parses a filter; the empty filter matches everything. The error names what is
    /// supported.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let mut filter = Filter::default();
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Ok(filter);
        }
        let mut i = 0;
        loop {
            let (Some(field), Some(op), Some(value)) =
                (tokens.get(i), tokens.get(i + 1), tokens.get(i + 2))
            else {
                return Err(format!("incomplete filter `{text}`: {SUPPORTED}"));
            };
            if op.text != "=" || op.quoted {
                return Err(format!(
                    "unsupported operator `{}` in filter `{text}`: {SUPPORTED}",
                    op.text
                ));
            }
            if value.text == "=" && !value.quoted {
                return Err(format!("missing value in filter `{text}`: {SUPPORTED}"));
            }
            let v = value.text.as_str();
            match field.text.as_str() {
                "done" => {
                    filter.done = Some(match v.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(format!(
                                "`done` compares with true or false, not `{v}`: {SUPPORTED}"
                            ));
                        }
                    });
                }
                "metadata.state" => {
                    let state = State::from_str_name(&v.to_ascii_uppercase()).ok_or_else(|| {
                        format!(
                            "unknown state `{v}` (PENDING, RUNNING, CANCELLING, SUCCEEDED, \
                             CANCELLED, FAILED): {SUPPORTED}"
                        )
                    })?;
                    filter.states.push(state);
                }
                "metadata.type" => filter.types.push(v.to_ascii_uppercase()),
                other => {
                    return Err(format!("unsupported filter field `{other}`: {SUPPORTED}"));
                }
            }
            i += 3;
            match tokens.get(i) {
                None => break,
                Some(t) if !t.quoted && t.text.eq_ignore_ascii_case("AND") => i += 1,
                Some(t) => {
                    return Err(format!(
                        "unsupported `{}` in filter `{text}`: {SUPPORTED}",
                        t.text
                    ));
                }
            }
        }
        Ok(filter)
    }

    /// Whether the filter matches everything.
    pub fn is_empty(&self) -> bool {
        self == &Filter::default()
    }

    /// Whether an operation with this `done` and metadata passes.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn matches(&self, done: bool, meta: &OperationMetadata) -> bool {
        self.done.is_none_or(|d| d == done)
            && self.states.iter().all(|s| *s as i32 == meta.state)
            && self
                .types
                .iter()
                .all(|t| t.eq_ignore_ascii_case(&meta.r#type))
    }

    /// [`matches`](Self::matches) from the parts it looks at, without building metadata.
    pub(crate) fn matches_parts(&self, done: bool, state: State, task_type: &str) -> bool {
        self.done.is_none_or(|d| d == done)
            && self.states.iter().all(|s| *s == state)
            && self.types.iter().all(|t| t.eq_ignore_ascii_case(task_type))
    }
}

#[derive(Debug)]
struct Token {
    text: String,
    quoted: bool,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '=' {
            chars.next();
            tokens.push(Token {
                text: "=".into(),
                quoted: false,
            });
        } else if c == '"' || c == '\'' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some(q) if q == c => break,
                    Some(ch) => s.push(ch),
                    None => return Err(format!("unterminated quote in filter `{text}`")),
                }
            }
            tokens.push(Token {
                text: s,
                quoted: true,
            });
        } else {
            let mut s = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '=' || ch == '"' || ch == '\'' {
                    break;
                }
                s.push(ch);
                chars.next();
            }
            // `!=`, `<`, `:` and friends come out as one word and are refused by the parser.
            tokens.push(Token {
                text: s,
                quoted: false,
            });
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(state: State, ty: &str) -> OperationMetadata {
        OperationMetadata {
            state: state as i32,
            r#type: ty.into(),
            ..Default::default()
        }
    }

    #[test]
    fn parses_and_matches() {
        let f = Filter::parse("metadata.state = RUNNING AND done = false").unwrap();
        assert!(f.matches(false, &meta(State::Running, "EXPORT_IMAGE")));
        assert!(!f.matches(true, &meta(State::Running, "EXPORT_IMAGE")));
        assert!(!f.matches(false, &meta(State::Pending, "EXPORT_IMAGE")));
        let f = Filter::parse("metadata.type='export_video' and done=TRUE").unwrap();
        assert!(f.matches(true, &meta(State::Succeeded, "EXPORT_VIDEO")));
        assert!(Filter::parse("").unwrap().is_empty());
        assert!(Filter::parse("  ").unwrap().is_empty());
        let f = Filter::parse(r#"metadata.state = "RUNNING" AND done=false"#).unwrap();
        assert!(!f.is_empty());
    }

    #[test]
    fn refuses_the_rest() {
        for bad in [
            "done",
            "done =",
            "done = true OR done = false",
            "metadata.state != RUNNING",
            "metadata.state = RUNNINGG",
            "name = x",
            "done = true AND",
            "metadata.type = \"x",
            "done : true",
            "done = maybe",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
        let err = Filter::parse("metadata.progress > 0.5").unwrap_err();
        assert!(err.contains(SUPPORTED), "{err}");
    }
}
