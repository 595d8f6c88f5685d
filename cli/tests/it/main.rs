//! The CLI's integration tests, one binary: `payhook` itself is run as a
//! child process (serve, send, events, replay, kill -9 crash safety).

mod common;

mod aws_backend;
mod console;
mod crash;
mod deploy;
mod e2e;
mod forward;
mod published_examples;
mod sign;
mod slow_clients;
mod startup;
mod tls;
mod webdriver;
