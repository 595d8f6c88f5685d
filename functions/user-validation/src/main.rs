//! Koywe's user-validation callback: `POST /callbacks/koywe/validate-user`.
//! The handler is `payhook::http::handle_validation`.

#[tokio::main]
async fn main() -> Result<(), payhook::lambda::StartError> {
    payhook::lambda::run_validation().await
}
