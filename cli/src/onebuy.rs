//! `payhook onebuy …`: 1buy.io's merchant API from the command line.
//!
//! - `payhook onebuy wallet-pay-link --amount 21.50 [--custom-id ID] [--email E] [--json]`
//!   creates a Wallet Pay payment hash and prints the checkout URL (only the
//!   URL, so `$(payhook onebuy wallet-pay-link …)` works; `--json` prints
//!   `{"hash":…,"payment_url":…}`).
//! - `payhook onebuy transaction --order-id ID | --custom-id ID | --hash H [--json]`
//!   looks a transaction up (`--json`: 1buy's answer as received, one line).
//!
//! Settings (environment): `PAYHOOK_ONEBUY_API_KEY` (required; never a flag,
//! so it stays out of shell history and `ps`), `PAYHOOK_ONEBUY_API_BASE`
//! (default `https://api.1buy.io`), `PAYHOOK_ONEBUY_PAY_BASE` (default
//! `https://wallet-pay.1buy.io/fee_payer`), `PAYHOOK_ONEBUY_TIMEOUT_MS`
//! (default 10000); each but the key can also be given as a flag.

use clap::{Args, Subcommand};
use payhook::secret::Secret;
use payhook_cli::outbound::onebuy::{DEFAULT_API_BASE, DEFAULT_PAY_BASE, Transaction};
use payhook_cli::outbound::{
    OnebuyClient, OutboundError, TransactionLookup, Transactions, WalletPayLink,
};
use std::io::Write;
use std::time::Duration;

/// The environment variable holding the merchant's 1buy API key.
pub const API_KEY_ENV: &str = "PAYHOOK_ONEBUY_API_KEY";

/// `payhook onebuy`: mount as `Onebuy(onebuy::OnebuyArgs)` in the CLI's
/// subcommands.
#[derive(Debug, Args)]
pub struct OnebuyArgs {
    /// Base URL of 1buy's API.
    #[arg(
        long,
        global = true,
        env = "PAYHOOK_ONEBUY_API_BASE",
        default_value = DEFAULT_API_BASE
    )]
    pub api_base: String,
    /// Page that pays a Wallet Pay hash (the payment URL is PAY_BASE?hash=HASH).
    #[arg(
        long,
        global = true,
        env = "PAYHOOK_ONEBUY_PAY_BASE",
        default_value = DEFAULT_PAY_BASE
    )]
    pub pay_base: String,
    /// Timeout of each API call, in milliseconds.
    #[arg(
        long,
        global = true,
        env = "PAYHOOK_ONEBUY_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub timeout_ms: u64,
    #[command(subcommand)]
    pub cmd: OnebuyCmd,
}

#[derive(Debug, Subcommand)]
pub enum OnebuyCmd {
    /// Create a Wallet Pay payment hash and print its payment URL.
    WalletPayLink {
        /// Amount, a decimal such as 21.50.
        #[arg(long)]
        amount: String,
        /// Your reference for the payment (1buy returns it as customId in webhooks).
        #[arg(long)]
        custom_id: Option<String>,
        /// The customer's email.
        #[arg(long)]
        email: Option<String>,
        /// Print {"hash":…,"payment_url":…} instead of the URL alone.
        #[arg(long)]
        json: bool,
    },
    /// Look a transaction up by 1buy order id, your custom id, or hash.
    Transaction {
        #[command(flatten)]
        key: LookupKey,
        /// Print 1buy's answer as received (JSON, one line).
        #[arg(long)]
        json: bool,
    },
}

/// Exactly one lookup key.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct LookupKey {
    /// 1buy's order id.
    #[arg(long)]
    pub order_id: Option<String>,
    /// Your custom id.
    #[arg(long)]
    pub custom_id: Option<String>,
    /// The payment hash.
    #[arg(long)]
    pub hash: Option<String>,
}

impl LookupKey {
    fn lookup(self) -> Option<TransactionLookup> {
        match (self.order_id, self.custom_id, self.hash) {
            (Some(v), None, None) => Some(TransactionLookup::OrderId(v)),
            (None, Some(v), None) => Some(TransactionLookup::CustomId(v)),
            (None, None, Some(v)) => Some(TransactionLookup::Hash(v)),
            _ => None,
        }
    }
}

