//! Rust spellings of proto names, as prost-build writes them.

/// `GetOperation` -> `get_operation`.
pub(crate) fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `field_violation` -> `FieldViolation`.
pub(crate) fn upper_camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A field name as prost-build writes it (keywords are raw identifiers).
pub(crate) fn field_ident(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "false", "fn",
        "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
        "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while",
        "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof",
        "unsized", "virtual", "yield", "try", "gen",
    ];
    match name {
        "self" | "super" | "crate" | "extern" => format!("{name}_"),
        _ if KEYWORDS.contains(&name) => format!("r#{name}"),
        _ => name.to_owned(),
    }
}

/// `n` times `super::`.
pub(crate) fn supers(n: usize) -> String {
    "super::".repeat(n)
}

/// The snake-case module prefix tonic gives a service (`LibraryService` -> `library_service`):
/// an underscore goes before each upper-case letter that follows another character.
pub(crate) fn service_module(name: &str) -> String {
    let mut out = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c.to_ascii_lowercase());
        if chars.peek().is_some_and(|next| next.is_uppercase()) {
            out.push('_');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        assert_eq!(snake("GetOperation"), "get_operation");
        assert_eq!(upper_camel("field_violation"), "FieldViolation");
        assert_eq!(field_ident("type"), "r#type");
        assert_eq!(field_ident("self"), "self_");
        assert_eq!(supers(2), "super::super::");
        assert_eq!(service_module("LibraryService"), "library_service");
    }
}
