/*
 * Command-line tools that work on a data directory directly, whether or not
 * a server runs on it: they open <dir>/data.db themselves and make their
 * change in one write transaction (waiting for a running server's writer),
 * which the server notices within a second through the schema version.
 */
#ifndef STAGEHAND_CLI_H
#define STAGEHAND_CLI_H

#include <stdio.h>

/* `stagehand collections import FILE.json [--dir DIR] [--delete-missing]`
 * and `stagehand collections export [--dir DIR]` (JSON on stdout). argv[0]
 * is the subcommand. Returns the process exit code: 0, 1 when the import was
 * refused or failed (nothing changed), 2 for a usage error. */
int sh_cli_collections(int argc, char **argv, char **envp);

/* The usage lines of `collections`. */
void sh_cli_collections_usage(FILE *f);

/* `stagehand superuser upsert EMAIL PASSWORD [--dir DIR]` and `stagehand
 * superuser delete EMAIL [--dir DIR]`. argv[0] is the subcommand. Returns 0,
 * 1 when refused or failed (the reason on stderr; nothing changed), 2 for a
 * usage error. */
int sh_cli_superuser(int argc, char **argv, char **envp);
void sh_cli_superuser_usage(FILE *f);

/* `stagehand backup create [NAME.zip] | list | restore KEY [--dir DIR]`.
 * argv[0] is the subcommand. Returns 0, 1 when refused or failed (the
 * reason on stderr; a failed restore changes nothing), 2 for a usage
 * error. */
int sh_cli_backup(int argc, char **argv, char **envp);
void sh_cli_backup_usage(FILE *f);

/* The data directory from STAGEHAND_DIR in envp, else "stagehand_data". */
const char *sh__cli_env_dir(char **envp);

#endif
