// SPDX-License-Identifier: GPL-2.0
/* C helpers for rpmsg client drivers in Rust; see rpmsg_driver_helpers.h. */
#include <linux/device.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/rpmsg.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/wait.h>

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

/*
 * A transport's poll op (rpmsg_poll()) registers the caller on a wait queue
 * of the transport's, e.g. virtio_rpmsg_bus's vrp->sendq. A file polled
 * there directly would stay on that queue until its poll(2) returns, and
 * the transport frees the queue when its device goes away, whether or not
 * a poll is still sleeping on it (a use-after-free in poll_freewait(), seen
 * with the kernel's virtio_rpmsg_bus). So files are never put on the
 * transport's queue: the endpoint puts this proxy's entry there once, and
 * the entry forwards every wake-up to the driver (notify), which wakes its
 * own queue, one that lives as long as its files. The entry leaves the
 * transport's queue when the endpoint is destroyed, which transports
 * outlive.
 */
struct rpmsg_rs_poll_proxy {
	poll_table pt;
	wait_queue_entry_t wait;
	/* The transport's queue the entry is on, set once. */
	wait_queue_head_t *head;
	void (*notify)(void *data);
	void *data;
};

static void rpmsg_rs_poll_proxy_queue(struct file *file, wait_queue_head_t *head, poll_table *pt)
{
	struct rpmsg_rs_poll_proxy *proxy = container_of(pt, struct rpmsg_rs_poll_proxy, pt);

	/*
	 * Transports register the same queue at every poll; concurrent polls
	 * agree on who adds the entry.
	 */
	if (!cmpxchg(&proxy->head, NULL, head))
		add_wait_queue(head, &proxy->wait);
}

static int rpmsg_rs_poll_proxy_wake(wait_queue_entry_t *wait, unsigned int mode, int sync, void *key)
{
	struct rpmsg_rs_poll_proxy *proxy = container_of(wait, struct rpmsg_rs_poll_proxy, wait);

	/* A queue freed under a live endpoint breaks the ordering above. */
	WARN_ON_ONCE(key_to_poll(key) & POLLFREE);
	proxy->notify(proxy->data);
	return 0;
}

struct rpmsg_rs_poll_proxy *rpmsg_rs_poll_proxy_new(void (*notify)(void *data), void *data)
{
	struct rpmsg_rs_poll_proxy *proxy = kzalloc(sizeof(*proxy), GFP_KERNEL);

	if (!proxy)
		return NULL;
	init_poll_funcptr(&proxy->pt, rpmsg_rs_poll_proxy_queue);
	init_waitqueue_func_entry(&proxy->wait, rpmsg_rs_poll_proxy_wake);
	proxy->notify = notify;
	proxy->data = data;
	return proxy;
}

/*
 * rpmsg_poll(), registering the proxy instead of the caller's poll table,
 * whatever the caller's table: the proxy's entry is added once and stays
 * until the endpoint goes, so a caller that only asks for the mask costs
 * nothing more.
 */
unsigned int rpmsg_rs_poll_proxy_poll(struct rpmsg_rs_poll_proxy *proxy, struct rpmsg_endpoint *ept,
				      struct file *file)
{
	return rpmsg_poll(ept, file, &proxy->pt);
}

/* Called with no poll running on the proxy; no wake-up reaches it afterwards. */
void rpmsg_rs_poll_proxy_detach(struct rpmsg_rs_poll_proxy *proxy)
{
	if (proxy->head) {
		remove_wait_queue(proxy->head, &proxy->wait);
		proxy->head = NULL;
	}
}

void rpmsg_rs_poll_proxy_free(struct rpmsg_rs_poll_proxy *proxy)
{
	rpmsg_rs_poll_proxy_detach(proxy);
	kfree(proxy);
}
