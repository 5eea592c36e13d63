-- icx's exit codes: one table, printed by `icx help` and written out in
-- README.md and man/icx.1 (tests/e2e/1305-exit-codes.t compares the three),
-- and the one order that says which code wins when assets or workspaces
-- end differently.
--
--   exitcodes.TABLE            {{codes = "0", text = "..."}, ...} in order
--   exitcodes.help() -> text   the "exit codes:" block of `icx help`
--   exitcodes.worst(a, b) -> code   the code a run with both outcomes exits with
local M = {}

M.TABLE = {
  { codes = "0", text = "success" },
  { codes = "1", text = "the run failed: an API, network or destination error (the message names the asset "
    .. "and why), also a closed output pipe (jsonl:- read by head)" },
  { codes = "2", text = "usage, configuration or script error: a bad option or file, a rejected token (run and "
    .. "check), an error in a script's code (named file:line), a script past its budget (instructions, seconds, "
    .. "heap, a backtracking pattern's steps) or yielding outside its own coroutines" },
  { codes = "3", text = "internal error (a bug in icx: please report it)" },
  { codes = "4", text = "an asset was skipped: another run holds it on the same destination (the others ran; "
    .. "see --wait)" },
  { codes = "5", text = "incomplete: Intercom counts records (or a conversation's parts) no walk found (named "
    .. "per asset)" },
  { codes = "6", text = "icx status --max-age: an asset's last success is older than the limit, or it never "
    .. "succeeded (each named on stderr)" },
  { codes = "130, 143", text = "stopped by SIGINT (Ctrl-C) or SIGTERM; committed pages are kept" },
}

-- Wrapped at 79 columns under its code, as the option help is.
function M.help()
  local out = { "exit codes:" }
  for _, row in ipairs(M.TABLE) do
    for _, line in ipairs(require("icx.text").hang("  " .. row.codes .. "  ", row.text)) do out[#out + 1] = line end
  end
  return table.concat(out, "\n") .. "\n"
end

-- From best to worst: a lock or a short count says less is wrong than a
-- failure, a script or configuration error needs a person, a bug most; a
-- signal ends everything.
local RANK = { [0] = 0, [4] = 1, [5] = 2, [1] = 3, [2] = 4, [3] = 5 }

local function rank(code)
  if code >= 128 then return 6 end
  return RANK[code] or 5
end

function M.worst(a, b)
  return rank(b) > rank(a) and b or a
end

return M
