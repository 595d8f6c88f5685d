//! The users port: allow/block decisions for Koywe's user-validation
//! callback, keyed by normalized email (`USER#{email}` items in DynamoDB,
//! the `users` table in SQLite).

use super::StoreError;
use async_trait::async_trait;
use time::OffsetDateTime;

/// What to answer for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Block,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Block => "block",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "allow" => Some(Decision::Allow),
            "block" => Some(Decision::Block),
            _ => None,
        }
    }
}

/// One user's decision. `Debug` hides the email.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserRecord {
    /// Normalized (trimmed, lowercased) email.
    pub email: String,
    pub decision: Decision,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("email", &email_hash(&self.email))
            .field("decision", &self.decision)
            .finish_non_exhaustive()
    }
}

/// Trim and lowercase; `None` unless it looks like `local@domain` (no
/// spaces, one `@`, at most 254 bytes).
pub fn normalize_email(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(e)
}

/// A stable, non-reversible label for logs: first 16 hex of SHA-256.
pub fn email_hash(email: &str) -> String {
    hex::encode(&crate::providers::sha256(email.as_bytes())[..8])
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// One request (`GetItem`) per call.
    async fn get_user(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn put_user(&self, rec: &UserRecord) -> Result<(), StoreError>;
    /// True when a user was removed.
    async fn remove_user(&self, email: &str) -> Result<bool, StoreError>;
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_or_refused() {
        assert_eq!(
            normalize_email("  Ana@Example.COM "),
            Some("ana@example.com".into())
        );
        assert_eq!(normalize_email("no-at-sign"), None);
        assert_eq!(normalize_email("a@b@c"), None);
        assert_eq!(normalize_email("@x.com"), None);
        assert_eq!(normalize_email("a b@x.com"), None);
        assert_eq!(normalize_email(""), None);
    }

    #[test]
    fn debug_hides_the_email() {
        let r = UserRecord {
            email: "ana@example.com".into(),
            decision: Decision::Allow,
            reason: None,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        };
        assert!(!format!("{r:?}").contains("ana@"));
    }
}
