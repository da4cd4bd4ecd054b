/* Civil date arithmetic shared inside the db module (see civil.c). */
#ifndef SH_DB_CIVIL_H
#define SH_DB_CIVIL_H

#include <stdint.h>

/* Days since 1970-01-01 of year y, month m (1-12), day d (1-31). */
int64_t sh__days_from_civil(int64_t y, unsigned m, unsigned d);
/* The year, month and day of day z since 1970-01-01. */
void sh__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif
