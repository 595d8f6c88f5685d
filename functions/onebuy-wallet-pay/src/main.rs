#[tokio::main]
async fn main() -> Result<(), payhook::lambda::StartError> {
    payhook::lambda::run_webhook(onebuy_wallet_pay::provider).await
}
