//! What the `payhook` CLI brings besides its commands, shared with the test
//! suites: the development stand-in of 8Pay's notification API
//! ([`standin`]) and the 1buy.io merchant API client ([`outbound`]).

pub mod forward;
pub mod outbound;
pub mod standin;
