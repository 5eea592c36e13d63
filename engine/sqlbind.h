/*
** sqlbind.h: what the Lua bindings of the SQL destinations (lsqlite.c,
** lpg.c) share, so that each is written once: quoting a name, reading the
** names of a primary key, and returning a record writer's failure.
*/
#ifndef ICX_SQLBIND_H
#define ICX_SQLBIND_H

#include <lua.h>

#include "colset.h"

/* quote(name) -> "name" with inner quotes doubled: a SQL identifier for
** both SQLite and PostgreSQL. Registered as icx.sqlite.quote and
** icx.pg.quote. [-0, +1, m] */
int icx_sql_quote(lua_State *L);

/*
** The Lua string at idx as a name (borrowed: valid while the value stays
** reachable); raises "<module>: <what> must be a string" or "... holds a
** NUL byte" (a C string could not carry it), and "... must be non-empty"
** when nonempty is set. [-0, +0, v]
*/
const char *icx_sql_name(lua_State *L, int idx, const char *module,
                         const char *what, int nonempty);

/*
** The names of the value at idx, a name or a list of at most max names,
** into out[0, max) as icx_sql_name reads them (each is referenced by the
** list or is the value itself, so the pointers live as long as it does);
** nil is none. Returns their count; raises "<module>: primary_key must be
** a <noun> name or a list of at most <max>". [-0, +0, v]
*/
int icx_sql_names(lua_State *L, int idx, const char *module, const char *noun,
                  int nonempty, const char **out, int max);

/* Pushes nil, e->msg, e->code: a write that failed. [-0, +3, m] */
int icx_sql_push_err(lua_State *L, const struct icx_cs_err *e);
/* w:columns() of every writer binding: {{field =, column =, kind =}, ...}
** in table order. Returns 1 (the table).  [-0, +1, m] */
int icx_sql_push_columns(lua_State *L, const struct icx_cs *cs);

#endif
