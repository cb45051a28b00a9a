// SPDX-License-Identifier: GPL-2.0

//! RPMsg wire format and address bookkeeping, and the char layer's receive
//! ring, in plain `core` Rust.
//!
//! The kernel modules compile these files in directly (see `Kbuild`); this crate
//! root only exists so that the host can unit-test them with `cargo test`.
//! Files here must therefore not use anything beyond `core`, and refer to
//! each other through `super::`.

#![no_std]

pub mod addr;
pub mod bufsz;
pub mod msg;
pub mod ratelimit;
pub mod ring;
