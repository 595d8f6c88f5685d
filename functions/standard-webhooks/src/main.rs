#[tokio::main]
async fn main() -> Result<(), payhook_aws::lambda::StartError> {
    payhook_aws::lambda::run_webhook(standard_webhooks::provider).await
}
