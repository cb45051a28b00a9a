// SPDX-License-Identifier: GPL-2.0
/* C helpers for rpmsg client drivers in Rust; see rpmsg_driver_helpers.h. */
#include <linux/device.h>
#include <linux/mutex.h>
#include <linux/rpmsg.h>
#include <linux/string.h>

#include "rpmsg_driver_helpers.h"

int rpmsg_rs_register_rpmsg_driver(struct rpmsg_driver *drv, const char *name, struct module *owner,
				   const struct rpmsg_device_id *ids,
				   int (*probe)(struct rpmsg_device *rpdev),
				   void (*remove)(struct rpmsg_device *rpdev),
				   int (*callback)(struct rpmsg_device *, void *, int, void *, u32))
{
	memset(drv, 0, sizeof(*drv));
	drv->drv.name = name;
	drv->id_table = ids;
	drv->probe = probe;
	drv->remove = remove;
	drv->callback = callback;
	return __register_rpmsg_driver(drv, owner);
}

struct rpmsg_driver *rpmsg_rs_driver_of(struct rpmsg_device *rpdev)
{
	return container_of(rpdev->dev.driver, struct rpmsg_driver, drv);
}

void *rpmsg_rs_get_drvdata(struct rpmsg_device *rpdev)
{
	return dev_get_drvdata(&rpdev->dev);
}

void rpmsg_rs_set_drvdata(struct rpmsg_device *rpdev, void *data)
{
	dev_set_drvdata(&rpdev->dev, data);
}

/*
 * Transports call an endpoint's callback under its cb_lock, so swapping the
 * private pointer under it means no callback sees the old one afterwards.
 */
void *rpmsg_rs_ept_swap_priv(struct rpmsg_endpoint *ept, void *priv)
{
	void *old;

	mutex_lock(&ept->cb_lock);
	old = ept->priv;
	ept->priv = priv;
	mutex_unlock(&ept->cb_lock);
	return old;
}

void rpmsg_rs_ept_set_flow_cb(struct rpmsg_endpoint *ept,
			      int (*flow_cb)(struct rpmsg_device *, void *, bool))
{
	mutex_lock(&ept->cb_lock);
	ept->flow_cb = flow_cb;
	mutex_unlock(&ept->cb_lock);
}
