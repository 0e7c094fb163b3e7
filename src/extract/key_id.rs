//! The identity of the API key or account whose rate limits a call shares,
//! as the `key_id` of an [`LlmSpan`](super::LlmSpan) or
//! [`HttpSpan`](super::HttpSpan).
//!
//! Sources, in order of preference:
//! - A captured request credential header (`x-api-key`, Azure OpenAI's
//!   `api-key`, or `authorization` without its `Bearer ` prefix), as `key:`
//!   and the first 16 hex digits of the key's SHA-256. The key itself is
//!   hashed where it is read and is kept in no record.
//! - Response headers or attributes that name the account: Anthropic's
//!   `anthropic-organization-id` header (the Anthropic Python SDK also writes
//!   it as the `anthropic.organization.id` span attribute), and OpenAI's
//!   `openai-organization` and `openai-project` headers, as `org:<id>` or
//!   `org:<id>/project:<id>`.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::span::MAX_LABEL_BYTES;

/// Hex digits of the SHA-256 kept in a key id: a 64-bit prefix, enough to
/// tell the keys of one deployment apart.
const KEY_HASH_HEX_DIGITS: usize = 16;

/// A request header that carries an API key, in order of preference when a
/// request carries more than one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CredentialHeader {
    /// Anthropic's `x-api-key`.
    XApiKey,
    /// Azure OpenAI's `api-key`.
    ApiKey,
    /// `authorization`, usually `Bearer <key>`.
    Authorization,
}

impl CredentialHeader {
    /// Classifies a captured request header name, given with dashes or
    /// underscores in any case.
    pub(crate) fn from_name(name: &str) -> Option<CredentialHeader> {
        [
            ("x-api-key", CredentialHeader::XApiKey),
            ("api-key", CredentialHeader::ApiKey),
            ("authorization", CredentialHeader::Authorization),
        ]
        .into_iter()
        .find(|(expected, _)| same_header_name(name, expected))
        .map(|(_, header)| header)
    }
}

/// Compares a captured header name with a lowercase, dashed one, treating
/// '_' as '-' because Python's instrumentations write the name with '_'.
fn same_header_name(captured: &str, expected: &str) -> bool {
    captured.len() == expected.len()
        && captured.bytes().zip(expected.bytes()).all(|(have, want)| {
            let have = if have == b'_' { b'-' } else { have };
            have.to_ascii_lowercase() == want
        })
}

/// Returns `key:<16 hex digits>` for a credential header's value, or `None`
/// when the value contains no key.
pub(crate) fn key_id_from_credential(header: CredentialHeader, value: &str) -> Option<Arc<str>> {
    let value = value.trim();
    let key = match header {
        CredentialHeader::Authorization => strip_bearer(value),
        CredentialHeader::XApiKey | CredentialHeader::ApiKey => value,
    };
    if key.is_empty() {
        return None;
    }
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest
        .iter()
        .take(KEY_HASH_HEX_DIGITS / 2)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Some(Arc::from(format!("key:{hex}")))
}

/// Strips the `Bearer` scheme, in any case, from an `authorization` value.
/// A value with another scheme is used whole.
fn strip_bearer(value: &str) -> &str {
    const SCHEME: &str = "bearer";
    let Some((scheme, rest)) = value.split_at_checked(SCHEME.len()) else {
        return value;
    };
    let scheme_ends = rest.is_empty() || rest.starts_with(char::is_whitespace);
    if scheme.eq_ignore_ascii_case(SCHEME) && scheme_ends {
        rest.trim()
    } else {
        value
    }
}

