/* icx.pattern: Lua's pattern matching, with a step count, so that a
** backtracking pattern in a script ends in an error at the script's line
** instead of holding the process inside one C call.
**
**   icx.pattern.lib       the four matchers, as the string library's:
**     lib.find(s, pattern [, init [, plain]])           as string.find
**     lib.match(s, pattern [, init])                    as string.match
**     lib.gmatch(s, pattern [, init])                   as string.gmatch
**     lib.gsub(s, pattern, repl [, n])                  as string.gsub
**   icx.pattern.limit([steps]) -> steps
**                         the matching steps one call may take while a
**                         script budget runs (default STEP_LIMIT); with an
**                         argument, sets it and returns the old one
**
** Results, captures, positions, counts and the errors of malformed
** patterns are Lua 5.4's own: the matcher below is a copy of lstrlib.c's.
** The sandbox (lualib/icx/sandbox.lua) puts these four in the string
** library, which the string metatable serves too, so `("x"):find(p)` in a
** script runs here.
**
** Every step of the matcher (a call of match, a character an expansion
** or a balance scans) is counted. Every CHARGE_EVERY steps the count is
** charged to the script budget running now (lbudget.h): past the budget's
** instructions or seconds the call raises the budget's error, and past
** `limit` steps in one call it raises
**   "script.lua:LINE: the pattern of string.find took more than N matching
**    steps in one call (a backtracking pattern?)"
** spending the budget, so a `pcall` around it cannot go on. With no budget
** running (icx's own code) nothing is limited, as in Lua.
**
** The matcher is derived from lstrlib.c of Lua 5.4.4, under the MIT licence:
**
**   Copyright (C) 1994-2022 Lua.org, PUC-Rio.
**
**   Permission is hereby granted, free of charge, to any person obtaining
**   a copy of this software and associated documentation files (the
**   "Software"), to deal in the Software without restriction, including
**   without limitation the rights to use, copy, modify, merge, publish,
**   distribute, sublicense, and/or sell copies of the Software, and to
**   permit persons to whom the Software is furnished to do so, subject to
**   the following conditions:
**
**   The above copyright notice and this permission notice shall be
**   included in all copies or substantial portions of the Software.
**
**   THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
**   EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
**   MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
**   IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY
**   CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
**   TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
**   SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
**
** Changed from Lua's: the step count (STEP), the MatchState members that
** keep it, the `limit` upvalue, and the names of the four entry points.
*/

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "lbudget.h"
#include "modules.h"

/* As Lua's: captures per pattern, and match's recursion depth. */
#define LUA_MAXCAPTURES 32
#define MAXCCALLS 200
#define CAP_UNFINISHED (-1)
#define CAP_POSITION (-2)
#define L_ESC '%'
#define SPECIALS "^$*+?.([%-"

/* Steps between two charges to the budget: a charge looks up the budget
** and the thread's CPU clock, so not every step. */
#define CHARGE_EVERY 4096
/* Matching steps one call may take under a script budget: about half a
** second, half the default budget's instructions; a fair pattern over a
** record takes a few per character. */
#define STEP_LIMIT 100000000

#define uchar(c) ((unsigned char)(c))

/* Lua's MatchState, with the step count. */
typedef struct MatchState {
  const char *src_init; /* init of source string */
  const char *src_end;  /* end ('\0') of source string */
  const char *p_end;    /* end ('\0') of pattern */
  lua_State *L;
  int matchdepth;      /* control for recursive depth (C stack overflow) */
  unsigned char level; /* total number of captures (finished or not) */
  struct {
    const char *init;
    ptrdiff_t len;
  } capture[LUA_MAXCAPTURES];
  lua_Integer steps; /* steps since the last charge */
  lua_Integer total; /* steps of this call */
  lua_Integer limit; /* the limit of one call under a budget */
  const char *what;  /* "the pattern of string.find", for messages */
} MatchState;

/* state for 'gmatch' */
typedef struct GMatchState {
  const char *src;       /* current position */
  const char *p;         /* pattern */
  const char *lastmatch; /* end of last match */
  MatchState ms;         /* match state */
} GMatchState;

