#[tokio::main]
async fn main() -> Result<(), payhook_aws::lambda::StartError> {
    payhook_aws::lambda::run_webhook(onebuy_wallet_pay::provider).await
}