/// Returns `org:<id>`, or `org:<id>/project:<id>` with a project, or `None`
/// without an organization or when an id is empty or longer than
/// [`MAX_LABEL_BYTES`].
pub(crate) fn key_id_from_account(
    organization: Option<&str>,
    project: Option<&str>,
) -> Option<Arc<str>> {
    let valid = |id: &str| !id.is_empty() && id.len() <= MAX_LABEL_BYTES;
    let organization = organization.map(str::trim).filter(|id| valid(id))?;
    let project = project.map(str::trim).filter(|id| valid(id));
    let key_id = match project {
        Some(project) => format!("org:{organization}/project:{project}"),
        None => format!("org:{organization}"),
    };
    Some(Arc::from(key_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up API key.
    const TEST_KEY: &str = "sk-ant-test-0123456789";

    fn expected_key_id(key: &str) -> String {
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("key:{}", &hex[..16])
    }

    #[test]
    fn credential_header_names_in_both_spellings() {
        let cases: &[(&str, Option<CredentialHeader>)] = &[
            ("x-api-key", Some(CredentialHeader::XApiKey)),
            ("x_api_key", Some(CredentialHeader::XApiKey)),
            ("X-Api-Key", Some(CredentialHeader::XApiKey)),
            ("api-key", Some(CredentialHeader::ApiKey)),
            ("api_key", Some(CredentialHeader::ApiKey)),
            ("authorization", Some(CredentialHeader::Authorization)),
            ("Authorization", Some(CredentialHeader::Authorization)),
            ("proxy-authorization", None),
            ("x-api-keys", None),
            ("cookie", None),
        ];
        for (name, expected) in cases {
            assert_eq!(CredentialHeader::from_name(name), *expected, "{name:?}");
        }
    }

    #[test]
    fn key_id_hashes_key_without_scheme() {
        let expected = expected_key_id(TEST_KEY);
        let bearer = format!("Bearer {TEST_KEY}");
        let lowercase_bearer = format!("bearer  {TEST_KEY} ");
        let cases: &[(CredentialHeader, &str)] = &[
            (CredentialHeader::XApiKey, TEST_KEY),
            (CredentialHeader::ApiKey, TEST_KEY),
            (CredentialHeader::Authorization, &bearer),
            (CredentialHeader::Authorization, &lowercase_bearer),
            (CredentialHeader::Authorization, TEST_KEY),
            (
                CredentialHeader::Authorization,
                &format!("BEARER\t{TEST_KEY}"),
            ),
        ];
        for (header, value) in cases {
            let key_id = key_id_from_credential(*header, value);
            assert_eq!(key_id.as_deref(), Some(expected.as_str()), "{header:?}");
        }
    }

    #[test]
    fn key_id_is_known_hash_prefix() {
        // printf 'abc' | sha256sum: ba7816bf8f01cfea...
        let key_id = key_id_from_credential(CredentialHeader::XApiKey, "abc");
        assert_eq!(key_id.as_deref(), Some("key:ba7816bf8f01cfea"));
    }

    #[test]
    fn empty_credential_gives_no_key_id() {
        for value in ["", "   ", "Bearer", "Bearer ", "bearer    "] {
            let key_id = key_id_from_credential(CredentialHeader::Authorization, value);
            assert_eq!(key_id, None, "{value:?}");
        }
    }

    #[test]
    fn key_id_never_contains_key() {
        let key_id = key_id_from_credential(CredentialHeader::XApiKey, TEST_KEY).unwrap();
        assert!(!key_id.contains(TEST_KEY));
        assert!(!key_id.contains("sk-ant"));
    }

    #[test]
    fn account_key_id_forms() {
        let long = "o".repeat(MAX_LABEL_BYTES + 1);
        let cases: &[(Option<&str>, Option<&str>, Option<&str>)] = &[
            (Some("org-abc"), None, Some("org:org-abc")),
            (
                Some("org-abc"),
                Some("proj_123"),
                Some("org:org-abc/project:proj_123"),
            ),
            (Some(" org-abc "), Some(""), Some("org:org-abc")),
            (None, Some("proj_123"), None),
            (Some(""), None, None),
            (Some(&long), None, None),
            (Some("org-abc"), Some(&long), Some("org:org-abc")),
        ];
        for (organization, project, expected) in cases {
            let key_id = key_id_from_account(*organization, *project);
            assert_eq!(key_id.as_deref(), *expected, "{organization:?} {project:?}");
        }
    }
}
