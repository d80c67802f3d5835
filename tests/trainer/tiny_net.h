/* tiny_net.h — hand-written test networks implementing the hsi.h seam (see tiny_net.c). */
#ifndef TINY_NET_H
#define TINY_NET_H

#include "hsi.h"

extern const hsi_netdesc tiny_net;    /* one domain: 6 bands, 3 classes, patch 3 */
extern const hsi_netdesc tiny2_net;   /* domains "a" (6 bands, 3 classes), "b" (4 bands, 2 classes) */

#endif