static const char *match(MatchState *ms, const char *s, const char *p);

/* Charges the steps counted since the last charge; raises past the budget
** or the limit of one call.  [-0, +0, v] */
static void charge(MatchState *ms) {
  ms->total += ms->steps;
  lua_Integer steps = ms->steps;
  ms->steps = 0;
  if (icx_budget_charge(ms->L, steps, ms->what) && ms->total > ms->limit) {
    char why[240];
    snprintf(why, sizeof why,
             "%s took more than %lld matching steps in one call (a "
             "backtracking pattern?)",
             ms->what, (long long)ms->limit);
    icx_budget_fail(ms->L, why);
  }
}

/* Counts n steps of the matcher; charges them now and then. */
#define STEP(ms, n)                                                            \
  do {                                                                         \
    if (((ms)->steps += (n)) >= CHARGE_EVERY)                                  \
      charge(ms);                                                              \
  } while (0)

/* The limit of one call: the userdata upvalue all four functions share. */
static lua_Integer *limit_of(lua_State *L) {
  return lua_touserdata(L, lua_upvalueindex(1));
}

/* Lua's posrelatI: a relative initial position, clipped to [1, inf). */
static size_t posrelatI(lua_Integer pos, size_t len) {
  if (pos > 0)
    return (size_t)pos;
  else if (pos == 0)
    return 1;
  else if (pos < -(lua_Integer)len) /* inverted comparison */
    return 1;                       /* clip to 1 */
  else
    return len + (size_t)pos + 1;
}

/* Lua's check_capture: the index of capture %l, raising if invalid. */
static int check_capture(MatchState *ms, int l) {
  l -= '1';
  if (l < 0 || l >= ms->level || ms->capture[l].len == CAP_UNFINISHED)
    return luaL_error(ms->L, "invalid capture index %%%d", l + 1);
  return l;
}

/* Lua's capture_to_close: the innermost unfinished capture. */
static int capture_to_close(MatchState *ms) {
  int level = ms->level;
  for (level--; level >= 0; level--)
    if (ms->capture[level].len == CAP_UNFINISHED)
      return level;
  return luaL_error(ms->L, "invalid pattern capture");
}

/* Lua's classend: the end of the single-character class at p. */
static const char *classend(MatchState *ms, const char *p) {
  switch (*p++) {
  case L_ESC: {
    if (p == ms->p_end)
      luaL_error(ms->L, "malformed pattern (ends with '%%')");
    return p + 1;
  }
  case '[': {
    if (*p == '^')
      p++;
    do { /* look for a ']' */
      if (p == ms->p_end)
        luaL_error(ms->L, "malformed pattern (missing ']')");
      if (*(p++) == L_ESC && p < ms->p_end)
        p++; /* skip escapes (e.g. '%]') */
    } while (*p != ']');
    return p + 1;
  }
  default: {
    return p;
  }
  }
}

/* Lua's match_class: whether c is in class %cl. */
static int match_class(int c, int cl) {
  int res;
  switch (tolower(cl)) {
  case 'a':
    res = isalpha(c);
    break;
  case 'c':
    res = iscntrl(c);
    break;
  case 'd':
    res = isdigit(c);
    break;
  case 'g':
    res = isgraph(c);
    break;
  case 'l':
    res = islower(c);
    break;
  case 'p':
    res = ispunct(c);
    break;
  case 's':
    res = isspace(c);
    break;
  case 'u':
    res = isupper(c);
    break;
  case 'w':
    res = isalnum(c);
    break;
  case 'x':
    res = isxdigit(c);
    break;
  case 'z':
    res = (c == 0);
    break; /* deprecated option */
  default:
    return (cl == c);
  }
  return (islower(cl) ? res : !res);
}

/* Lua's matchbracketclass: whether c is in the set [...] at p..ec. */
static int matchbracketclass(int c, const char *p, const char *ec) {
  int sig = 1;
  if (*(p + 1) == '^') {
    sig = 0;
    p++; /* skip the '^' */
  }
  while (++p < ec) {
    if (*p == L_ESC) {
      p++;
      if (match_class(c, uchar(*p)))
        return sig;
    } else if ((*(p + 1) == '-') && (p + 2 < ec)) {
      p += 2;
      if (uchar(*(p - 2)) <= c && c <= uchar(*p))
        return sig;
    } else if (uchar(*p) == c)
      return sig;
  }
  return !sig;
}

