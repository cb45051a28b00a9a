// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of rust/chrdev.rs: static inline functions and macros Rust cannot
 * call directly. Declared in helpers.h; a module includes the helpers of
 * the abstractions it uses into its <module>_helpers.c.
 */
#include <linux/fs.h>
#include <linux/idr.h>

#include "helpers.h"

void rpmsg_rs_chrdev_ida_init(struct ida *ida)
{
	ida_init(ida);
}

/* i_cdev is in an anonymous union, whose bindgen name varies with the configuration. */
struct cdev *rpmsg_rs_chrdev_inode_cdev(struct inode *inode)
{
	return inode->i_cdev;
}
