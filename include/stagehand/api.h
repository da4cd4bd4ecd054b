/*
 * stagehand api: the HTTP handlers of API.md and the table that registers
 * them with the router.
 */
#ifndef STAGEHAND_API_H
#define STAGEHAND_API_H

#include "stagehand/router.h"

struct sh_static;

/* Registers every API route and middleware on rt; static files (may be NULL)
 * become the router's fallback. 0 or a negative code. */
int sh_api_register(struct sh_router *rt, struct sh_static *files);

int sh_api_health(struct sh_req *r, void *ud);

#endif