/* Lua's singlematch: whether the character at s matches the class at p. */
static int singlematch(MatchState *ms, const char *s, const char *p,
                       const char *ep) {
  if (s >= ms->src_end)
    return 0;
  else {
    int c = uchar(*s);
    switch (*p) {
    case '.':
      return 1; /* matches any char */
    case L_ESC:
      return match_class(c, uchar(*(p + 1)));
    case '[':
      return matchbracketclass(c, p, ep - 1);
    default:
      return (uchar(*p) == c);
    }
  }
}

/* Lua's matchbalance (%bxy); each character scanned is a step. */
static const char *matchbalance(MatchState *ms, const char *s, const char *p) {
  if (p >= ms->p_end - 1)
    luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
  if (*s != *p)
    return NULL;
  else {
    int b = *p;
    int e = *(p + 1);
    int cont = 1;
    while (++s < ms->src_end) {
      STEP(ms, 1);
      if (*s == e) {
        if (--cont == 0)
          return s + 1;
      } else if (*s == b)
        cont++;
    }
  }
  return NULL; /* string ends out of balance */
}

/* Lua's max_expand (greedy * and +); each character taken is a step, and
** each retry a call of match. */
static const char *max_expand(MatchState *ms, const char *s, const char *p,
                              const char *ep) {
  ptrdiff_t i = 0; /* counts maximum expand for item */
  while (singlematch(ms, s + i, p, ep)) {
    STEP(ms, 1);
    i++;
  }
  /* keeps trying to match with the maximum repetitions */
  while (i >= 0) {
    const char *res = match(ms, (s + i), ep + 1);
    if (res)
      return res;
    i--; /* else didn't match; reduce 1 repetition to try again */
  }
  return NULL;
}

/* Lua's min_expand (lazy -); each try is a call of match. */
static const char *min_expand(MatchState *ms, const char *s, const char *p,
                              const char *ep) {
  for (;;) {
    const char *res = match(ms, s, ep + 1);
    if (res != NULL)
      return res;
    else if (singlematch(ms, s, p, ep))
      s++; /* try with one more repetition */
    else
      return NULL;
  }
}

/* Lua's start_capture. */
static const char *start_capture(MatchState *ms, const char *s, const char *p,
                                 int what) {
  const char *res;
  int level = ms->level;
  if (level >= LUA_MAXCAPTURES)
    luaL_error(ms->L, "too many captures");
  ms->capture[level].init = s;
  ms->capture[level].len = what;
  ms->level = level + 1;
  if ((res = match(ms, s, p)) == NULL) /* match failed? */
    ms->level--;                       /* undo capture */
  return res;
}

/* Lua's end_capture. */
static const char *end_capture(MatchState *ms, const char *s, const char *p) {
  int l = capture_to_close(ms);
  const char *res;
  ms->capture[l].len = s - ms->capture[l].init; /* close capture */
  if ((res = match(ms, s, p)) == NULL)          /* match failed? */
    ms->capture[l].len = CAP_UNFINISHED;        /* undo capture */
  return res;
}

/* Lua's match_capture (%1-%9); a long capture compared costs steps. */
static const char *match_capture(MatchState *ms, const char *s, int l) {
  size_t len;
  l = check_capture(ms, l);
  len = ms->capture[l].len;
  STEP(ms, (lua_Integer)(len / 64));
  if ((size_t)(ms->src_end - s) >= len &&
      memcmp(ms->capture[l].init, s, len) == 0)
    return s + len;
  else
    return NULL;
}

