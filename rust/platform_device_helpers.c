// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of rust/platform_device.rs: static inline functions and macros Rust cannot
 * call directly. Declared in helpers.h; a module includes the helpers of
 * the abstractions it uses into its <module>_helpers.c.
 */
#include <linux/dma-mapping.h>
#include <linux/platform_device.h>

#include "helpers.h"

struct platform_device *rpmsg_rs_platform_device_register_simple(const char *name, int id)
{
	return platform_device_register_simple(name, id, NULL, 0);
}

int rpmsg_rs_dma_coerce_mask_and_coherent(struct device *dev, u64 mask)
{
	return dma_coerce_mask_and_coherent(dev, mask);
}
