/* String slices: comparisons of borrowed {ptr, len} views with C literals. */
#include <string.h>

#include "stagehand/core.h"

int sh_str_eq(struct sh_str a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && memcmp(a.ptr, lit, n) == 0;
}

int sh_str_caseeq(struct sh_str a, const char *lit)
{
    size_t i;
    for (i = 0; i < a.len; i++) {
        unsigned char x = (unsigned char)a.ptr[i], y = (unsigned char)lit[i];
        if (y == 0)
            return 0;
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return 0;
    }
    return lit[i] == 0;
}
