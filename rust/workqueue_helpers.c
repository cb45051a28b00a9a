// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of rust/workqueue.rs: static inline functions and macros Rust cannot
 * call directly. Declared in helpers.h; a module includes the helpers of
 * the abstractions it uses into its <module>_helpers.c.
 */
#include <linux/workqueue.h>

#include "helpers.h"

/* Unbound, default concurrency: work items of one queue may run in parallel. */
struct workqueue_struct *rpmsg_rs_alloc_unbound_workqueue(const char *name)
{
	return alloc_workqueue("%s", WQ_UNBOUND, 0, name);
}
