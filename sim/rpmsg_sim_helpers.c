// SPDX-License-Identifier: GPL-2.0
/* The C helpers of the abstractions this module uses (see Kbuild). */
#include "../rust/platform_device_helpers.c"
#include "../rust/remoteproc_helpers.c"
#include "../rust/workqueue_helpers.c"
