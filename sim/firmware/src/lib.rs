// SPDX-License-Identifier: GPL-2.0

//! The device side of the simulated remote processor, in plain `core` Rust.
//!
//! `rpmsg_sim.ko` compiles these files in directly; this crate root only
//! exists for `cargo test` on the host. The files reach the protocol crate as
//! `crate::proto` and each other through `super::`, which resolves the same
//! way in both builds.

#![no_std]
// `Firmware::init`: pin-init's `init!` recurses per field.
#![recursion_limit = "256"]

#[cfg(test)]
extern crate std;

pub use rpmsg_proto as proto;

pub mod firmware;
pub mod mem;
pub mod rsc;
pub mod vring;

#[cfg(test)]
mod testmem;

#[cfg(test)]
mod proptests;