/* Lua's match: the end of the match of p at s, or NULL. Each call and
** each turn of its loop (a tail call in Lua's terms) is a step. */
static const char *match(MatchState *ms, const char *s, const char *p) {
  if (ms->matchdepth-- == 0)
    luaL_error(ms->L, "pattern too complex");
init: /* using goto's to optimize tail recursion */
  STEP(ms, 1);
  if (p != ms->p_end) { /* end of pattern? */
    switch (*p) {
    case '(': {            /* start capture */
      if (*(p + 1) == ')') /* position capture? */
        s = start_capture(ms, s, p + 2, CAP_POSITION);
      else
        s = start_capture(ms, s, p + 1, CAP_UNFINISHED);
      break;
    }
    case ')': { /* end capture */
      s = end_capture(ms, s, p + 1);
      break;
    }
    case '$': {
      if ((p + 1) != ms->p_end) /* is the '$' the last char in pattern? */
        goto dflt;              /* no; go to default */
      s = (s == ms->src_end) ? s : NULL; /* check end of string */
      break;
    }
    case L_ESC: { /* escaped sequences not in the format class[*+?-]? */
      switch (*(p + 1)) {
      case 'b': { /* balanced string? */
        s = matchbalance(ms, s, p + 2);
        if (s != NULL) {
          p += 4;
          goto init; /* return match(ms, s, p + 4); */
        }            /* else fail (s == NULL) */
        break;
      }
      case 'f': { /* frontier? */
        const char *ep;
        char previous;
        p += 2;
        if (*p != '[')
          luaL_error(ms->L, "missing '[' after '%%f' in pattern");
        ep = classend(ms, p); /* points to what is next */
        previous = (s == ms->src_init) ? '\0' : *(s - 1);
        if (!matchbracketclass(uchar(previous), p, ep - 1) &&
            matchbracketclass(uchar(*s), p, ep - 1)) {
          p = ep;
          goto init; /* return match(ms, s, ep); */
        }
        s = NULL; /* match failed */
        break;
      }
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7':
      case '8':
      case '9': { /* capture results (%0-%9)? */
        s = match_capture(ms, s, uchar(*(p + 1)));
        if (s != NULL) {
          p += 2;
          goto init; /* return match(ms, s, p + 2) */
        }
        break;
      }
      default:
        goto dflt;
      }
      break;
    }
    default:
    dflt : {                            /* pattern class plus optional suffix */
      const char *ep = classend(ms, p); /* points to optional suffix */
      /* does not match at least once? */
      if (!singlematch(ms, s, p, ep)) {
        if (*ep == '*' || *ep == '?' || *ep == '-') { /* accept empty? */
          p = ep + 1;
          goto init;   /* return match(ms, s, ep + 1); */
        } else         /* '+' or no suffix */
          s = NULL;    /* fail */
      } else {         /* matched once */
        switch (*ep) { /* handle optional suffix */
        case '?': {    /* optional */
          const char *res;
          if ((res = match(ms, s + 1, ep + 1)) != NULL)
            s = res;
          else {
            p = ep + 1;
            goto init; /* else return match(ms, s, ep + 1); */
          }
          break;
        }
        case '+': /* 1 or more repetitions */
          s++;    /* 1 match already done */
          /* FALLTHROUGH */
        case '*': /* 0 or more repetitions */
          s = max_expand(ms, s, p, ep);
          break;
        case '-': /* 0 or more repetitions (minimum) */
          s = min_expand(ms, s, p, ep);
          break;
        default: /* no suffix */
          s++;
          p = ep;
          goto init; /* return match(ms, s + 1, ep); */
        }
      }
      break;
    }
    }
  }
  ms->matchdepth++;
  return s;
}

/* Lua's lmemfind: a plain search (memchr and memcmp, linear). */
static const char *lmemfind(const char *s1, size_t l1, const char *s2,
                            size_t l2) {
  if (l2 == 0)
    return s1; /* empty strings are everywhere */
  else if (l2 > l1)
    return NULL; /* avoids a negative 'l1' */
  else {
    const char *init; /* to search for a '*s2' inside 's1' */
    l2--;             /* 1st char will be checked by 'memchr' */
    l1 = l1 - l2;     /* 's2' cannot be found after that */
    while (l1 > 0 && (init = (const char *)memchr(s1, *s2, l1)) != NULL) {
      init++; /* 1st char is already checked */
      if (memcmp(init, s2 + 1, l2) == 0)
        return init - 1;
      else { /* correct 'l1' and 's1' to try again */
        l1 -= init - s1;
        s1 = init;
      }
    }
    return NULL; /* not found */
  }
}

