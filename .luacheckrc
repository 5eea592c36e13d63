-- luacheck configuration for `make lint`: Lua 5.4, as embedded in icx.
std = "lua54"
max_line_length = 120
-- Methods need not use self (a class's default answer ignores it).
self = false
-- Only Lua sources: examples/ also holds connections.yml.
include_files = { "lualib/**/*.lua", "scripts/**/*.lua", "examples/**/*.lua" }
