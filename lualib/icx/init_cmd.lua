-- `icx init [PATH]`: a first connections.yml, commented, that works as soon
-- as INTERCOM_ACCESS_TOKEN is exported. The token is never in the file (an
-- env_var template reads it when icx runs), so the file can be committed.
-- An existing file is never overwritten: it may hold a workspace's whole
-- setup, and init is what a new user types twice.
--
--   init_cmd.TEMPLATE                  the file's text
--   init_cmd.path(arg) -> path         PATH, else $ICX_CONFIG, else connections.yml
--   init_cmd.write(path) -> true | raises (usage: the file exists; config: cannot write)
local errors = require "icx.errors"

local M = {}

M.TEMPLATE = [[
# connections.yml: the Intercom workspaces icx reads (written by icx init).
# icx finds it in the current directory, or where --config FILE or
# $ICX_CONFIG says. Check it with `icx check`; `man icx` has every key.
connections:
  intercom:
    # One entry per workspace. `name` keys its cursors and run history in
    # the destination and is what --connection takes: write it plainly and
    # do not rename it later (a new name starts a full load).
    - name: "my_intercom"
      # The access token of your Intercom app (Developer Hub > your app >
      # Configure > Authentication). Keep it out of this file: icx reads
      # the environment variable when it starts.
      #   export INTERCOM_ACCESS_TOKEN=...
      access_token: "{{ env_var('INTERCOM_ACCESS_TOKEN') }}"
      # Where the workspace is hosted: us (api.intercom.io), eu or au.
      region: "us"
      # Optional:
      # destination: "icx.db"           # where rows land without --dest
      #                                 # (a path, postgresql://..., jsonl:DIR)
      # rate_limit: 166                 # requests per 10 s; lower it to leave
      #                                 # room for the workspace's other apps
      # base_url: "http://127.0.0.1:8080"   # instead of region: a proxy, or
      #                                 # the simulator (see README, Quick start)
]]

function M.path(arg)
  if arg and arg ~= "" then return arg end
  local env = os.getenv("ICX_CONFIG")
  if env and env ~= "" then return env end
  return "connections.yml"
end

function M.write(path)
  local f = io.open(path, "rb")
  if f then
    f:close()
    errors.raise("usage", ("%s already exists: icx init never overwrites a file; edit it, or give another PATH "
      .. "(icx init PATH)"):format(path))
  end
  -- A file created between the check and the open would be replaced; init
  -- is a person's one-off command, not a race to guard against.
  local out, err = io.open(path, "wb")
  if not out then
    errors.raise("config", ("cannot write %s: %s"):format(path, (tostring(err):gsub("^[^:]*: ", ""))))
  end
  local ok, werr = out:write(M.TEMPLATE)
  out:close()
  if not ok then errors.raise("config", ("cannot write %s: %s"):format(path, tostring(werr))) end
  return true
end

return M