/* Lua's get_onecapture: the i-th capture's length and start in *cap, or
** CAP_POSITION with the position pushed.  [-0, +(0|1), v] */
static size_t get_onecapture(MatchState *ms, int i, const char *s,
                             const char *e, const char **cap) {
  if (i >= ms->level) {
    if (i != 0)
      luaL_error(ms->L, "invalid capture index %%%d", i + 1);
    *cap = s;
    return e - s;
  } else {
    ptrdiff_t capl = ms->capture[i].len;
    *cap = ms->capture[i].init;
    if (capl == CAP_UNFINISHED)
      luaL_error(ms->L, "unfinished capture");
    else if (capl == CAP_POSITION)
      lua_pushinteger(ms->L, (ms->capture[i].init - ms->src_init) + 1);
    return capl;
  }
}

/* Lua's push_onecapture: pushes the i-th capture.  [-0, +1, v] */
static void push_onecapture(MatchState *ms, int i, const char *s,
                            const char *e) {
  const char *cap;
  ptrdiff_t l = get_onecapture(ms, i, s, e, &cap);
  if (l != CAP_POSITION)
    lua_pushlstring(ms->L, cap, l);
  /* else position was already pushed */
}

/* Lua's push_captures: pushes every capture (or the whole match); returns
** how many.  [-0, +n, v] */
static int push_captures(MatchState *ms, const char *s, const char *e) {
  int i;
  int nlevels = (ms->level == 0 && s) ? 1 : ms->level;
  luaL_checkstack(ms->L, nlevels, "too many captures");
  for (i = 0; i < nlevels; i++)
    push_onecapture(ms, i, s, e);
  return nlevels; /* number of strings pushed */
}

/* Lua's nospecials: whether the pattern has no special characters. */
static int nospecials(const char *p, size_t l) {
  size_t upto = 0;
  do {
    if (strpbrk(p + upto, SPECIALS))
      return 0;                   /* pattern has a special character */
    upto += strlen(p + upto) + 1; /* may have more after \0 */
  } while (upto <= l);
  return 1; /* no special chars found */
}

/* Lua's prepstate, and the count of a new call. */
static void prepstate(MatchState *ms, lua_State *L, const char *s, size_t ls,
                      const char *p, size_t lp, const char *what) {
  ms->L = L;
  ms->matchdepth = MAXCCALLS;
  ms->src_init = s;
  ms->src_end = s + ls;
  ms->p_end = p + lp;
  ms->steps = 0;
  ms->total = 0;
  ms->limit = *limit_of(L);
  ms->what = what;
}

/* Lua's reprepstate. */
static void reprepstate(MatchState *ms) {
  ms->level = 0;
}

/* Lua's str_find_aux: find (find = 1) or match.  [-0, +n, v] */
static int find_aux(lua_State *L, int find) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  size_t init = posrelatI(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init > ls) {    /* start after string's end? */
    luaL_pushfail(L); /* cannot find anything */
    return 1;
  }
  /* explicit request or no special characters? */
  if (find && (lua_toboolean(L, 4) || nospecials(p, lp))) {
    /* do a plain search */
    const char *s2 = lmemfind(s + init, ls - init, p, lp);
    if (s2) {
      lua_pushinteger(L, (s2 - s) + 1);
      lua_pushinteger(L, (s2 - s) + lp);
      return 2;
    }
  } else {
    MatchState ms;
    const char *s1 = s + init;
    int anchor = (*p == '^');
    if (anchor) {
      p++;
      lp--; /* skip anchor character */
    }
    prepstate(&ms, L, s, ls, p, lp,
              find ? "the pattern of string.find"
                   : "the pattern of string.match");
    do {
      const char *res;
      reprepstate(&ms);
      if ((res = match(&ms, s1, p)) != NULL) {
        if (find) {
          lua_pushinteger(L, (s1 - s) + 1); /* start */
          lua_pushinteger(L, res - s);      /* end */
          return push_captures(&ms, NULL, 0) + 2;
        } else
          return push_captures(&ms, s1, res);
      }
    } while (s1++ < ms.src_end && !anchor);
  }
  luaL_pushfail(L); /* not found */
  return 1;
}

