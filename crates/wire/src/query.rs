//! The AWS Query protocol, as IAM and STS speak it.
//!
//! Requests are `application/x-www-form-urlencoded` (`Action=CreateUser&Version=2010-05-08&
//! UserName=alice`), with lists flattened as `Tags.member.1.Key=…&Tags.member.1.Value=…`.
//! Responses are XML: `<XResponse xmlns="…"><XResult>…</XResult><ResponseMetadata>
//! <RequestId>…</RequestId></ResponseMetadata></XResponse>`; errors are
//! `<ErrorResponse><Error><Type>Sender</Type><Code>…</Code><Message>…</Message></Error>
//! <RequestId>…</RequestId></ErrorResponse>` with the status of the error.

use std::fmt::Write as _;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::ApiError;

/// Most parameters a request may carry; far above what any operation takes.
const MAX_PARAMS: usize = 1000;

/// The decoded parameters of one Query request, in order of appearance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("MalformedQueryString", message)
}

fn decode_component(raw: &str) -> Result<String, ApiError> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| malformed("The request contains a parameter that is not valid UTF-8."))
}

impl Params {
    /// Decodes the query string and the form body together (a parameter may be in either).
    pub fn parse(query: &str, body: &[u8]) -> Result<Params, ApiError> {
        let body = std::str::from_utf8(body)
            .map_err(|_| malformed("The request body is not valid UTF-8."))?;
        let mut pairs = Vec::new();
        for part in query.split('&').chain(body.split('&')) {
            if part.is_empty() {
                continue;
            }
            if pairs.len() >= MAX_PARAMS {
                return Err(malformed("The request has too many parameters."));
            }
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode_component(name)?, decode_component(value)?));
        }
        Ok(Params { pairs })
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `Action`.
    pub fn action(&self) -> Option<&str> {
        self.get("Action")
    }

    /// A list of strings: `<prefix>.member.1`, `<prefix>.member.2`, … in index order.
    pub fn list(&self, prefix: &str) -> Result<Vec<&str>, ApiError> {
        let mut items = self.indexed(prefix, None)?;
        items.sort_by_key(|(i, _)| *i);
        Ok(items.into_iter().map(|(_, v)| v).collect())
    }

    /// A list of structures: `<prefix>.member.N.<field>`, one `Vec` of optional field values
    /// (in `fields` order) per index, in index order.
    pub fn struct_list(
        &self,
        prefix: &str,
        fields: &[&str],
    ) -> Result<Vec<Vec<Option<&str>>>, ApiError> {
        let mut rows: std::collections::BTreeMap<u32, Vec<Option<&str>>> = Default::default();
        for (position, field) in fields.iter().enumerate() {
            for (index, value) in self.indexed(prefix, Some(field))? {
                let row = rows
                    .entry(index)
                    .or_insert_with(|| vec![None; fields.len()]);
                if let Some(slot) = row.get_mut(position) {
                    *slot = Some(value);
                }
            }
        }
        Ok(rows.into_values().collect())
    }

    fn indexed(&self, prefix: &str, field: Option<&str>) -> Result<Vec<(u32, &str)>, ApiError> {
        let head = format!("{prefix}.member.");
        let mut out = Vec::new();
        for (name, value) in &self.pairs {
            let Some(rest) = name.strip_prefix(&head) else {
                continue;
            };
            let index = match (field, rest.split_once('.')) {
                (None, None) => rest,
                (Some(f), Some((index, actual))) if actual == f => index,
                _ => continue,
            };
            let index: u32 = index
                .parse()
                .ok()
                .filter(|i| *i >= 1)
                .ok_or_else(|| malformed(format!("Invalid list index in parameter {name}.")))?;
            out.push((index, value.as_str()));
        }
        Ok(out)
    }
}

/// Characters RFC 3986 leaves unreserved are kept; everything else is percent-encoded, as AWS
/// encodes policy documents in IAM responses.
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes `s` (policy documents in IAM responses are URL-encoded JSON).
pub fn url_encode(s: &str) -> String {
    utf8_percent_encode(s, URL_ENCODE).to_string()
}

/// Escapes text for XML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab, newline and carriage return are not allowed in
            // XML 1.0 at all, not even as references: write the replacement character instead.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                out.push('\u{fffd}');
            }
            c => out.push(c),
        }
    }
    out
}

