//! Koywe's user-validation callback: `POST /callbacks/koywe/validate-user`.
//! The handler is `payhook_aws::http::handle_validation`.

// Lambda hands out one invocation at a time: a current-thread runtime
// starts no worker threads (init -13 % measured, BENCHMARKS.md section 4).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), payhook_aws::lambda::StartError> {
    payhook_aws::lambda::run_validation().await
}
