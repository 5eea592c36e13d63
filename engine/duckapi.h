/*
** duckapi.h: DuckDB's C API, loaded on first use (Lua-free).
**
** icx does not link libduckdb.so: a C++ library of 70 MB whose relocations
** dirty ~12 MB of pages in every process that maps it, whatever the
** destination (docs/MEASUREMENTS.md). icx.duckdb (lduckdb.c) calls
** icx_duckapi_load() when it is first required, which dlopen()s the library
** and looks up every function icx calls. duckdb.h still gives the types;
** including this header after it turns each call to a listed duckdb_
** function into a call through the table, so the callers read as plain
** DuckDB. A call to a function missing from the list links against the
** real symbol, which fails without -lduckdb: the list cannot fall behind.
**
** The library is found as the dynamic linker finds any: LD_LIBRARY_PATH,
** then icx's RUNPATH (the build tree's build/duckdb/lib, or the installed
** PREFIX/lib/icx as $ORIGIN/../lib/icx), then the system's directories.
*/
#ifndef ICX_DUCKAPI_H
#define ICX_DUCKAPI_H

#include <stddef.h>

#include <duckdb.h>

/* The library's name as dlopen() is given it. */
#define ICX_DUCKAPI_LIB "libduckdb.so"

/* Every DuckDB function icx calls. */
#define ICX_DUCKAPI_FUNCS(X)                                                   \
  X(duckdb_append_bool)                                                        \
  X(duckdb_append_double)                                                      \
  X(duckdb_append_int64)                                                       \
  X(duckdb_append_null)                                                        \
  X(duckdb_append_varchar_length)                                              \
  X(duckdb_appender_close)                                                     \
  X(duckdb_appender_create_ext)                                                \
  X(duckdb_appender_destroy)                                                   \
  X(duckdb_appender_end_row)                                                   \
  X(duckdb_appender_error)                                                     \
  X(duckdb_bind_boolean)                                                       \
  X(duckdb_bind_double)                                                        \
  X(duckdb_bind_int64)                                                         \
  X(duckdb_bind_null)                                                          \
  X(duckdb_bind_varchar_length)                                                \
  X(duckdb_close)                                                              \
  X(duckdb_column_count)                                                       \
  X(duckdb_column_name)                                                        \
  X(duckdb_column_type)                                                        \
  X(duckdb_connect)                                                            \
  X(duckdb_create_config)                                                      \
  X(duckdb_create_instance_cache)                                              \
  X(duckdb_destroy_config)                                                     \
  X(duckdb_destroy_instance_cache)                                             \
  X(duckdb_destroy_prepare)                                                    \
  X(duckdb_destroy_result)                                                     \
  X(duckdb_disconnect)                                                         \
  X(duckdb_execute_prepared)                                                   \
  X(duckdb_free)                                                               \
  X(duckdb_get_or_create_from_cache)                                           \
  X(duckdb_library_version)                                                    \
  X(duckdb_prepare)                                                            \
  X(duckdb_prepare_error)                                                      \
  X(duckdb_query)                                                              \
  X(duckdb_result_error)                                                       \
  X(duckdb_result_error_type)                                                  \
  X(duckdb_row_count)                                                          \
  X(duckdb_set_config)                                                         \
  X(duckdb_value_boolean)                                                      \
  X(duckdb_value_double)                                                       \
  X(duckdb_value_int64)                                                        \
  X(duckdb_value_is_null)                                                      \
  X(duckdb_value_varchar)

/* The functions as the library has them, each typed as duckdb.h declares
** it; filled by icx_duckapi_load(), NULL before. */
struct icx_duckapi {
#define ICX_DUCKAPI_MEMBER(name) __typeof__(name) *name;
  ICX_DUCKAPI_FUNCS(ICX_DUCKAPI_MEMBER)
#undef ICX_DUCKAPI_MEMBER
};
extern struct icx_duckapi icx_duckapi;

/* Loads the library and its functions once per process (later calls
** return at once; the library is never unloaded). 0 when they are there;
** otherwise -1 with a message in err[0, errsize) naming the library, where
** it was looked for and what to do. Not thread-safe: icx calls DuckDB from
** the Lua thread only. */
int icx_duckapi_load(char *err, size_t errsize);

/* The calls, through the table (one line each: the preprocessor cannot
** write these from the list above; a name defined here but not listed
** there fails to compile). */
#ifndef ICX_DUCKAPI_IMPL
#define duckdb_append_bool icx_duckapi.duckdb_append_bool
#define duckdb_append_double icx_duckapi.duckdb_append_double
#define duckdb_append_int64 icx_duckapi.duckdb_append_int64
#define duckdb_append_null icx_duckapi.duckdb_append_null
#define duckdb_append_varchar_length icx_duckapi.duckdb_append_varchar_length
#define duckdb_appender_close icx_duckapi.duckdb_appender_close
#define duckdb_appender_create_ext icx_duckapi.duckdb_appender_create_ext
#define duckdb_appender_destroy icx_duckapi.duckdb_appender_destroy
#define duckdb_appender_end_row icx_duckapi.duckdb_appender_end_row
#define duckdb_appender_error icx_duckapi.duckdb_appender_error
#define duckdb_bind_boolean icx_duckapi.duckdb_bind_boolean
#define duckdb_bind_double icx_duckapi.duckdb_bind_double
#define duckdb_bind_int64 icx_duckapi.duckdb_bind_int64
#define duckdb_bind_null icx_duckapi.duckdb_bind_null
#define duckdb_bind_varchar_length icx_duckapi.duckdb_bind_varchar_length
#define duckdb_close icx_duckapi.duckdb_close
#define duckdb_column_count icx_duckapi.duckdb_column_count
#define duckdb_column_name icx_duckapi.duckdb_column_name
#define duckdb_column_type icx_duckapi.duckdb_column_type
#define duckdb_connect icx_duckapi.duckdb_connect
#define duckdb_create_config icx_duckapi.duckdb_create_config
#define duckdb_create_instance_cache icx_duckapi.duckdb_create_instance_cache
#define duckdb_destroy_config icx_duckapi.duckdb_destroy_config
#define duckdb_destroy_instance_cache icx_duckapi.duckdb_destroy_instance_cache
#define duckdb_destroy_prepare icx_duckapi.duckdb_destroy_prepare
#define duckdb_destroy_result icx_duckapi.duckdb_destroy_result
#define duckdb_disconnect icx_duckapi.duckdb_disconnect
#define duckdb_execute_prepared icx_duckapi.duckdb_execute_prepared
#define duckdb_free icx_duckapi.duckdb_free
#define duckdb_get_or_create_from_cache                                        \
  icx_duckapi.duckdb_get_or_create_from_cache
#define duckdb_library_version icx_duckapi.duckdb_library_version
#define duckdb_prepare icx_duckapi.duckdb_prepare
#define duckdb_prepare_error icx_duckapi.duckdb_prepare_error
#define duckdb_query icx_duckapi.duckdb_query
#define duckdb_result_error icx_duckapi.duckdb_result_error
#define duckdb_result_error_type icx_duckapi.duckdb_result_error_type
#define duckdb_row_count icx_duckapi.duckdb_row_count
#define duckdb_set_config icx_duckapi.duckdb_set_config
#define duckdb_value_boolean icx_duckapi.duckdb_value_boolean
#define duckdb_value_double icx_duckapi.duckdb_value_double
#define duckdb_value_int64 icx_duckapi.duckdb_value_int64
#define duckdb_value_is_null icx_duckapi.duckdb_value_is_null
#define duckdb_value_varchar icx_duckapi.duckdb_value_varchar
#endif

#endif
