/*
** duckapi.c: loads libduckdb.so and the functions icx calls, on first use
** (see duckapi.h for why icx does not link it).
*/
/* Built only with DuckDB (the Makefile defines ICX_DUCKDB when it finds
** the library). */
#ifdef ICX_DUCKDB
#define _GNU_SOURCE /* dlinfo, link.h: icx's own RUNPATH */
#define ICX_DUCKAPI_IMPL
#include "duckapi.h"

#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct icx_duckapi icx_duckapi;

/* The library's handle once every function was found. */
static void *lib;

/* icx's own RUNPATH as its dynamic section holds it (e.g.
** "$ORIGIN/../lib/icx"); NULL when it has none or the linker cannot say. */
static const char *own_runpath(void *self) {
  struct link_map *m = NULL;
  if (dlinfo(self, RTLD_DI_LINKMAP, &m) != 0 || !m || !m->l_ld)
    return NULL;
  ElfW(Addr) strtab = 0;
  const ElfW(Dyn) *rp = NULL;
  for (const ElfW(Dyn) *d = m->l_ld; d->d_tag != DT_NULL; d++) {
    if (d->d_tag == DT_STRTAB)
      strtab = d->d_un.d_ptr;
    else if (d->d_tag == DT_RUNPATH || d->d_tag == DT_RPATH)
      rp = d;
  }
  if (!rp || !strtab)
    return NULL;
  /* Most ports relocate the dynamic section's addresses in place; a few
  ** (read-only dynamic sections) leave them relative to the base. */
  if (strtab < m->l_addr)
    strtab += m->l_addr;
  return (const char *)strtab + rp->d_un.d_val;
}

/* Opens DIR/libduckdb.so for each directory of icx's RUNPATH (the build
** tree's build/duckdb/lib, or an installed $ORIGIN/../lib/icx) in turn,
** $ORIGIN expanded; the first that loads, or NULL. The dynamic linker
** searches the RUNPATH of dlopen's caller, and under a sanitizer that is
** the sanitizer's interceptor, not icx: so icx searches its own. Writes
** the files tried to tried[0, n), ", " between, and, when one of them is
** there but does not load, why to why[0, whysize). */
static void *open_runpath(char *tried, size_t n, char *why, size_t whysize) {
  static const char ORIGIN[] = "$ORIGIN";
  char origin[PATH_MAX], path[PATH_MAX + 256];
  void *self = dlopen(NULL, RTLD_LAZY), *h = NULL;
  const char *rp = self ? own_runpath(self) : NULL;
  size_t used = 0;
  *tried = '\0';
  /* $ORIGIN is the directory of icx's file, as the linker reads it
  ** (dlinfo's RTLD_DI_ORIGIN is not safe: glibc 2.36 copies a NULL when
  ** the linker had no $ORIGIN to expand yet). */
  ssize_t len = readlink("/proc/self/exe", origin, sizeof origin - 1);
  origin[len > 0 ? len : 0] = '\0';
  if (strrchr(origin, '/'))
    *strrchr(origin, '/') = '\0';
  while (rp && *rp && !h) {
    int dirlen = (int)strcspn(rp, ":");
    const char *o = strstr(rp, ORIGIN);
    int at = o && o - rp < dirlen ? (int)(o - rp) : dirlen;
    int skip = at < dirlen ? (int)sizeof ORIGIN - 1 : 0;
    int w =
        snprintf(path, sizeof path, "%.*s%s%.*s/%s", at, rp, skip ? origin : "",
                 dirlen - at - skip, rp + at + skip, ICX_DUCKAPI_LIB);
    rp += dirlen + (rp[dirlen] == ':');
    if (w < 0 || (size_t)w >= sizeof path)
      continue;
    w = snprintf(tried + used, n - used, "%s%s", used ? ", " : "", path);
    if (w > 0 && (size_t)w < n - used)
      used += (size_t)w;
    if (access(path, F_OK) != 0)
      continue;
    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char *e = dlerror();
      snprintf(why, whysize, "%s", e ? e : "unknown error");
    }
  }
  if (self)
    dlclose(self);
  return h;
}

/* see duckapi.h */
int icx_duckapi_load(char *err, size_t errsize) {
  if (lib)
    return 0;
  /* LD_LIBRARY_PATH, the RUNPATH and the system's directories, as for
  ** any library; then the RUNPATH again, in case the caller was not icx. */
  void *h = dlopen(ICX_DUCKAPI_LIB, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    char why[512], paths[1024];
    const char *e = dlerror();
    snprintf(why, sizeof why, "%s", e ? e : "unknown error");
    h = open_runpath(paths, sizeof paths, why, sizeof why);
    if (!h) {
      snprintf(err, errsize,
               "icx.duckdb: cannot load %s (tried %s%sthe system's library "
               "directories): %s; this icx was built with DuckDB and needs "
               "that library: reinstall it (`make install` puts it in "
               "PREFIX/lib/icx, `make deps` in build/duckdb/lib) or name its "
               "directory in LD_LIBRARY_PATH",
               ICX_DUCKAPI_LIB, paths, *paths ? ", then " : "", why);
      return -1;
    }
  }
  /* One lookup per function; a library without one of them is not the
  ** DuckDB icx was built against (duckdb.h's C API only grows). */
  struct icx_duckapi api;
  const char *missing = NULL;
#define ICX_DUCKAPI_LOOKUP(name)                                               \
  if (!missing && !(api.name = (__typeof__(api.name))dlsym(h, #name)))         \
    missing = #name;
  ICX_DUCKAPI_FUNCS(ICX_DUCKAPI_LOOKUP)
#undef ICX_DUCKAPI_LOOKUP
  if (missing) {
    struct link_map *m = NULL;
    dlinfo(h, RTLD_DI_LINKMAP, &m);
    snprintf(err, errsize,
             "icx.duckdb: %s has no %s: it is older than the DuckDB icx was "
             "built for; use that one (`make deps` fetches it)",
             m && *m->l_name ? m->l_name : ICX_DUCKAPI_LIB, missing);
    dlclose(h);
    return -1;
  }
  icx_duckapi = api;
  lib = h;
  return 0;
}

#endif