/* Lua's gmatch_aux: the next match of a gmatch iterator; its upvalues are
** the limit, the string, the pattern and the GMatchState.  [-0, +n, v] */
static int gmatch_aux(lua_State *L) {
  GMatchState *gm = (GMatchState *)lua_touserdata(L, lua_upvalueindex(4));
  const char *src;
  gm->ms.L = L;
  gm->ms.steps = 0;
  gm->ms.total = 0;
  for (src = gm->src; src <= gm->ms.src_end; src++) {
    const char *e;
    reprepstate(&gm->ms);
    if ((e = match(&gm->ms, src, gm->p)) != NULL && e != gm->lastmatch) {
      gm->src = gm->lastmatch = e;
      return push_captures(&gm->ms, src, e);
    }
  }
  return 0; /* not found */
}

/* Lua's add_s: appends a replacement string with its %n.  [-0, +0, v] */
static void add_s(MatchState *ms, luaL_Buffer *b, const char *s,
                  const char *e) {
  size_t l;
  lua_State *L = ms->L;
  const char *news = lua_tolstring(L, 3, &l);
  const char *p;
  while ((p = (char *)memchr(news, L_ESC, l)) != NULL) {
    luaL_addlstring(b, news, p - news);
    p++;             /* skip ESC */
    if (*p == L_ESC) /* '%%' */
      luaL_addchar(b, *p);
    else if (*p == '0') /* '%0' */
      luaL_addlstring(b, s, e - s);
    else if (isdigit(uchar(*p))) { /* '%n' */
      const char *cap;
      ptrdiff_t resl = get_onecapture(ms, *p - '1', s, e, &cap);
      if (resl == CAP_POSITION)
        luaL_addvalue(b); /* add position to accumulated result */
      else
        luaL_addlstring(b, cap, resl);
    } else
      luaL_error(L, "invalid use of '%c' in replacement string", L_ESC);
    l -= p + 1 - news;
    news = p + 1;
  }
  luaL_addlstring(b, news, l);
}

/* Lua's add_value: appends the replacement of one match; returns whether
** the subject changed.  [-0, +0, e] */
static int add_value(MatchState *ms, luaL_Buffer *b, const char *s,
                     const char *e, int tr) {
  lua_State *L = ms->L;
  switch (tr) {
  case LUA_TFUNCTION: { /* call the function */
    int n;
    lua_pushvalue(L, 3);         /* push the function */
    n = push_captures(ms, s, e); /* all captures as arguments */
    lua_call(L, n, 1);           /* call it */
    break;
  }
  case LUA_TTABLE: {              /* index the table */
    push_onecapture(ms, 0, s, e); /* first capture is the index */
    lua_gettable(L, 3);
    break;
  }
  default: {            /* LUA_TNUMBER or LUA_TSTRING */
    add_s(ms, b, s, e); /* add value to the buffer */
    return 1;           /* something changed */
  }
  }
  if (!lua_toboolean(L, -1)) {    /* nil or false? */
    lua_pop(L, 1);                /* remove value */
    luaL_addlstring(b, s, e - s); /* keep original text */
    return 0;                     /* no changes */
  } else if (!lua_isstring(L, -1))
    return luaL_error(L, "invalid replacement value (a %s)",
                      luaL_typename(L, -1));
  else {
    luaL_addvalue(b); /* add result to accumulator */
    return 1;         /* something changed */
  }
}

/* lib.find(s, pattern [, init [, plain]]) */
static int pattern_find(lua_State *L) {
  return find_aux(L, 1);
}

/* lib.match(s, pattern [, init]) */
static int pattern_match(lua_State *L) {
  return find_aux(L, 0);
}

