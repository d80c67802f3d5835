/* hsi_init.h — seeded initialisation of an emitted net's parameters (from hsi_param.init).
 * A parameter's values depend only on (seed, its name, its init): stable across netdef edits. */
#ifndef HSI_INIT_H
#define HSI_INIT_H

#include <stdint.h>

#include "hsi.h"

void hsi_init_param(hsi_param *p, uint64_t seed);
void hsi_init_params(hsi_param *ps, int n, uint64_t seed);

#endif
