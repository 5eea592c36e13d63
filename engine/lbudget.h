/*
** lbudget.h: the C side of icx.budget (engine/lbudget.c) for other C
** modules.
**
** A C function that does a script's work in one long call (the pattern
** matcher, engine/lpattern.c) cannot be stopped by the instruction hook,
** which only runs between Lua instructions. It charges its steps to the
** budget itself, so a backtracking pattern ends in the same error, at the
** script's line, as an endless loop does.
*/
#ifndef ICX_LBUDGET_H
#define ICX_LBUDGET_H

#include <lua.h>

/*
** Charges `steps` units of C work (each about one Lua instruction) to the
** script budget running now and returns whether one is running (0: the
** engine's own work, which no budget limits). Past the budget's
** instructions or seconds, or when it was spent already, it spends the
** budget and raises its error at the script's line, as the hook does.
** `what` names the work in the message ("the pattern of string.find").
** [-0, +0, v]
*/
int icx_budget_charge(lua_State *L, lua_Integer steps, const char *what);

/*
** Spends the running budget with `why` (a message without a location; the
** script's line is prefixed) and raises it as icx_budget_charge does: for
** a C function's own limit (the matcher's steps per call). Without a
** running budget it raises `why` as a plain error. [-0, +0, v]
*/
int icx_budget_fail(lua_State *L, const char *why);

#endif