/* lib.gmatch(s, pattern [, init]): Lua's gmatch; the iterator
** keeps the strings and the limit as upvalues. */
static int pattern_gmatch(lua_State *L) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  size_t init = posrelatI(luaL_optinteger(L, 3, 1), ls) - 1;
  GMatchState *gm;
  lua_settop(L, 2); /* keep strings on closure to avoid being collected */
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  gm = (GMatchState *)lua_newuserdatauv(L, sizeof(GMatchState), 0);
  if (init > ls)   /* start after string's end? */
    init = ls + 1; /* avoid overflows in 's + init' */
  prepstate(&gm->ms, L, s, ls, p, lp, "the pattern of string.gmatch");
  gm->src = s + init;
  gm->p = p;
  gm->lastmatch = NULL;
  lua_pushcclosure(L, gmatch_aux, 4);
  return 1;
}

/* lib.gsub(s, pattern, repl [, n]): Lua's str_gsub. */
static int pattern_gsub(lua_State *L) {
  size_t srcl, lp;
  const char *src = luaL_checklstring(L, 1, &srcl);    /* subject */
  const char *p = luaL_checklstring(L, 2, &lp);        /* pattern */
  const char *lastmatch = NULL;                        /* end of last match */
  int tr = lua_type(L, 3);                             /* replacement type */
  lua_Integer max_s = luaL_optinteger(L, 4, srcl + 1); /* max replacements */
  int anchor = (*p == '^');
  lua_Integer n = 0; /* replacement count */
  int changed = 0;   /* change flag */
  MatchState ms;
  luaL_Buffer b;
  luaL_argexpected(L,
                   tr == LUA_TNUMBER || tr == LUA_TSTRING ||
                       tr == LUA_TFUNCTION || tr == LUA_TTABLE,
                   3, "string/function/table");
  luaL_buffinit(L, &b);
  if (anchor) {
    p++;
    lp--; /* skip anchor character */
  }
  prepstate(&ms, L, src, srcl, p, lp, "the pattern of string.gsub");
  while (n < max_s) {
    const char *e;
    reprepstate(&ms); /* (re)prepare state for new match */
    if ((e = match(&ms, src, p)) != NULL && e != lastmatch) { /* match? */
      n++;
      changed = add_value(&ms, &b, src, e, tr) | changed;
      src = lastmatch = e;
    } else if (src < ms.src_end) /* otherwise, skip one character */
      luaL_addchar(&b, *src++);
    else
      break; /* end of subject */
    if (anchor)
      break;
  }
  if (!changed)          /* no changes? */
    lua_pushvalue(L, 1); /* return original string */
  else {                 /* something changed */
    luaL_addlstring(&b, src, ms.src_end - src);
    luaL_pushresult(&b); /* create and return new string */
  }
  lua_pushinteger(L, n); /* number of substitutions */
  return 2;
}

/* icx.pattern.limit([steps]) -> steps */
static int pattern_limit(lua_State *L) {
  lua_Integer *limit = limit_of(L);
  lua_Integer old = *limit;
  if (!lua_isnoneornil(L, 1)) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n > 0, 1, "must be > 0");
    *limit = n;
  }
  lua_pushinteger(L, old);
  return 1;
}

static const luaL_Reg pattern_lib[] = {{"find", pattern_find},
                                       {"match", pattern_match},
                                       {"gmatch", pattern_gmatch},
                                       {"gsub", pattern_gsub},
                                       {NULL, NULL}};

static const luaL_Reg pattern_funcs[] = {{"limit", pattern_limit},
                                         {NULL, NULL}};

/* require "icx.pattern": the module table; every function shares the
** limit as its first upvalue. The four matchers sit one table down, in
** `lib`, so that an argument error names them as Lua names a library
** function, by where it finds them in package.loaded: 'string.find' once
** the sandbox has put them there, not 'icx.pattern.find'. */
int luaopen_icx_pattern(lua_State *L) {
  luaL_newlibtable(L, pattern_funcs);
  lua_Integer *limit = lua_newuserdatauv(L, sizeof *limit, 0);
  *limit = STEP_LIMIT;
  luaL_newlibtable(L, pattern_lib);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, pattern_lib, 1);
  lua_setfield(L, -3, "lib");
  luaL_setfuncs(L, pattern_funcs, 1);
  return 1;
}
