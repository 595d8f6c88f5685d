//! Personal data hidden by default on the console's event pages: the
//! fields providers use for a person (1buy Checkout's `full_name`,
//! `date_of_birth`, `phone`, `email`, street, postal code, city; the
//! published event's
//! `customer`), and any string anywhere that looks like an email address.

use serde_json::Value;

/// Shown instead of a masked value.
pub const MASK: &str = "••• (hidden)";

/// Keys whose value is personal data, compared without case, `_` and `-`.
const PII_KEYS: &[&str] = &[
    "email",
    "emailaddress",
    "customeremail",
    "useremail",
    "fullname",
    "firstname",
    "lastname",
    "middlename",
    "surname",
    "dateofbirth",
    "dob",
    "birthdate",
    "phone",
    "phonenumber",
    "mobile",
    "street",
    "streetaddress",
    "addressline1",
    "addressline2",
    "postalcode",
    "postcode",
    "zip",
    "zipcode",
    "city",
    "document",
    "documentnumber",
    "documentid",
    "nationalid",
    "taxid",
    "ip",
    "ipaddress",
];

fn is_pii_key(k: &str) -> bool {
    let norm: String = k
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    PII_KEYS.contains(&norm.as_str())
}

/// Looks like `local@domain.tld` (no spaces, one `@`, a dot after it).
pub fn looks_like_email(s: &str) -> bool {
    let s = s.trim();
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// `v` with personal data replaced by [`MASK`]; how many values were hidden.
pub fn mask(v: &Value) -> (Value, usize) {
    let mut n = 0;
    let out = walk(v, &mut n, false);
    (out, n)
}

fn walk(v: &Value, n: &mut usize, hide: bool) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let pii = hide || is_pii_key(k) || k == "customer";
                    (k.clone(), walk(x, n, pii))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, n, hide)).collect()),
        Value::String(s) if hide && !s.is_empty() => {
            *n += 1;
            Value::String(MASK.to_owned())
        }
        Value::String(s) => {
            let (t, k) = mask_text(s);
            *n += k;
            Value::String(t)
        }
        Value::Number(_) if hide => {
            *n += 1;
            Value::String(MASK.to_owned())
        }
        other => other.clone(),
    }
}

/// A string that may hold personal data (a non-JSON body): emails hidden.
pub fn mask_text(s: &str) -> (String, usize) {
    let mut n = 0;
    let out = s
        .split_inclusive(char::is_whitespace)
        .map(|w| {
            let word = w.trim_end();
            if looks_like_email(word.trim_matches(|c: char| "\"'<>,;()".contains(c))) {
                n += 1;
                format!("{MASK}{}", &w[word.len()..])
            } else {
                w.to_owned()
            }
        })
        .collect();
    (out, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checkout_fields_and_emails_are_hidden() {
        let body = json!({"data": {
            "id": "ck-1", "full_name": "Jane Q. Public", "date_of_birth": "1990-04-12",
            "phone": "+4915112345678", "email": "jane@example.com", "street": "Musterstrasse 12",
            "postal_code": "10115", "city": "Berlin", "country": "DE",
            "note": "contact ops@shop.example", "quote_amount": "100.00",
            "extra": {"contact": "bob@example.org"}, "status": "order_complete"
        }, "customer": {"email": "jane@example.com"}});
        let (m, n) = mask(&body);
        let s = m.to_string();
        for secret in [
            "Jane",
            "1990-04-12",
            "+4915112345678",
            "jane@example.com",
            "Musterstrasse",
            "10115",
            "Berlin",
            "bob@example.org",
            "ops@shop",
        ] {
            assert!(!s.contains(secret), "{secret} visible in {s}");
        }
        // What is not personal stays: ids, amounts, country, statuses, and
        // the rest of a sentence around an address.
        for kept in ["ck-1", "100.00", "\"DE\"", "order_complete", "contact "] {
            assert!(s.contains(kept), "{kept} hidden in {s}");
        }
        assert_eq!(n, 10);
    }

    #[test]
    fn text_bodies_hide_emails() {
        let (m, n) = mask_text("from <jane@example.com> about order 7\n");
        assert_eq!(n, 1);
        assert!(!m.contains("jane@"));
        assert!(m.contains("order 7"));
    }
}
