// SPDX-License-Identifier: GPL-2.0
/* This module's copy of the shared C helpers (see Kbuild). */
#include "../helpers.c"
