/*
** opts.h: option tables of the C modules. One walker rejects unknown keys by
** name, and one reader per value type checks a field, so every module words
** its misuse errors the same way: "icx.http: option 'max_bytes' must be an
** integer >= 1".
**
** Every reader treats a missing table (nil or none at `idx`) like an empty
** one, and an absent or nil field as "use the default". A field of the wrong
** type raises; it is never coerced, so `wal = "no"` cannot silently mean true.
*/
#ifndef ICX_OPTS_H
#define ICX_OPTS_H

#include <stddef.h>

#include <lua.h>

/*
** Raises unless every key of the table at `idx` is one of `allowed`
** (NULL-terminated). The message names the module, the table, the key and
** the valid keys: "icx.http: unknown option 'x' in request (valid: ...)".
** Nothing happens when `idx` holds nil or nothing.  [-0, +0, v]
*/
void icx_opts_check(lua_State *L, int idx, const char *module, const char *what,
                    const char *const allowed[]);

/*
** Pushes field `key` of the option table at `idx`, or nil when the table or
** the field is absent; returns the pushed value's type.  [-0, +1, e]
*/
int icx_opts_get(lua_State *L, int idx, const char *key);

/*
** Field `key` as a finite number > 0, or `def` when absent; raises naming
** the module and key otherwise.  [-0, +0, v]
*/
double icx_opts_positive(lua_State *L, int idx, const char *module,
                         const char *key, double def);

/* Field `key` as a finite number, or `def` when absent.  [-0, +0, v] */
double icx_opts_number(lua_State *L, int idx, const char *module,
                       const char *key, double def);

/*
** Field `key` as an integer in [min, max], or `def` when absent. A float
** with an integral value counts (1e6 is fine); a string does not.
** [-0, +0, v]
*/
lua_Integer icx_opts_integer(lua_State *L, int idx, const char *module,
                             const char *key, lua_Integer def, lua_Integer min,
                             lua_Integer max);

/* Field `key` as a boolean (0 or 1), or `def` when absent.  [-0, +0, v] */
int icx_opts_boolean(lua_State *L, int idx, const char *module, const char *key,
                     int def);

/*
** Field `key` as a string, or NULL when absent; its length goes to *len when
** len is not NULL. The string is borrowed from the table, so it stays valid
** while the table holds it.  [-0, +0, v]
*/
const char *icx_opts_string(lua_State *L, int idx, const char *module,
                            const char *key, size_t *len);

#endif
