//! Who the peer proved to be, read from its verified certificate.

use std::fmt::Write as _;

use rustls::pki_types::CertificateDer;

use crate::SpkiPin;

/// The peer's identity, as established by a completed handshake.
///
/// Available from [`TlsSession::peer_identity`](crate::TlsSession::peer_identity)
/// once the handshake is over and only if the peer presented a certificate
/// that passed verification: on a client always (CA or pin), on a server
/// when it requires client certificates (mutual TLS). Built from the
/// end-entity certificate.
///
/// What is vouched for depends on the trust mode: with a CA (either
/// direction) the whole certificate is; with a pinned server key only the
/// key ([`pin`](Self::pin)) is — the subject and names are then the
/// server's own, unchecked, claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    pin: SpkiPin,
    subject: String,
    dns_names: Vec<String>,
    chain: Vec<CertificateDer<'static>>,
}

impl PeerIdentity {
    /// Reads the identity from a verified chain (end-entity first); `None`
    /// for an empty chain or one webpki cannot parse (never the case after
    /// verification, which parsed it).
    pub(crate) fn from_chain(chain: &[CertificateDer<'_>]) -> Option<Self> {
        let leaf = chain.first()?;
        let cert = webpki::EndEntityCert::try_from(leaf).ok()?;
        Some(Self {
            pin: SpkiPin::of_spki(cert.subject_public_key_info().as_ref()),
            subject: format_name(cert.subject()),
            dns_names: cert.valid_dns_names().map(str::to_owned).collect(),
            chain: chain.iter().map(|c| c.clone().into_owned()).collect(),
        })
    }

    /// The pin of the peer's key: stable across certificate renewals that
    /// keep the key; what an access list of client keys would hold.
    pub fn pin(&self) -> SpkiPin {
        self.pin
    }

    /// The certificate's subject, attributes in certificate order, e.g.
    /// `CN=alice,O=Example`. Values that are not text are shown as `#` and
    /// hex (RFC 4514); `,` `+` `"` `\` `<` `>` `;` `=` in values are escaped
    /// with `\`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The DNS names in the certificate's subjectAltName extension.
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    /// The chain the peer presented, end-entity certificate first.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }
}

/// Formats the contents of a DER `Name` (a SEQUENCE OF RelativeDistinguishedName).
/// Malformed input (impossible after webpki accepted the certificate) ends
/// the text with `?` instead of failing: the subject is for logs and access
/// decisions on exact strings, never parsed back.
fn format_name(mut name: &[u8]) -> String {
    let mut out = String::new();
    while !name.is_empty() {
        let Some((0x31, mut rdn, rest)) = read_tlv(name) else {
            out.push('?');
            break;
        };
        name = rest;
        let mut first_in_rdn = true;
        while !rdn.is_empty() {
            let Some((0x30, attribute, rest)) = read_tlv(rdn) else {
                out.push('?');
                return out;
            };
            rdn = rest;
            let Some((0x06, oid, value)) = read_tlv(attribute) else {
                out.push('?');
                return out;
            };
            if !out.is_empty() {
                out.push(if first_in_rdn { ',' } else { '+' });
            }
            first_in_rdn = false;
            out.push_str(&attribute_name(oid));
            out.push('=');
            push_value(&mut out, value);
        }
    }
    out
}

/// One DER tag-length-value with a single-byte tag: (tag, value, rest).
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, mut input) = input.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || input.len() < count {
            return None;
        }
        let (bytes, rest) = input.split_at(count);
        input = rest;
        bytes
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b))
    };
    (input.len() >= len).then(|| (tag, &input[..len], &input[len..]))
}

fn attribute_name(oid: &[u8]) -> String {
    // 2.5.4.x: the X.520 attribute types.
    let short = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x55, 0x04, 0x05] => "serialNumber",
        // 0.9.2342.19200300.100.1.25
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        _ => return dotted_oid(oid),
    };
    short.to_owned()
}

fn dotted_oid(oid: &[u8]) -> String {
    let mut arcs = Vec::new();
    let mut value: u64 = 0;
    for &byte in oid {
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            arcs.push(value);
            value = 0;
        }
    }
    let mut out = String::new();
    if let Some((&first, rest)) = arcs.split_first() {
        let (a, b) = match first {
            0..40 => (0, first),
            40..80 => (1, first - 40),
            _ => (2, first - 80),
        };
        let _ = write!(out, "{a}.{b}");
        for arc in rest {
            let _ = write!(out, ".{arc}");
        }
    }
    out
}

fn push_value(out: &mut String, value: &[u8]) {
    let text = match read_tlv(value) {
        // UTF8String, PrintableString, IA5String, TeletexString (Latin-1 in practice).
        Some((0x0c | 0x13 | 0x16, text, [])) => std::str::from_utf8(text).ok().map(str::to_owned),
        Some((0x14, text, [])) => Some(text.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16BE.
        Some((0x1e, text, [])) if text.len() % 2 == 0 => {
            let units = text
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        _ => None,
    };
    match text {
        Some(text) => {
            for c in text.chars() {
                if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
                    out.push('\\');
                }
                out.push(c);
            }
        }
        None => {
            out.push('#');
            for byte in value {
                let _ = write!(out, "{byte:02x}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_a_name_with_escapes_and_unknown_attributes() {
        // SET { SEQ { CN, UTF8 "a,b" } } SET { SEQ { O, Printable "X" } SEQ { 1.2.3, UTF8 "y" } }
        let name = [
            0x31, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x03, b'a', b',', b'b',
            0x31, 0x14, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x13, 0x01, b'X', 0x30, 0x08,
            0x06, 0x02, 0x2a, 0x03, 0x0c, 0x02, b'y', b'z',
        ];
        assert_eq!(format_name(&name), "CN=a\\,b,O=X+1.2.3=yz");
    }

    #[test]
    fn malformed_name_ends_with_a_question_mark() {
        assert_eq!(format_name(&[0x31, 0x05, 0x30]), "?");
        assert_eq!(format_name(&[]), "");
    }

    #[test]
    fn non_text_values_are_hex() {
        let name = [
            0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, 0x04, 0x01, 0xff,
        ];
        assert_eq!(format_name(&name), "CN=#0401ff");
    }
}
