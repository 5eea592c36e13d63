-- luacheck configuration for `make lint`: Lua 5.4, as embedded in icx.
std = "lua54"
max_line_length = 120
-- Only Lua sources: examples/ also holds connections.yml.
include_files = { "lualib/**/*.lua", "scripts/**/*.lua", "examples/**/*.lua", "tests/lua/**/*.lua" }
