// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of rust/shmem.rs: static inline functions and macros Rust cannot
 * call directly. Declared in helpers.h; a module includes the helpers of
 * the abstractions it uses into its <module>_helpers.c.
 */
#include <asm/barrier.h>

#include "helpers.h"

void rpmsg_rs_mb(void)
{
	mb();
}

void rpmsg_rs_rmb(void)
{
	rmb();
}

void rpmsg_rs_wmb(void)
{
	wmb();
}
