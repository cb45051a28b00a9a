// SPDX-License-Identifier: GPL-2.0

//! Raw bindings for what the kernel crate does not cover (remoteproc, memremap,
//! our C helpers). Only the safe abstractions in `rust/` use them.
//!
//! `generated.rs` is produced by bindgen at build time (see `Kbuild`); types
//! it refers to but does not define come from `kernel::bindings`. It is found
//! in the module build's output directory (`RPMSG_RS_OBJ`, set by `Kbuild`),
//! which is the source tree only when the modules are built in place.

#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    unreachable_pub,
    unsafe_op_in_unsafe_fn,
    improper_ctypes,
    clippy::all,
    clippy::pedantic,
    clippy::undocumented_unsafe_blocks
)]

pub use kernel::bindings::*;
#[allow(unused_imports)]
use kernel::ffi;

include!(concat!(env!("RPMSG_RS_OBJ"), "/rust/bindings/generated.rs"));
