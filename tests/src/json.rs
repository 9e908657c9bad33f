//! A canonical JSON writer: two-space indentation, object keys in byte order, one trailing
//! newline. The manifest's bytes must not depend on how `serde_json` happens to be configured
//! in a build (its `preserve_order` feature changes the order of `Value` objects), so the
//! manifest is written by this function rather than by `serde_json::to_string_pretty`.

use serde_json::Value;

/// `value` as canonical pretty-printed JSON, ending in a newline.
pub fn to_canonical_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, 0, &mut out);
    out.push('\n');
    out
}

fn indent(level: usize, out: &mut String) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_string(s: &str, out: &mut String) {
    // serde_json's escaping of a plain string cannot fail and does not depend on features.
    out.push_str(&Value::String(s.to_owned()).to_string());
}

fn write_value(value: &Value, level: usize, out: &mut String) {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => out.push_str(&value.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                indent(level + 1, out);
                write_value(item, level + 1, out);
            }
            out.push('\n');
            indent(level, out);
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push_str("{\n");
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                indent(level + 1, out);
                write_string(k, out);
                out.push_str(": ");
                write_value(v, level + 1, out);
            }
            out.push('\n');
            indent(level, out);
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_and_indented() {
        let v = json!({"b": [1, {"z": null, "a": "x\"y"}], "a": {}, "c": []});
        assert_eq!(
            to_canonical_string(&v),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"a\": \"x\\\"y\",\n      \"z\": null\n    }\n  ],\n  \"c\": []\n}\n"
        );
        let back: Value = serde_json::from_str(&to_canonical_string(&v)).unwrap();
        assert_eq!(back, v);
    }
}
