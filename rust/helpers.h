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
struct kref;
struct platform_device;
struct rproc;
struct rpmsg_endpoint;
struct virtio_device;
struct virtio_device_id;
struct virtio_driver;
struct virtqueue;
struct workqueue_struct;
struct module;

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

/* virtio */
int rpmsg_rs_register_virtio_driver(struct virtio_driver *drv, const char *name, struct module *owner,
				    const struct virtio_device_id *ids, const unsigned int *features,
				    unsigned int nfeatures, int (*validate)(struct virtio_device *vdev),
				    int (*probe)(struct virtio_device *vdev),
				    void (*remove)(struct virtio_device *vdev));
void *rpmsg_rs_virtio_get_priv(struct virtio_device *vdev);
struct virtio_driver *rpmsg_rs_virtio_driver_of(struct virtio_device *vdev);
void rpmsg_rs_virtio_set_priv(struct virtio_device *vdev, void *priv);
struct device *rpmsg_rs_virtio_dev(struct virtio_device *vdev);
bool rpmsg_rs_virtio_has_feature(struct virtio_device *vdev, unsigned int fbit);
bool rpmsg_rs_virtio_offers_feature(struct virtio_device *vdev, unsigned int fbit);
void rpmsg_rs_virtio_clear_feature(struct virtio_device *vdev, unsigned int fbit);
void rpmsg_rs_virtio_config_get(struct virtio_device *vdev, unsigned int offset, void *buf, unsigned int len);
void rpmsg_rs_virtio_device_ready(struct virtio_device *vdev);
void rpmsg_rs_virtio_del_vqs(struct virtio_device *vdev);
int rpmsg_rs_virtio_find_vqs(struct virtio_device *vdev, unsigned int nvqs, struct virtqueue **vqs,
			     void (**callbacks)(struct virtqueue *vq), const char *const *names);
struct virtio_device *rpmsg_rs_vq_vdev(struct virtqueue *vq);
int rpmsg_rs_vq_add_buf(struct virtqueue *vq, void *cpu_addr, unsigned int len, bool out, void *token,
			bool atomic);
void *rpmsg_rs_dma_alloc_coherent(struct device *dev, size_t size, u64 *dma);
void rpmsg_rs_dma_free_coherent(struct device *dev, size_t size, void *cpu_addr, u64 dma);

/* rpmsg transport */
void rpmsg_rs_unregister_children(struct device *parent);
void rpmsg_rs_ept_init(struct rpmsg_endpoint *ept);
int rpmsg_rs_ept_deliver(struct rpmsg_endpoint *ept, void *data, int len, u32 src);
void rpmsg_rs_ept_clear_cb(struct rpmsg_endpoint *ept);
void rpmsg_rs_kref_get(struct kref *kref);
int rpmsg_rs_kref_put(struct kref *kref, void (*release)(struct kref *kref));

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
