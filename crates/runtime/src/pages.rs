//! Page tokens: opaque to clients and tamper-evident. A token carries the position after which
//! the next page starts and a MAC (HMAC-SHA256, truncated to 128 bits) over that position and
//! the list's filters, under a key every replica derives from the same secret. A token that was
//! altered, made up, or brought to a list with other filters is refused with INVALID_ARGUMENT,
//! so positions cannot be forged to probe data and a page cannot be read out of its query.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use komek_proto::{access, intake, matching, ops, partner, roster, triage};
use prost::Message;
use sha2::Sha256;

use tonic::Status;

use crate::boundary::{FieldViolation, Violations, page_limit};

/// Bytes of the MAC a token carries.
const TAG: usize = 16;

/// A list request: its page and the filters its pages belong to.
pub trait Listing: Message + Clone {
    fn page_token(&self) -> &str;
    fn page_size(&self) -> i32;
    /// The request without its page token and size: what a token is bound to. A client may
    /// change the page size between pages, not the filters.
    fn filters(&self) -> Vec<u8>;
}

macro_rules! listing {
    ($($t:ty),+ $(,)?) => {$(
        impl Listing for $t {
            fn page_token(&self) -> &str {
                &self.page_token
            }

            fn page_size(&self) -> i32 {
                self.page_size
            }

            fn filters(&self) -> Vec<u8> {
                let mut query = self.clone();
                query.page_token.clear();
                query.page_size = 0;
                query.encode_to_vec()
            }
        }
    )+};
}

listing!(
    intake::v1::ListRequestsRequest,
    intake::v1::ListPlansRequest,
    intake::v1::ListPlanRunsRequest,
    partner::v1::ListRequestsRequest,
    roster::v1::ListOrganizationsRequest,
    roster::v1::ListGroupsRequest,
    roster::v1::ListVolunteersRequest,
    access::v1::ListApiKeysRequest,
    triage::v1::ListTriageAuditRequest,
    matching::v1::ListQueueRequest,
    matching::v1::ListDispatchAuditRequest,
    ops::v1::ListDeadLettersRequest,
);

/// Issues and checks the page tokens of one deployment.
#[derive(Clone)]
pub struct PageTokens {
    key: [u8; 32],
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens(..)")
    }
}

fn refused() -> FieldViolation {
    FieldViolation::new(
        "page_token",
        "not a token from an earlier page of this same list; start again without one",
    )
}

impl PageTokens {
    /// Tokens under `key`, which every replica of every service must share.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self, filters: &[u8], position: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        // The length first, so no filters and position can be cut another way.
        mac.update(&(filters.len() as u64).to_be_bytes());
        mac.update(filters);
        mac.update(position);
        mac
    }

    /// The token of the page after `position` of the list `request` asked for.
    pub fn issue(&self, request: &impl Listing, position: &str) -> String {
        let tag = self
            .mac(&request.filters(), position.as_bytes())
            .finalize()
            .into_bytes();
        let mut bytes = tag[..TAG].to_vec();
        bytes.extend_from_slice(position.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Where the page `request` asks for starts, read by `decode` from its token; None for the
    /// first page.
    pub fn position<T>(
        &self,
        request: &impl Listing,
        decode: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, FieldViolation> {
        let token = request.page_token();
        if token.is_empty() {
            return Ok(None);
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| refused())?;
        if bytes.len() < TAG {
            return Err(refused());
        }
        let (tag, position) = bytes.split_at(TAG);
        // Compared in constant time.
        self.mac(&request.filters(), position)
            .verify_truncated_left(tag)
            .map_err(|_| refused())?;
        let position = std::str::from_utf8(position).map_err(|_| refused())?;
        decode(position).map(Some).ok_or_else(refused)
    }

    /// The token of the next page: after the last row, when the page came back full.
    pub fn next<R>(
        &self,
        request: &impl Listing,
        rows: &[R],
        limit: i64,
        position: impl FnOnce(&R) -> String,
    ) -> String {
        match rows.last() {
            Some(last) if rows.len() as i64 == limit => self.issue(request, &position(last)),
            _ => String::new(),
        }
    }
}

/// The pages of a service's lists: their tokens and the largest page it serves.
#[derive(Debug, Clone)]
pub struct Pages {
    tokens: PageTokens,
    max_size: u32,
}

/// One page asked for: how many rows, after which position.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub limit: i64,
    pub after: Option<T>,
}

impl Pages {
    pub fn new(tokens: PageTokens, max_size: u32) -> Self {
        Self {
            tokens,
            max_size: max_size.max(1),
        }
    }

    /// The page `request` asks for, its position read from its token by `decode`.
    pub fn page<T>(
        &self,
        request: &impl Listing,
        decode: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Page<T>, Status> {
        let mut v = Violations::new();
        let limit = v.take(page_limit(request.page_size(), self.max_size));
        let after = v.take(self.tokens.position(request, decode));
        let (limit, after) = v.finish((limit, after))?;
        Ok(Page { limit, after })
    }

    /// The token of the page after `rows`, when `rows` filled the page.
    pub fn next<T, R>(
        &self,
        request: &impl Listing,
        page: &Page<T>,
        rows: &[R],
        position: impl FnOnce(&R) -> String,
    ) -> String {
        self.tokens.next(request, rows, page.limit, position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster::v1::ListGroupsRequest;

    fn tokens() -> PageTokens {
        PageTokens::new([7; 32])
    }

    fn groups(region: &str, token: &str, size: i32) -> ListGroupsRequest {
        ListGroupsRequest {
            region: region.into(),
            page_token: token.into(),
            page_size: size,
            ..Default::default()
        }
    }

    fn number(s: &str) -> Option<u64> {
        s.parse().ok()
    }

    #[test]
    fn a_token_gives_back_its_position_for_the_same_filters() {
        let first = groups("Almaty Region", "", 10);
        let token = tokens().issue(&first, "42");
        // The page size may change between pages.
        let next = groups("Almaty Region", &token, 25);
        assert_eq!(tokens().position(&next, number), Ok(Some(42)));
        assert_eq!(tokens().position(&first, number), Ok(None));
        assert!(
            !token.contains("42"),
            "the position is not left in plain sight"
        );
    }

    #[test]
    fn altered_made_up_or_foreign_tokens_are_refused() {
        let first = groups("Almaty Region", "", 10);
        let token = tokens().issue(&first, "42");
        let refused = |request: &ListGroupsRequest| {
            let err = tokens().position(request, number).unwrap_err();
            assert_eq!(err.field, "page_token");
        };
        // Another list's filters.
        refused(&groups("Akmola Region", &token, 10));
        // Another deployment's key.
        let other = PageTokens::new([8; 32]).issue(&first, "42");
        refused(&groups("Almaty Region", &other, 10));
        // A position edited in place, a made-up token, garbage.
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        *bytes.last_mut().unwrap() = b'3';
        refused(&groups(
            "Almaty Region",
            &URL_SAFE_NO_PAD.encode(&bytes),
            10,
        ));
        refused(&groups("Almaty Region", "1700000000000000.0194", 10));
        refused(&groups("Almaty Region", "!!!", 10));
        refused(&groups("Almaty Region", "AAAA", 10));
    }

    #[test]
    fn the_next_token_is_issued_only_for_a_full_page() {
        let request = groups("", "", 2);
        let t = tokens();
        assert_eq!(t.next(&request, &[1, 2, 3], 4, |r| r.to_string()), "");
        let token = t.next(&request, &[1, 2], 2, |r| r.to_string());
        assert_eq!(t.position(&groups("", &token, 2), number), Ok(Some(2)));
    }
}
