/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers for rpmsg client drivers written in Rust (rust/rpmsg_driver.rs):
 * static inline functions and struct fields Rust cannot reach directly.
 */
#ifndef RPMSG_RS_DRIVER_HELPERS_H
#define RPMSG_RS_DRIVER_HELPERS_H

#include <linux/types.h>

struct device;
struct file;
struct module;
struct rpmsg_device;
struct rpmsg_device_id;
struct rpmsg_driver;
struct rpmsg_endpoint;
struct rpmsg_rs_poll_proxy;
struct poll_table_struct;

int rpmsg_rs_register_rpmsg_driver(struct rpmsg_driver *drv, const char *name, struct module *owner,
				   const struct rpmsg_device_id *ids,
				   int (*probe)(struct rpmsg_device *rpdev),
				   void (*remove)(struct rpmsg_device *rpdev),
				   int (*callback)(struct rpmsg_device *, void *, int, void *, u32));
struct rpmsg_driver *rpmsg_rs_driver_of(struct rpmsg_device *rpdev);
void *rpmsg_rs_get_drvdata(struct rpmsg_device *rpdev);
void rpmsg_rs_set_drvdata(struct rpmsg_device *rpdev, void *data);
void *rpmsg_rs_ept_swap_priv(struct rpmsg_endpoint *ept, void *priv);
void rpmsg_rs_ept_set_flow_cb(struct rpmsg_endpoint *ept,
			      int (*flow_cb)(struct rpmsg_device *, void *, bool));

struct rpmsg_rs_poll_proxy *rpmsg_rs_poll_proxy_new(void (*notify)(void *data), void *data);
unsigned int rpmsg_rs_poll_proxy_poll(struct rpmsg_rs_poll_proxy *proxy, struct rpmsg_endpoint *ept,
				      struct file *file);
void rpmsg_rs_poll_proxy_detach(struct rpmsg_rs_poll_proxy *proxy);
void rpmsg_rs_poll_proxy_free(struct rpmsg_rs_poll_proxy *proxy);

#endif
