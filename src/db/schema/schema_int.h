/*
 * Internals of the schema module shared by its files and its unit tests.
 * Not a public interface.
 */
#ifndef STAGEHAND_DB_SCHEMA_INT_H
#define STAGEHAND_DB_SCHEMA_INT_H

#include <stdbool.h>

/* Infers the types of the ncols result columns of the SELECT query from its
 * text (view_types.c): types[i] is "number", "text", "bool" or NULL (json:
 * not known). Returns false, with every types[i] NULL, when the query's
 * result columns cannot be matched one to one (a `*`, another count). */
bool sh__view_column_types(const char *query, int ncols, const char **types);

#endif
