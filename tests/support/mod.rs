//! Helpers shared by the integration tests. Each test file uses only some of
//! them, hence the allowance for unused code.
#![allow(dead_code)]

pub mod fake_tools;
