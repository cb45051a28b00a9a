// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of rust/rpmsg.rs (the transport side): static inline functions and macros Rust cannot
 * call directly. Declared in helpers.h; a module includes the helpers of
 * the abstractions it uses into its <module>_helpers.c.
 */
#include <linux/device.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/rpmsg.h>

#include "helpers.h"

static int rpmsg_rs_unregister_child(struct device *dev, void *data)
{
	device_unregister(dev);
	return 0;
}

void rpmsg_rs_unregister_children(struct device *parent)
{
	device_for_each_child(parent, NULL, rpmsg_rs_unregister_child);
}

void rpmsg_rs_ept_init(struct rpmsg_endpoint *ept)
{
	kref_init(&ept->refcount);
	mutex_init(&ept->cb_lock);
}

/* Callbacks of one endpoint are serialised, and never run after destroy. */
int rpmsg_rs_ept_deliver(struct rpmsg_endpoint *ept, void *data, int len, u32 src)
{
	int ret = 0;

	mutex_lock(&ept->cb_lock);
	if (ept->cb)
		ret = ept->cb(ept->rpdev, data, len, ept->priv, src);
	mutex_unlock(&ept->cb_lock);
	return ret;
}

void rpmsg_rs_ept_clear_cb(struct rpmsg_endpoint *ept)
{
	mutex_lock(&ept->cb_lock);
	ept->cb = NULL;
	mutex_unlock(&ept->cb_lock);
}

void rpmsg_rs_kref_get(struct kref *kref)
{
	kref_get(kref);
}

int rpmsg_rs_kref_put(struct kref *kref, void (*release)(struct kref *kref))
{
	return kref_put(kref, release);
}
