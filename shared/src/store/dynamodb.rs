//! (issue 3)
