/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers for static inline functions and macros that Rust cannot call
 * directly. Implemented in helpers.c, linked into each module.
 */
#ifndef RPMSG_RS_HELPERS_H
#define RPMSG_RS_HELPERS_H

#include <linux/irqreturn.h>
#include <linux/types.h>

struct device;
struct platform_device;
struct rproc;
struct workqueue_struct;

struct platform_device *rpmsg_rs_platform_device_register_simple(const char *name, int id);
int rpmsg_rs_dma_coerce_mask_and_coherent(struct device *dev, u64 mask);

void rpmsg_rs_mb(void);
void rpmsg_rs_rmb(void);
void rpmsg_rs_wmb(void);

struct workqueue_struct *rpmsg_rs_alloc_unbound_workqueue(const char *name);

void *rpmsg_rs_rproc_priv(struct rproc *rproc);
struct device *rpmsg_rs_rproc_parent(struct rproc *rproc);
void rpmsg_rs_rproc_set_attach_mode(struct rproc *rproc);
void rpmsg_rs_rproc_get(struct rproc *rproc);
void rpmsg_rs_rproc_put(struct rproc *rproc);

/*
 * Exported by remoteproc but declared only in its internal header, which
 * in-tree platform drivers include and an out-of-tree module cannot.
 */
irqreturn_t rproc_vq_interrupt(struct rproc *rproc, int vq_id);

#endif
