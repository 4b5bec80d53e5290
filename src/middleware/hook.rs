//! What a hook is: a step that sees each request (and the reply being built)
//! and may reject it, change it, or add to the reply.
//!
//! Hooks decide synchronously: anything slow (fetching a JWK set, re-reading
//! an approval file) happens in a background task the hook owns, so the
//! request path never waits on I/O it does not need.

use super::approvals::ApprovalList;
use crate::protocol::{
    AnnounceRequest, AnnounceResponse, ClientError, ScrapeRequest, ScrapeResponse,
};

/// One configured hook. Every method has a do-nothing default so a hook only
/// writes the steps it cares about.
///
/// For an announce, pre-hooks run in configured order: every `before_announce`
/// (the reply holds only the intervals yet), then the one storage operation
/// fills peers and counts, then every `after_announce`. Post-hooks run the same
/// methods after the reply has been sent, on a copy, and cannot delay it.
pub trait Hook: Send + Sync + 'static {
    /// The name it was configured under, for logs.
    fn name(&self) -> &'static str;

    /// An approval hook's list as it stands, for the admin API; `None` for
    /// every other hook.
    fn approval_list(&self) -> Option<ApprovalList> {
        None
    }

    fn before_announce(
        &self,
        _req: &mut AnnounceRequest,
        _resp: &mut AnnounceResponse,
    ) -> Result<(), ClientError> {
        Ok(())
    }

    fn after_announce(
        &self,
        _req: &AnnounceRequest,
        _resp: &mut AnnounceResponse,
    ) -> Result<(), ClientError> {
        Ok(())
    }

    fn before_scrape(
        &self,
        _req: &mut ScrapeRequest,
        _resp: &mut ScrapeResponse,
    ) -> Result<(), ClientError> {
        Ok(())
    }

    fn after_scrape(
        &self,
        _req: &ScrapeRequest,
        _resp: &mut ScrapeResponse,
    ) -> Result<(), ClientError> {
        Ok(())
    }
}
