//! Managers and proxies (work in progress).
#![forbid(unsafe_code)]
