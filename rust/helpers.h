/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers for static inline functions and macros that Rust cannot call
 * directly. Implemented in rust/<abstraction>_helpers.c; each module links
 * those of the abstractions it uses.
 */
#ifndef RPMSG_RS_HELPERS_H
#define RPMSG_RS_HELPERS_H

#include <linux/irqreturn.h>
#include <linux/types.h>

struct device;
struct file;
struct platform_device;
struct rproc;
struct virtio_device;
struct virtqueue;
struct workqueue_struct;

struct platform_device *rpmsg_rs_platform_device_register_simple(const char *name, int id);
int rpmsg_rs_dma_coerce_mask_and_coherent(struct device *dev, u64 mask);

struct workqueue_struct *rpmsg_rs_alloc_unbound_workqueue(const char *name);

void *rpmsg_rs_rproc_priv(struct rproc *rproc);
struct device *rpmsg_rs_rproc_parent(struct rproc *rproc);
void rpmsg_rs_rproc_set_attach_mode(struct rproc *rproc);
void rpmsg_rs_rproc_get(struct rproc *rproc);
void rpmsg_rs_rproc_put(struct rproc *rproc);

/* virtio (rust/virtio.rs) */
struct page;
struct scatterlist;
struct virtqueue_info;
bool rpmsg_rs_virtio_has_feature(struct virtio_device *vdev, unsigned int fbit);
void rpmsg_rs_virtio_get_features(struct virtio_device *vdev, u64 *features);
void rpmsg_rs_virtio_clear_bit(struct virtio_device *vdev, unsigned int fbit);
void rpmsg_rs_virtio_cread_bytes(struct virtio_device *vdev, unsigned int offset, void *buf, size_t len);
void rpmsg_rs_virtio_device_ready(struct virtio_device *vdev);
void rpmsg_rs_virtio_del_vqs(struct virtio_device *vdev);
int rpmsg_rs_virtio_find_vqs(struct virtio_device *vdev, unsigned int nvqs, struct virtqueue **vqs,
			     struct virtqueue_info *info);
void rpmsg_rs_sg_init_page(struct scatterlist *sg, struct page *page, unsigned int len, unsigned int offset);
bool rpmsg_rs_virt_addr_valid(const void *addr);

/* rpmsg client drivers (rust/rpmsg_driver.rs) */
struct poll_table_struct;
struct wait_queue_entry;
struct wait_queue_head;
void rpmsg_rs_init_poll_funcptr(struct poll_table_struct *pt,
				void (*qproc)(struct file *, struct wait_queue_head *,
					      struct poll_table_struct *));
void rpmsg_rs_init_waitqueue_func_entry(struct wait_queue_entry *wq_entry,
					int (*func)(struct wait_queue_entry *, unsigned int, int, void *));

/*
 * Exported by remoteproc but declared only in its internal header, which
 * in-tree platform drivers include and an out-of-tree module cannot.
 */
irqreturn_t rproc_vq_interrupt(struct rproc *rproc, int vq_id);

/* Character devices (rust/chrdev.rs). */
struct cdev;
struct ida;
struct inode;
void rpmsg_rs_chrdev_ida_init(struct ida *ida);
struct cdev *rpmsg_rs_chrdev_inode_cdev(struct inode *inode);

#endif
