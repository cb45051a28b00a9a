// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for static inline functions and macros that Rust cannot call
 * directly; see helpers.h.
 */
#include <linux/dma-mapping.h>
#include <linux/platform_device.h>
#include <linux/remoteproc.h>
#include <linux/workqueue.h>
#include <asm/barrier.h>

#include "helpers.h"

struct platform_device *rpmsg_rs_platform_device_register_simple(const char *name, int id)
{
	return platform_device_register_simple(name, id, NULL, 0);
}

int rpmsg_rs_dma_coerce_mask_and_coherent(struct device *dev, u64 mask)
{
	return dma_coerce_mask_and_coherent(dev, mask);
}

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

/* Unbound, default concurrency: work items of one queue may run in parallel. */
struct workqueue_struct *rpmsg_rs_alloc_unbound_workqueue(const char *name)
{
	return alloc_workqueue("%s", WQ_UNBOUND, 0, name);
}

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
