//! Koywe's user-validation callback: `POST /callbacks/koywe/validate-user`.
//! The handler is `payhook_aws::http::handle_validation`.

#[tokio::main]
async fn main() -> Result<(), payhook_aws::lambda::StartError> {
    payhook_aws::lambda::run_validation().await
}
