//! Hashing, HMAC, base64 and UUIDs.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::{alphabet, Engine as _};
use hmac::{Hmac, Mac};
use rhai::Engine;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{fail, scan, FnResult};
use crate::docs::FunctionDoc;
use crate::Limits;

/// URL-safe base64 that accepts input with or without padding.
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Lower-case hexadecimal of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// HMAC-SHA256 of `message` keyed with `secret`.
pub(crate) fn hmac_sha256(message: &str, secret: &str) -> Vec<u8> {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return Vec::new();
    };
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn decode_text(bytes: Result<Vec<u8>, base64::DecodeError>, what: &str) -> FnResult<String> {
    let bytes = bytes.map_err(|e| fail(format!("invalid {what}: {e}")))?;
    String::from_utf8(bytes).map_err(|_| fail(format!("{what} does not decode to UTF-8 text")))
}

fn uuid_namespace(name: &str) -> FnResult<Uuid> {
    match name.to_ascii_lowercase().as_str() {
        "dns" => Ok(Uuid::NAMESPACE_DNS),
        "url" => Ok(Uuid::NAMESPACE_URL),
        "oid" => Ok(Uuid::NAMESPACE_OID),
        "x500" => Ok(Uuid::NAMESPACE_X500),
        other => Uuid::parse_str(other)
            .map_err(|_| fail(format!("invalid UUID namespace '{name}': expected dns, url, oid, x500 or a UUID"))),
    }
}

/// Registers the crypto functions.
pub(crate) fn register(engine: &mut Engine, limits: &Limits) {
    engine.register_fn("sha256", |s: &str| scan(s).map(|()| hex(&Sha256::digest(s.as_bytes()))));
    engine.register_fn("hmac_sha256", |s: &str, secret: &str| scan(s).map(|()| hex(&hmac_sha256(s, secret))));
    let max = limits.max_string_size;
    // Encoding grows the text by a third: refused before it is built when the result would be too long.
    let encoded = move |s: &str| -> FnResult<()> {
        super::metered::ensure_fits(s.len().div_ceil(3).saturating_mul(4), max)?;
        scan(s)
    };
    engine.register_fn("base64_encode", move |s: &str| encoded(s).map(|()| STANDARD.encode(s)));
    engine.register_fn("base64_decode", |s: &str| {
        scan(s)?;
        decode_text(STANDARD.decode(s.trim()), "base64")
    });
    engine.register_fn("base64url_encode", move |s: &str| encoded(s).map(|()| URL_SAFE_NO_PAD.encode(s)));
    engine.register_fn("base64url_decode", |s: &str| {
        scan(s)?;
        decode_text(URL_SAFE_LENIENT.decode(s.trim()), "base64url")
    });
    engine.register_fn("uuid_v4", || Uuid::new_v4().to_string());
    engine.register_fn("uuid_v5", |name: &str| {
        scan(name).map(|()| Uuid::new_v5(&Uuid::NAMESPACE_URL, name.as_bytes()).to_string())
    });
    engine.register_fn("uuid_v5", |ns: &str, name: &str| -> FnResult<String> {
        scan(name)?;
        Ok(Uuid::new_v5(&uuid_namespace(ns)?, name.as_bytes()).to_string())
    });
    engine.register_fn("is_uuid", |s: &str| Uuid::parse_str(s.trim()).is_ok());
}

/// Documentation of the crypto functions.
pub(crate) const DOCS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "sha256",
        signature: "sha256(text: string) -> string",
        summary: "SHA-256 of the UTF-8 text, lower-case hex.",
        examples: &[(r#"sha256("abc")"#, r#""ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad""#)],
    },
    FunctionDoc {
        name: "hmac_sha256",
        signature: "hmac_sha256(message: string, secret: string) -> string",
        summary: "HMAC-SHA256 of `message` keyed with `secret`, lower-case hex (e.g. to sign or check webhooks).",
        examples: &[(
            r#"hmac_sha256("The quick brown fox jumps over the lazy dog", "key")"#,
            r#""f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8""#,
        )],
    },
    FunctionDoc {
        name: "base64_encode",
        signature: "base64_encode(text: string) -> string",
        summary: "Standard base64 (with padding) of the UTF-8 text.",
        examples: &[(r#"base64_encode("relais:s3cret")"#, r#""cmVsYWlzOnMzY3JldA==""#)],
    },
    FunctionDoc {
        name: "base64_decode",
        signature: "base64_decode(encoded: string) -> string",
        summary: "Decodes standard base64 to text; an error if the input is not base64 or not UTF-8 text.",
        examples: &[(r#"base64_decode("cmVsYWlzOnMzY3JldA==")"#, r#""relais:s3cret""#)],
    },
    FunctionDoc {
        name: "base64url_encode",
        signature: "base64url_encode(text: string) -> string",
        summary: "URL-safe base64 without padding (as in JWTs).",
        examples: &[(r#"base64url_encode("ü?>")"#, r#""w7w_Pg""#)],
    },
    FunctionDoc {
        name: "base64url_decode",
        signature: "base64url_decode(encoded: string) -> string",
        summary: "Decodes URL-safe base64, padded or not, to text.",
        examples: &[(r#"base64url_decode("w7w_Pg")"#, r#""ü?>""#)],
    },
    FunctionDoc {
        name: "uuid_v4",
        signature: "uuid_v4() -> string",
        summary: "A random UUID (version 4).",
        examples: &[("uuid_v4().len()", "36"), ("is_uuid(uuid_v4())", "true")],
    },
    FunctionDoc {
        name: "uuid_v5",
        signature: "uuid_v5([namespace: string,] name: string) -> string",
        summary: "The deterministic UUID (version 5) of `name` in `namespace` (dns, url, oid, x500 or a UUID; \
                  default url): the same name always gives the same id.",
        examples: &[
            (r#"uuid_v5("dns", "python.org")"#, r#""886313e1-3b8a-5372-9b90-0c9aee199e5d""#),
            (r#"uuid_v5("order-1") == uuid_v5("url", "order-1")"#, "true"),
        ],
    },
    FunctionDoc {
        name: "is_uuid",
        signature: "is_uuid(text: string) -> bool",
        summary: "Whether the text is a UUID.",
        examples: &[(r#"is_uuid("886313e1-3b8a-5372-9b90-0c9aee199e5d")"#, "true"), (r#"is_uuid("nope")"#, "false")],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_base64_is_an_error() {
        assert!(decode_text(STANDARD.decode("not base64!"), "base64").is_err());
    }

    #[test]
    fn base64_of_binary_data_is_an_error_not_garbage() {
        assert!(decode_text(STANDARD.decode("/w=="), "base64").is_err());
    }
}
