//! Harness code shared by integration tests (each test file picks what it uses).
#![allow(dead_code)]

pub mod gitserver;
