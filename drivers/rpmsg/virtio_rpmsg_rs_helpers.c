// SPDX-License-Identifier: GPL-2.0
/* The C helpers of the abstractions this module uses (see Kbuild). */
#include "../../rust/virtio_helpers.c"
