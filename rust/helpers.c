// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for static inline functions and macros that Rust cannot call
 * directly; see helpers.h.
 */
#include <linux/dma-mapping.h>
#include <linux/kref.h>
#include <linux/mm.h>
#include <linux/platform_device.h>
#include <linux/rpmsg.h>
#include <linux/scatterlist.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>
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

int rpmsg_rs_register_virtio_driver(struct virtio_driver *drv, const char *name, struct module *owner,
				    const struct virtio_device_id *ids, const unsigned int *features,
				    unsigned int nfeatures, int (*probe)(struct virtio_device *vdev),
				    void (*remove)(struct virtio_device *vdev))
{
	memset(drv, 0, sizeof(*drv));
	drv->driver.name = name;
	drv->id_table = ids;
	drv->feature_table = features;
	drv->feature_table_size = nfeatures;
	drv->probe = probe;
	drv->remove = remove;
	return __register_virtio_driver(drv, owner);
}

void *rpmsg_rs_virtio_get_priv(struct virtio_device *vdev)
{
	return vdev->priv;
}

struct virtio_driver *rpmsg_rs_virtio_driver_of(struct virtio_device *vdev)
{
	return drv_to_virtio(vdev->dev.driver);
}

void rpmsg_rs_virtio_set_priv(struct virtio_device *vdev, void *priv)
{
	vdev->priv = priv;
}

struct device *rpmsg_rs_virtio_dev(struct virtio_device *vdev)
{
	return &vdev->dev;
}

bool rpmsg_rs_virtio_has_feature(struct virtio_device *vdev, unsigned int fbit)
{
	return virtio_has_feature(vdev, fbit);
}

void rpmsg_rs_virtio_device_ready(struct virtio_device *vdev)
{
	virtio_device_ready(vdev);
}

void rpmsg_rs_virtio_del_vqs(struct virtio_device *vdev)
{
	vdev->config->del_vqs(vdev);
}

#define RPMSG_RS_MAX_VQS 4

int rpmsg_rs_virtio_find_vqs(struct virtio_device *vdev, unsigned int nvqs, struct virtqueue **vqs,
			     void (**callbacks)(struct virtqueue *vq), const char *const *names)
{
	struct virtqueue_info info[RPMSG_RS_MAX_VQS] = {};
	unsigned int i;

	if (nvqs > RPMSG_RS_MAX_VQS)
		return -EINVAL;
	for (i = 0; i < nvqs; i++) {
		info[i].name = names[i];
		info[i].callback = callbacks[i];
	}
	return virtio_find_vqs(vdev, nvqs, vqs, info, NULL);
}

struct virtio_device *rpmsg_rs_vq_vdev(struct virtqueue *vq)
{
	return vq->vdev;
}

/*
 * Buffers may come from a per-device DMA pool over memremap()ed memory,
 * whose addresses are not in the linear map (as upstream's rpmsg_sg_init()).
 */
int rpmsg_rs_vq_add_buf(struct virtqueue *vq, void *cpu_addr, unsigned int len, bool out, void *token,
			bool atomic)
{
	struct scatterlist sg;
	gfp_t gfp = atomic ? GFP_ATOMIC : GFP_KERNEL;

	if (is_vmalloc_addr(cpu_addr)) {
		sg_init_table(&sg, 1);
		sg_set_page(&sg, vmalloc_to_page(cpu_addr), len, offset_in_page(cpu_addr));
	} else {
		if (WARN_ON(!virt_addr_valid(cpu_addr)))
			return -EINVAL;
		sg_init_one(&sg, cpu_addr, len);
	}
	if (out)
		return virtqueue_add_outbuf(vq, &sg, 1, token, gfp);
	return virtqueue_add_inbuf(vq, &sg, 1, token, gfp);
}

void *rpmsg_rs_dma_alloc_coherent(struct device *dev, size_t size, u64 *dma)
{
	dma_addr_t handle;
	void *cpu = dma_alloc_coherent(dev, size, &handle, GFP_KERNEL);

	*dma = handle;
	return cpu;
}

void rpmsg_rs_dma_free_coherent(struct device *dev, size_t size, void *cpu_addr, u64 dma)
{
	dma_free_coherent(dev, size, cpu_addr, dma);
}

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

/* Character devices (rust/chrdev.rs). */
#include <linux/fs.h>
#include <linux/idr.h>

void rpmsg_rs_chrdev_ida_init(struct ida *ida)
{
	ida_init(ida);
}

struct cdev *rpmsg_rs_chrdev_inode_cdev(struct inode *inode)
{
	return inode->i_cdev;
}
