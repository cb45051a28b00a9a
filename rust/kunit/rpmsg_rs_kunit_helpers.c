// SPDX-License-Identifier: GPL-2.0
/* The C helpers of the abstractions this module uses (see Kbuild). */
#include "../chrdev_helpers.c"
#include "../platform_device_helpers.c"
#include "../rpmsg_driver_helpers.c"
#include "../virtio_helpers.c"
