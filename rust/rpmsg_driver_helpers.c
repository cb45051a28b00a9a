// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of rust/rpmsg_driver.rs: static inline functions and macros Rust
 * cannot call directly. Declared in helpers.h; a module includes the helpers
 * of the abstractions it uses into its <module>_helpers.c.
 */
#include <linux/poll.h>
#include <linux/wait.h>

#include "helpers.h"

void rpmsg_rs_init_poll_funcptr(poll_table *pt, poll_queue_proc qproc)
{
	init_poll_funcptr(pt, qproc);
}

void rpmsg_rs_init_waitqueue_func_entry(struct wait_queue_entry *wq_entry, wait_queue_func_t func)
{
	init_waitqueue_func_entry(wq_entry, func);
}
