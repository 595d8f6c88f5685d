//! Scheduled: republishes events recorded but not published after the lease
//! and a grace period (`payhook::pipeline::sweep`).

#[tokio::main]
async fn main() -> Result<(), payhook_aws::lambda::StartError> {
    payhook_aws::lambda::run_sweeper().await
}
