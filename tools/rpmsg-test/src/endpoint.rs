//! Endpoint devices made through a control device: the `rpmsg` library's
//! `EptDev`, and its `wait_for` with the suite's error type.

use std::time::Duration;

use crate::error::Res;

pub use rpmsg::endpoint::{dev_path, EptDev as Ept};

/// Polls `probe` until it yields a value or `timeout` passes.
pub fn wait_for<T>(what: &str, timeout: Duration, probe: impl FnMut() -> Option<T>) -> Res<T> {
    rpmsg::wait_for(what, timeout, probe).map_err(String::from)
}