/// A small XML writer: elements and escaped text, nothing else.
#[derive(Debug, Default)]
pub struct XmlWriter {
    buf: String,
}

impl XmlWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn open(&mut self, tag: &str) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    pub fn close(&mut self, tag: &str) -> &mut Self {
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// `<tag>escaped text</tag>`.
    pub fn text(&mut self, tag: &str, text: &str) -> &mut Self {
        self.open(tag);
        self.buf.push_str(&escape(text));
        self.close(tag)
    }

    /// `text` if `value` is set.
    pub fn opt(&mut self, tag: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.text(tag, v);
        }
        self
    }

    pub fn into_string(self) -> String {
        self.buf
    }
}

/// A successful response: `<{action}Response xmlns="{namespace}"><{action}Result>{result}
/// </{action}Result><ResponseMetadata>…</ResponseMetadata></{action}Response>`. `result` is
/// already-escaped XML (from [`XmlWriter`]); `None` leaves the result element out (operations
/// without output, such as DeleteUser).
pub fn response(action: &str, namespace: &str, request_id: &str, result: Option<&str>) -> Vec<u8> {
    let mut out = String::new();
    let _ = write!(out, "<{action}Response xmlns=\"{}\">", escape(namespace));
    if let Some(result) = result {
        let _ = write!(out, "<{action}Result>{result}</{action}Result>");
    }
    let _ = write!(
        out,
        "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        escape(request_id)
    );
    out.into_bytes()
}

/// The error document for `err`: `Type` is `Sender` for client errors, `Receiver` for 5xx.
pub fn error_response(err: &ApiError, namespace: &str, request_id: &str) -> Vec<u8> {
    let fault = if err.status >= 500 {
        "Receiver"
    } else {
        "Sender"
    };
    format!(
        "<ErrorResponse xmlns=\"{}\"><Error><Type>{fault}</Type><Code>{}</Code>\
         <Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        escape(namespace),
        escape(&err.code),
        escape(&err.message),
        escape(request_id)
    )
    .into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn decodes_form_and_query() {
        let p = Params::parse(
            "Action=GetUser",
            b"UserName=a%2Bb+c&Tags.member.2.Key=k2&Tags.member.1.Key=k1&Tags.member.1.Value=v%3D1&Empty=",
        )
        .unwrap();
        assert_eq!(p.action(), Some("GetUser"));
        assert_eq!(p.get("UserName"), Some("a+b c"));
        assert_eq!(p.get("Empty"), Some(""));
        assert_eq!(p.get("Missing"), None);
        let tags = p.struct_list("Tags", &["Key", "Value"]).unwrap();
        assert_eq!(
            tags,
            vec![vec![Some("k1"), Some("v=1")], vec![Some("k2"), None]]
        );
    }

    #[test]
    fn lists_in_index_order() {
        let p = Params::parse("", b"A.member.10=x&A.member.2=y&A.member.1=z").unwrap();
        assert_eq!(p.list("A").unwrap(), vec!["z", "y", "x"]);
        assert!(
            Params::parse("", b"A.member.0=x")
                .unwrap()
                .list("A")
                .is_err()
        );
        assert!(
            Params::parse("", b"A.member.x=x")
                .unwrap()
                .list("A")
                .is_err()
        );
    }

    #[test]
    fn refuses_bad_encoding() {
        assert_eq!(
            Params::parse("", b"A=%FF").unwrap_err().code,
            "MalformedQueryString"
        );
        assert!(Params::parse("", &[0xff]).is_err());
    }

    #[test]
    fn escapes_xml() {
        let mut w = XmlWriter::new();
        w.text("A", "<&>\"'\u{1}");
        assert_eq!(w.into_string(), "<A>&lt;&amp;&gt;&quot;&apos;\u{fffd}</A>");
        let e = ApiError::new(
            "NoSuchEntity",
            404,
            "The user with name <x> cannot be found.",
        );
        let xml = String::from_utf8(error_response(&e, "ns", "rid")).unwrap();
        assert!(xml.contains("<Type>Sender</Type><Code>NoSuchEntity</Code>"));
        assert!(xml.contains("&lt;x&gt;"));
    }

    #[test]
    fn url_encodes_like_aws() {
        assert_eq!(
            url_encode("{\"a\": \"b*\"}"),
            "%7B%22a%22%3A%20%22b%2A%22%7D"
        );
    }
}
