// SPDX-License-Identifier: GPL-2.0
/*
 * The C helpers of the abstractions this module uses (see Kbuild): the
 * transport's (rust/rpmsg.rs) are all in Rust now.
 */
