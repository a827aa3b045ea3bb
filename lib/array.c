/* SPDX-License-Identifier: MIT */
/*
 * The one way lib/ grows an array: the core's tables (poll.c, waker.c)
 * and the pollers' own (poller-poll.c, poller-kqueue.c) all call it, so
 * the overflow guard and the zeroing of new entries are written once.
 */
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int
mw__array_grow(void **array, size_t *len, size_t elem, size_t need,
               size_t first)
{
    size_t n = *len ? *len : first;
    unsigned char *p;

    if (need <= *len)
        return 0;
    while (n < need) {
        if (n > SIZE_MAX / 2 / elem)
            return -ENOMEM;
        n *= 2;
    }
    p = realloc(*array, n * elem);
    if (!p)
        return -ENOMEM;
    memset(p + *len * elem, 0, (n - *len) * elem);
    *array = p;
    *len = n;
    return 0;
}
