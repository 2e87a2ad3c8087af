//! Payloads in (`TEXT`, `@FILE`, `@-`) and out (text when it is UTF-8, else hex).

use std::io::Read as _;

use bytes::Bytes;
use serde_json::{Value, json};

/// Reads a `--data` or `--key` value: `TEXT` as its bytes, `@FILE` as the
/// file's bytes, `@-` as standard input's, `@@TEXT` as `@TEXT`.
///
/// # Errors
/// The file (or standard input) cannot be read.
pub(crate) fn parse(text: &str) -> Result<Bytes, String> {
    if let Some(literal) = text.strip_prefix("@@") {
        return Ok(Bytes::from(format!("@{literal}")));
    }
    match text.strip_prefix('@') {
        None => Ok(Bytes::copy_from_slice(text.as_bytes())),
        Some("-") => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            Ok(Bytes::from(bytes))
        }
        Some(path) => std::fs::read(path)
            .map(Bytes::from)
            .map_err(|e| format!("cannot read {path}: {e}")),
    }
}

/// A payload for a person, on one line: `"text"` (quoted, escaped) when it
/// is UTF-8, `hex:0a1b…` otherwise.
pub(crate) fn human(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(text) => format!("{text:?}"),
        Err(_) => format!("hex:{}", hex::encode(payload)),
    }
}

/// A payload as JSON fields: `"payload"` (text when UTF-8, else hex) and
/// `"encoding"` (`"utf8"` or `"hex"`).
pub(crate) fn json_fields(payload: &[u8]) -> (Value, Value) {
    match std::str::from_utf8(payload) {
        Ok(text) => (json!(text), json!("utf8")),
        Err(_) => (json!(hex::encode(payload)), json!("hex")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_files_and_escapes() {
        assert_eq!(parse("hello").unwrap(), "hello");
        assert_eq!(parse("").unwrap(), "");
        assert_eq!(parse("@@home").unwrap(), "@home");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.bin");
        std::fs::write(&path, [0, 1, 255]).unwrap();
        assert_eq!(
            parse(&format!("@{}", path.display())).unwrap(),
            &[0, 1, 255][..]
        );
        let missing = parse("@/no/such/file").unwrap_err();
        assert!(
            missing.starts_with("cannot read /no/such/file: "),
            "{missing}"
        );
    }

    #[test]
    fn payloads_render_as_text_or_hex() {
        assert_eq!(human(b"hi\nthere"), r#""hi\nthere""#);
        assert_eq!(human(&[0xff, 0x00]), "hex:ff00");
        assert_eq!(json_fields(b"hi"), (json!("hi"), json!("utf8")));
        assert_eq!(json_fields(&[0xff]), (json!("ff"), json!("hex")));
    }
}
