/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the project's modules need beyond the kernel crate's bindings.
 * bindgen runs over this header with the kernel's C flags (see Kbuild);
 * only the items allow-listed there are generated, everything they refer
 * to comes from `kernel::bindings`.
 */
#include <linux/anon_inodes.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/platform_device.h>
#include <linux/poll.h>
#include <linux/remoteproc.h>
#include <linux/rpmsg.h>
#include <linux/scatterlist.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

/* The contract an rpmsg transport implements; not an installed header. */
#include "rpmsg_internal.h"

/*
 * The poll masks are casts (`(__force __poll_t)0x1`), which bindgen does not
 * evaluate: constants of their values, as the kernel's own bindings do.
 */
const __poll_t RPMSG_RS_EPOLLIN = EPOLLIN;
const __poll_t RPMSG_RS_EPOLLPRI = EPOLLPRI;
const __poll_t RPMSG_RS_EPOLLOUT = EPOLLOUT;
const __poll_t RPMSG_RS_EPOLLERR = EPOLLERR;
const __poll_t RPMSG_RS_EPOLLRDNORM = EPOLLRDNORM;
const __poll_t RPMSG_RS_POLLFREE = POLLFREE;

#include "../helpers.h"
