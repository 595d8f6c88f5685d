//! JSON the way the providers' JavaScript sees it.
//!
//! * [`parse_strict`] parses bytes into a [`Value`], keeping key order and
//!   rejecting duplicate keys: a signed body with two `signature` (or two
//!   `eventName`) members could be verified under one reading and acted on
//!   under another, so such bodies are refused outright.
//! * [`stringify`] writes a [`Value`] exactly as ECMAScript's
//!   `JSON.stringify(value)` would: compact, keys in insertion order,
//!   numbers in ECMAScript's shortest form (`100`, `1e+21`, `5e-7`),
//!   strings escaped the way JavaScript escapes them.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Why a body is not acceptable JSON.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JsonError {
    #[error("body is not valid JSON: {0}")]
    Syntax(String),
    #[error("body repeats the key `{0}`")]
    DuplicateKey(String),
}

/// Maximum nesting depth accepted (serde_json's own limit is 128).
const MAX_DEPTH: usize = 64;

/// Parse `bytes` (UTF-8 JSON) into a [`Value`], refusing duplicate keys and
/// nesting deeper than 64 levels. A leading UTF-8 BOM is refused too: it is
/// not JSON and no provider sends one.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = StrictSeed { depth: 0 }
        .deserialize(&mut de)
        .map_err(classify)?;
    de.end().map_err(classify)?;
    Ok(v)
}

fn classify(e: serde_json::Error) -> JsonError {
    let msg = e.to_string();
    if let Some(rest) = msg.strip_prefix(DUP_PREFIX) {
        let key = rest.split('\u{1}').next().unwrap_or_default();
        return JsonError::DuplicateKey(key.to_owned());
    }
    JsonError::Syntax(msg)
}

/// Members a parsed object has room for before it grows.
const OBJECT_CAPACITY: usize = 8;

const DUP_PREFIX: &str = "\u{1}duplicate key\u{1}";

/// An integer that JavaScript (an IEEE double) cannot hold exactly is
/// refused: its text and the value a JavaScript signer saw differ, so two
/// spellings would share one signature (`9007199254740993` and
/// `9007199254740992`) and payhook could verify one reading and publish the
/// other.
fn exact_in_javascript<E: de::Error>(v: i128) -> Result<(), E> {
    const SAFE: i128 = 1 << 53;
    // `as` from f64 to i128 is exact for every double of this magnitude.
    if (-SAFE..=SAFE).contains(&v) || (v as f64) as i128 == v {
        Ok(())
    } else {
        Err(E::custom(
            "integer not exactly representable as a JavaScript number",
        ))
    }
}

struct StrictSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor { depth: self.depth })
    }
}

struct StrictVisitor {
    depth: usize,
}

impl StrictVisitor {
    fn deeper<E: de::Error>(&self) -> Result<StrictSeed, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom("nesting too deep"));
        }
        Ok(StrictSeed {
            depth: self.depth + 1,
        })
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        exact_in_javascript(i128::from(v))?;
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        exact_in_javascript(i128::from(v))?;
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self.deeper()?)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        // Room for the members of a typical webhook object: from empty, the
        // map's entries were reallocated at 4, 8 and 15 members (~2 % of
        // serve's samples in `perf`); JSON gives no count to size it by.
        let mut out = Map::with_capacity(OBJECT_CAPACITY);
        while let Some(key) = map.next_key::<String>()? {
            let v = map.next_value_seed(self.deeper()?)?;
            match out.entry(key) {
                serde_json::map::Entry::Vacant(slot) => {
                    slot.insert(v);
                }
                serde_json::map::Entry::Occupied(taken) => {
                    return Err(de::Error::custom(format_args!(
                        "{DUP_PREFIX}{}\u{1}",
                        taken.key()
                    )));
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// `JSON.stringify(value)` as ECMAScript defines it.
pub fn stringify(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value);
    out
}

/// `JSON.stringify` of `value` without its top-level members named in
/// `skip`: the same text as `stringify(&without_key(value, k))`, without
/// copying the value.
pub fn stringify_without(value: &Value, skip: &[&str]) -> String {
    let Value::Object(m) = value else {
        return stringify(value);
    };
    let mut out = String::with_capacity(256);
    out.push('{');
    let mut first = true;
    for (k, x) in m {
        if skip.contains(&k.as_str()) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_string(&mut out, k);
        out.push(':');
        write_value(&mut out, x);
    }
    out.push('}');
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, x);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, x);
            }
            out.push('}');
        }
    }
}

