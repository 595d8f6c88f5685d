// Lambda hands out one invocation at a time: a current-thread runtime
// starts no worker threads (init -13 % measured, BENCHMARKS.md section 4).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), payhook_aws::lambda::StartError> {
    payhook_aws::lambda::run_webhook(btcpay::provider).await
}
