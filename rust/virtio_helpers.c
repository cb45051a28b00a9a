// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of rust/virtio.rs: static inline functions and macros Rust cannot
 * call directly. Declared in helpers.h; a module includes the helpers of
 * the abstractions it uses into its <module>_helpers.c.
 */
#include <linux/dma-mapping.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>

#include "helpers.h"

int rpmsg_rs_register_virtio_driver(struct virtio_driver *drv, const char *name, struct module *owner,
				    const struct virtio_device_id *ids, const unsigned int *features,
				    unsigned int nfeatures, int (*validate)(struct virtio_device *vdev),
				    int (*probe)(struct virtio_device *vdev),
				    void (*remove)(struct virtio_device *vdev))
{
	memset(drv, 0, sizeof(*drv));
	drv->driver.name = name;
	drv->id_table = ids;
	drv->feature_table = features;
	drv->feature_table_size = nfeatures;
	drv->validate = validate;
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

bool rpmsg_rs_virtio_offers_feature(struct virtio_device *vdev, unsigned int fbit)
{
	u64 features[VIRTIO_FEATURES_U64S];

	if (fbit >= VIRTIO_FEATURES_BITS)
		return false;
	virtio_get_features(vdev, features);
	return virtio_features_test_bit(features, fbit);
}

/* Only valid before the features are final: from a driver's validate(). */
void rpmsg_rs_virtio_clear_feature(struct virtio_device *vdev, unsigned int fbit)
{
	if (fbit < VIRTIO_FEATURES_BITS)
		__virtio_clear_bit(vdev, fbit);
}

/*
 * One transport read of the whole range, repeated until the config
 * generation is stable (virtio_cread_bytes() would read byte by byte, and
 * remoteproc logs every byte beyond its config space).
 */
void rpmsg_rs_virtio_config_get(struct virtio_device *vdev, unsigned int offset, void *buf, unsigned int len)
{
	u32 gen, old;

	might_sleep();
	gen = vdev->config->generation ? vdev->config->generation(vdev) : 0;
	do {
		old = gen;
		vdev->config->get(vdev, offset, buf, len);
		gen = vdev->config->generation ? vdev->config->generation(vdev) : 0;
	} while (gen != old);
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
		struct page *first = vmalloc_to_page(cpu_addr);
		unsigned int npages = DIV_ROUND_UP(offset_in_page(cpu_addr) + len, PAGE_SIZE);
		unsigned int i;

		/*
		 * One descriptor per buffer, as remotes expect: a buffer larger
		 * than what is left of its page must be physically contiguous,
		 * as a pool memremap()ed from a carveout is.
		 */
		if (!first)
			return -EINVAL;
		for (i = 1; i < npages; i++)
			if (vmalloc_to_pfn(cpu_addr + i * PAGE_SIZE) != page_to_pfn(first) + i)
				return -EINVAL;
		sg_init_table(&sg, 1);
		sg_set_page(&sg, first, len, offset_in_page(cpu_addr));
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
	/* Failure is the caller's to report (a pool may be tried for size). */
	void *cpu = dma_alloc_coherent(dev, size, &handle, GFP_KERNEL | __GFP_NOWARN);

	*dma = handle;
	return cpu;
}

void rpmsg_rs_dma_free_coherent(struct device *dev, size_t size, void *cpu_addr, u64 dma)
{
	dma_free_coherent(dev, size, cpu_addr, dma);
}
