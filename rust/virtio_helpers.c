// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of rust/virtio.rs: static inline functions and macros Rust cannot
 * call directly. Declared in helpers.h; a module includes the helpers of
 * the abstractions it uses into its <module>_helpers.c.
 */
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>

#include "helpers.h"

bool rpmsg_rs_virtio_has_feature(struct virtio_device *vdev, unsigned int fbit)
{
	return virtio_has_feature(vdev, fbit);
}

void rpmsg_rs_virtio_get_features(struct virtio_device *vdev, u64 *features)
{
	virtio_get_features(vdev, features);
}

void rpmsg_rs_virtio_clear_bit(struct virtio_device *vdev, unsigned int fbit)
{
	__virtio_clear_bit(vdev, fbit);
}

/*
 * One transport read of the whole range, repeated until the config
 * generation is stable (virtio_cread_bytes() would read byte by byte, and
 * remoteproc logs every byte beyond its config space).
 */
void rpmsg_rs_virtio_cread_bytes(struct virtio_device *vdev, unsigned int offset, void *buf, size_t len)
{
	__virtio_cread_many(vdev, offset, buf, 1, len);
}

void rpmsg_rs_virtio_device_ready(struct virtio_device *vdev)
{
	virtio_device_ready(vdev);
}

void rpmsg_rs_virtio_del_vqs(struct virtio_device *vdev)
{
	vdev->config->del_vqs(vdev);
}

int rpmsg_rs_virtio_find_vqs(struct virtio_device *vdev, unsigned int nvqs, struct virtqueue **vqs,
			     struct virtqueue_info *info)
{
	return virtio_find_vqs(vdev, nvqs, vqs, info, NULL);
}

/* A one-entry list for len bytes at offset in page: one call per buffer. */
void rpmsg_rs_sg_init_page(struct scatterlist *sg, struct page *page, unsigned int len, unsigned int offset)
{
	sg_init_table(sg, 1);
	sg_set_page(sg, page, len, offset);
}

bool rpmsg_rs_virt_addr_valid(const void *addr)
{
	return virt_addr_valid(addr);
}
