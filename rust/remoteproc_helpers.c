// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of rust/remoteproc.rs: static inline functions and macros Rust cannot
 * call directly. Declared in helpers.h; a module includes the helpers of
 * the abstractions it uses into its <module>_helpers.c.
 */
#include <linux/remoteproc.h>

#include "helpers.h"

void *rpmsg_rs_rproc_priv(struct rproc *rproc)
{
	return rproc->priv;
}

struct device *rpmsg_rs_rproc_parent(struct rproc *rproc)
{
	return rproc->dev.parent;
}

/*
 * The remote runs already when the core finds it: the core attaches instead
 * of loading firmware, and recovers it by detaching and attaching again.
 */
void rpmsg_rs_rproc_set_attach_mode(struct rproc *rproc)
{
	rproc->state = RPROC_DETACHED;
	set_bit(RPROC_FEAT_ATTACH_ON_RECOVERY, rproc->features);
}

void rpmsg_rs_rproc_get(struct rproc *rproc)
{
	get_device(&rproc->dev);
}

void rpmsg_rs_rproc_put(struct rproc *rproc)
{
	put_device(&rproc->dev);
}
