/* Option tables of the C modules: one walker that rejects unknown keys by
 * name (STYLE: "option tables are walked by one helper"), and the number
 * fields several modules read. */
#ifndef ICX_OPTS_H
#define ICX_OPTS_H

#include <lua.h>

/* Raises unless every key of the table at `idx` is one of `allowed`
 * (NULL-terminated). The message names the module, the table, the key and
 * the valid keys: "icx.http: unknown option 'x' in request (valid: ...)".
 * Nothing happens when `idx` holds nil or nothing.  [-0, +0, v] */
void icx_opts_check(lua_State *L, int idx, const char *module, const char *what,
                    const char *const allowed[]);

/* Field `key` of the option table at `idx` as a finite number > 0, or `def`
 * when absent; raises naming the module and key otherwise.  [-0, +0, v] */
double icx_opts_positive(lua_State *L, int idx, const char *module,
                         const char *key, double def);

#endif
