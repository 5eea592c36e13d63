/* tests/fuzz/fuzz_lua.h: the shared half of the Lua-driven fuzz harnesses.
 *
 * One icx Lua state per fuzzing process, created as engine/main.c creates it
 * (icx_runtime_new: counting allocator, trimmed os, preloaded C modules, the
 * lualib compiled into the binary). A harness hands over Lua source that
 * returns a function; each input is passed to that function as a string.
 *
 * The verdict is the Lua function's: it returns for an input icx handled
 * (accepted it, or refused it with a proper icx error) and raises for a bug
 * (a bare Lua error from lualib, a wrong refusal, a broken invariant). A
 * raise aborts, so libFuzzer records the input as a crash; the sanitizers
 * catch the C side.
 */
#ifndef ICX_FUZZ_LUA_H
#define ICX_FUZZ_LUA_H

#include <stddef.h>
#include <stdint.h>

/* Runs the harness function (compiled from `src` on first use, `name` for
 * messages) on one input; aborts when it raises. */
void fuzz_lua_run(const char *name, const char *src, const uint8_t *data,
                  size_t size);

#endif