/// Everything `payhook onebuy` can fail with. Never shows the API key.
#[derive(Debug, thiserror::Error)]
pub enum OnebuyError {
    #[error("{API_KEY_ENV} is not set: export the merchant's 1buy API key")]
    MissingKey,
    #[error("give exactly one of --order-id, --custom-id, --hash")]
    Lookup,
    #[error(transparent)]
    Api(#[from] OutboundError),
    #[error("no 1buy transaction with {0}")]
    NotFound(String),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

fn describe(l: &TransactionLookup) -> String {
    match l {
        TransactionLookup::OrderId(v) => format!("order_id {v}"),
        TransactionLookup::CustomId(v) => format!("custom_id {v}"),
        TransactionLookup::Hash(v) => format!("hash {v}"),
    }
}

/// Run `payhook onebuy …`, printing to stdout.
pub async fn run(args: OnebuyArgs) -> Result<(), OnebuyError> {
    let key = std::env::var(API_KEY_ENV)
        .ok()
        .filter(|k| !k.trim().is_empty())
        .ok_or(OnebuyError::MissingKey)?;
    let client = OnebuyClient::new(
        &args.api_base,
        Secret::new(key.trim()),
        Duration::from_millis(args.timeout_ms),
    )?
    .with_pay_base(&args.pay_base)?;
    let mut out = std::io::stdout().lock();
    match args.cmd {
        OnebuyCmd::WalletPayLink {
            amount,
            custom_id,
            email,
            json,
        } => {
            let mut link = WalletPayLink::new(amount);
            link.custom_id = custom_id;
            link.email = email;
            let made = client.generate_wallet_pay_hash(&link).await?;
            if json {
                let v = serde_json::json!({"hash": made.hash, "payment_url": made.payment_url});
                writeln!(out, "{v}")?;
            } else {
                writeln!(out, "{}", made.payment_url)?;
            }
        }
        OnebuyCmd::Transaction { key, json } => {
            let lookup = key.lookup().ok_or(OnebuyError::Lookup)?;
            let found = match client.transaction(&lookup).await {
                Err(OutboundError::NotFound { .. }) => {
                    return Err(OnebuyError::NotFound(describe(&lookup)));
                }
                other => other?,
            };
            if json {
                writeln!(out, "{}", found.raw)?;
            } else if found.transactions.is_empty() {
                return Err(OnebuyError::NotFound(describe(&lookup)));
            } else {
                print_transactions(&mut out, &found)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// For people: the ids, lifecycle, status and amounts; never the email.
fn print_transactions(out: &mut impl Write, found: &Transactions) -> std::io::Result<()> {
    for (i, t) in found.transactions.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        print_one(out, t)?;
    }
    Ok(())
}

fn print_one(out: &mut impl Write, t: &Transaction) -> std::io::Result<()> {
    let d = t.data.clone().unwrap_or_default();
    let pair = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a} {b}")),
        (Some(a), None) => Some(a.clone()),
        _ => None,
    };
    let hashes = (!d.transaction_hashes.is_empty()).then(|| d.transaction_hashes.join(", "));
    let rows: [(&str, Option<String>); 11] = [
        ("order_id", t.order_id.clone()),
        (
            "custom_id",
            t.custom_id.clone().or(d.custom_order_id.clone()),
        ),
        ("hash", t.hash.clone()),
        ("stage", t.lifecycle().map(str::to_owned)),
        ("status", d.status.clone()),
        ("amount", pair(&t.amount, &t.token_symbol)),
        ("fiat", pair(&d.fiat_amount, &d.fiat_currency)),
        ("crypto", pair(&d.crypto_amount, &d.crypto_currency)),
        ("wallet", t.wallet.clone().or(d.destination_wallet.clone())),
        ("tx_hashes", hashes),
        ("fail_reason", d.fail_reason.clone()),
    ];
    for (name, value) in rows {
        if let Some(v) = value {
            writeln!(out, "{name:<12} {v}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Top,
    }

    #[derive(Subcommand)]
    enum Top {
        Onebuy(OnebuyArgs),
    }

    fn parse(args: &[&str]) -> Result<OnebuyArgs, clap::Error> {
        let mut all = vec!["payhook", "onebuy"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|c| match c.cmd {
            Top::Onebuy(a) => a,
        })
    }

    #[test]
    fn flags() {
        let a = parse(&[
            "wallet-pay-link",
            "--amount",
            "21.50",
            "--custom-id",
            "o-1",
            "--email",
            "a@b.c",
            "--api-base",
            "http://127.0.0.1:9",
        ]);
        let Ok(a) = a else { panic!("{a:?}") };
        assert_eq!(a.api_base, "http://127.0.0.1:9");
        assert!(matches!(
            a.cmd,
            OnebuyCmd::WalletPayLink { ref amount, ref custom_id, json: false, .. }
                if amount == "21.50" && custom_id.as_deref() == Some("o-1")
        ));
        assert!(parse(&["wallet-pay-link"]).is_err(), "--amount is required");
        assert!(parse(&["transaction"]).is_err(), "a key is required");
        assert!(parse(&["transaction", "--order-id", "a", "--hash", "b"]).is_err());
        let a = parse(&["transaction", "--hash", "0x1", "--json"]);
        let Ok(OnebuyArgs {
            cmd: OnebuyCmd::Transaction { key, json: true },
            ..
        }) = a
        else {
            panic!("{a:?}")
        };
        assert_eq!(key.lookup(), Some(TransactionLookup::Hash("0x1".into())));
    }

    #[test]
    fn people_output_leaves_the_email_out() {
        let raw = serde_json::json!({"order_id": "wp-1", "email": "x@y.z", "amount": 21,
            "token_symbol": "ETH", "event": "final_transaction_completed",
            "data": {"status": "succeeded", "transactionHashes": ["0x1", "0x2"]}});
        let t: Transaction = serde_json::from_value(raw.clone()).unwrap_or_default();
        let found = Transactions {
            transactions: vec![t],
            raw,
        };
        let mut buf = Vec::new();
        assert!(print_transactions(&mut buf, &found).is_ok());
        let text = String::from_utf8_lossy(&buf);
        assert!(text.contains("order_id     wp-1"), "{text}");
        assert!(text.contains("amount       21 ETH"), "{text}");
        assert!(text.contains("tx_hashes    0x1, 0x2"), "{text}");
        assert!(!text.contains("x@y.z"), "{text}");
    }
}