/// JavaScript numbers are IEEE doubles: a JSON number is read as the nearest
/// double and printed in ECMAScript's Number::toString form.
fn write_number(out: &mut String, n: &Number) {
    // Integers that a double holds exactly print the same either way; the
    // fast path avoids float formatting for the common case.
    if let Some(i) = n.as_i64()
        && i.unsigned_abs() <= (1u64 << 53)
    {
        use std::fmt::Write;
        let _ = write!(out, "{i}");
        return;
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if !f.is_finite() {
        // JSON.stringify(Infinity) === "null"; serde_json never yields it
        // from valid input, but keep the JavaScript rule.
        out.push_str("null");
        return;
    }
    let mut buf = ryu_js::Buffer::new();
    out.push_str(buf.format_finite(f));
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    // Only ASCII needs escaping: every byte of a multi-byte UTF-8 sequence
    // is >= 0x80, so scanning bytes never splits a character.
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// `value` without the top-level member `key` (order of the rest kept).
pub fn without_key(value: &Value, key: &str) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != key)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_ecmascript_does() {
        let v = parse_strict(br#"[100.0,1e21,1E-7,0.1,-0,5,123456789012345678901,1.5e300]"#)
            .unwrap_or_default();
        assert_eq!(
            stringify(&v),
            "[100,1e+21,1e-7,0.1,0,5,123456789012345680000,1.5e+300]"
        );
    }

    #[test]
    fn strings_escape_as_javascript_does() {
        let v = parse_strict(br#"{"a":"\"\\\/\b\f\n\r\t\u0001\u001f\u2028 \u00e9 \ud83d\ude00"}"#)
            .unwrap_or_default();
        assert_eq!(
            stringify(&v),
            "{\"a\":\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\u{2028} \u{e9} \u{1f600}\"}"
        );
    }

    #[test]
    fn integers_javascript_cannot_hold_are_refused() {
        for bad in [
            "9007199254740993",
            "-9007199254740993",
            "18446744073709551615",
        ] {
            assert!(parse_strict(bad.as_bytes()).is_err(), "{bad}");
        }
        for ok in [
            "9007199254740992",
            "-9007199254740992",
            "123456789012345680000",
            "18446744073709551616",
        ] {
            // The last one is read as a float by serde_json: also exact.
            assert!(parse_strict(ok.as_bytes()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert_eq!(
            parse_strict(br#"{"a":1,"a":2}"#),
            Err(JsonError::DuplicateKey("a".into()))
        );
        assert_eq!(
            parse_strict(br#"{"x":{"signature":"1","signature":"2"}}"#),
            Err(JsonError::DuplicateKey("signature".into()))
        );
    }

    #[test]
    fn bom_trailing_garbage_and_deep_nesting_are_refused() {
        assert!(parse_strict(b"\xef\xbb\xbf{}").is_err());
        assert!(parse_strict(b"{} x").is_err());
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(parse_strict(deep.as_bytes()).is_err());
        assert!(parse_strict(b"{\"a\":\"\xff\"}").is_err());
    }

    #[test]
    fn key_order_is_kept_and_key_removal_keeps_it() {
        let v = parse_strict(br#"{"z":1,"signature":"s","a":2}"#).unwrap_or_default();
        assert_eq!(stringify(&without_key(&v, "signature")), r#"{"z":1,"a":2}"#);
        assert_eq!(stringify_without(&v, &["signature"]), r#"{"z":1,"a":2}"#);
        assert_eq!(stringify_without(&v, &["a", "z"]), r#"{"signature":"s"}"#);
        assert_eq!(stringify_without(&v, &["signature", "a", "z"]), "{}");
        let list = parse_strict(br#"[1,{"a":2}]"#).unwrap_or_default();
        assert_eq!(stringify_without(&list, &["a"]), r#"[1,{"a":2}]"#);
    }
}
