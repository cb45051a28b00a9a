//! A small JSON writer: the report's structure is fixed and flat, which
//! does not need a serialisation library (nor a network to fetch one).

use core::fmt::Write;

/// A JSON string literal.
pub fn string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out += "\\\"",
            '\\' => out += "\\\\",
            '\n' => out += "\\n",
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A number, or `null` for one that JSON cannot represent.
pub fn number(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            if v.fract() == 0.0 && v.abs() < 1e15 {
                format!("{}", v as i64)
            } else {
                format!("{v}")
            }
        }
        _ => "null".into(),
    }
}

/// A value as the guest printed it: a number when it is one.
pub fn value(s: &str) -> String {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && !s.starts_with('+') => number(Some(v)),
        _ => string(s),
    }
}

/// An object from already encoded values.
pub fn object<'a>(fields: impl IntoIterator<Item = (&'a str, String)>) -> String {
    let body: Vec<String> = fields
        .into_iter()
        .map(|(k, v)| format!("{}: {v}", string(k)))
        .collect();
    format!("{{{}}}", body.join(", "))
}

/// An array from already encoded values, one per line.
pub fn array(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    if items.is_empty() {
        return "[]".into();
    }
    format!("[\n  {}\n]", items.join(",\n  "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes() {
        assert_eq!(string("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
        assert_eq!(number(Some(3.0)), "3");
        assert_eq!(number(Some(0.25)), "0.25");
        assert_eq!(number(Some(f64::NAN)), "null");
        assert_eq!(number(None), "null");
        assert_eq!(value("12"), "12");
        assert_eq!(value("tsc"), "\"tsc\"");
        assert_eq!(value("inf"), "\"inf\"");
        assert_eq!(
            object([("a", number(Some(1.0))), ("b", string("x"))]),
            r#"{"a": 1, "b": "x"}"#
        );
        assert_eq!(array([]), "[]");
        assert_eq!(array(["1".into(), "2".into()]), "[\n  1,\n  2\n]");
    }
}
