/*
 * Civil (proleptic Gregorian) date arithmetic in days since 1970-01-01,
 * independent of the process's time zone; used by the filter language's date
 * macros and by date formats. Defined in src/core/civil.c (libc only).
 */
#ifndef STAGEHAND_CIVIL_H
#define STAGEHAND_CIVIL_H

#include <stdint.h>

/* Days since 1970-01-01 of year y, month m (1-12), day d (1-31). */
int64_t sh_days_from_civil(int64_t y, unsigned m, unsigned d);
/* The year, month and day of day z since 1970-01-01. */
void sh_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif
