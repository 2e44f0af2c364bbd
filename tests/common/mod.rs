//! Shared support for svcprobe's integration tests.
//!
//! Each test crate that needs it declares `mod common;`; not every crate uses every helper.
#![allow(dead_code)]

pub mod bin;
pub mod diagnose;
pub mod kubeapi;
pub mod kubeproxy;
pub mod netns;
pub mod schema;
pub mod testbed;
pub mod tls;
