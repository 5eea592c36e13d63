/* Entry points of the C modules the runtime preloads. Each l<module>.c exports
** exactly one of these; everything else in it is static. */
#ifndef ICX_MODULES_H
#define ICX_MODULES_H

#include <lua.h>

int luaopen_icx_sys(lua_State *L);
int luaopen_icx_yaml(lua_State *L);
int luaopen_cjson(lua_State *L);
int luaopen_cjson_safe(lua_State *L);
int luaopen_icx_http(lua_State *L);
int luaopen_icx_ratelimit(lua_State *L);
int luaopen_icx_sqlite(lua_State *L);
int luaopen_icx_json(lua_State *L);
int luaopen_icx_budget(lua_State *L);
int luaopen_icx_lock(lua_State *L);
int luaopen_icx_builtin(lua_State *L);
int luaopen_icx_pg(lua_State *L);
int luaopen_icx_redact(lua_State *L);
int luaopen_icx_pattern(lua_State *L);
int luaopen_icx_tally(lua_State *L);
#ifdef ICX_DUCKDB /* built with DuckDB (Makefile, "DuckDB") */
int luaopen_icx_duckdb(lua_State *L);
#define ICX_DUCKDB_MODULE {"icx.duckdb", luaopen_icx_duckdb},
#else
#define ICX_DUCKDB_MODULE
#endif

/* package.preload entries, in the order registered. */
#define ICX_MODULE_LIST                                                        \
  {"icx.sys", luaopen_icx_sys}, {"icx.yaml", luaopen_icx_yaml},                \
      {"cjson", luaopen_cjson}, {"cjson.safe", luaopen_cjson_safe},            \
      {"icx.http", luaopen_icx_http},                                          \
      {"icx.ratelimit", luaopen_icx_ratelimit},                                \
      {"icx.sqlite", luaopen_icx_sqlite}, {"icx.json", luaopen_icx_json},      \
      {"icx.budget", luaopen_icx_budget}, {"icx.lock", luaopen_icx_lock},      \
      {"icx.builtin", luaopen_icx_builtin}, {"icx.pg", luaopen_icx_pg},        \
      {"icx.redact", luaopen_icx_redact},                                      \
      {"icx.pattern", luaopen_icx_pattern}, {"icx.tally", luaopen_icx_tally},  \
      ICX_DUCKDB_MODULE

#endif
