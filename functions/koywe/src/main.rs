#[tokio::main]
async fn main() -> Result<(), payhook::lambda::StartError> {
    payhook::lambda::run_webhook(koywe::provider).await
}
