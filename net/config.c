/*
 * config.c: run the cluster file in a Lua sandbox and check every key it sets.
 *
 * The chunk gets a fresh table as _ENV whose metatable falls back to the (trimmed) standard
 * globals, so the script can call math or string functions, while the table itself holds exactly
 * what the script assigned: walking it finds every key, known or not.
 */
#define _POSIX_C_SOURCE 200809L
#include "net/config.h"

#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "net/uv_env.h"

void net_config_defaults(net_config_t *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->cluster, sizeof(c->cluster), "dynamo");
    dyn_node_config_default(&c->node);
    c->ring = (dyn_ring_config_t){.strategy = DYN_STRATEGY_S3, .tokens_per_node = 8,
                                  .partitions = 64, .seed = 1};
    c->sync = NET_SYNC_EVERY_WRITE;
    c->sync_interval_ms = 1000;
    c->map_size_mb = 1024;
    c->senders_max = 65536; /* about 12 MB of replay windows, touched only as used */
    c->clients_max = NET_UV_CLIENTS_DEFAULT;
    c->socket_buffer_kb = 4096;
    c->stats_interval_ms = 0;
    c->log_level = NET_LOG_INFO;
}

void net_config_free(net_config_t *c)
{
    free(c->members);
    c->members = NULL;
    c->member_count = 0;
}

size_t net_config_first_members(const net_config_t *c, uint32_t *ids)
{
    size_t count = 0;
    for (size_t i = 0; i < c->member_count; i++)
        if (!c->members[i].spare) {
            if (ids)
                ids[count] = c->members[i].id;
            count++;
        }
    return count;
}

const net_config_member_t *net_config_member(const net_config_t *c, uint32_t id)
{
    for (size_t i = 0; i < c->member_count; i++)
        if (c->members[i].id == id)
            return &c->members[i];
    return NULL;
}

uint8_t net_config_parse_quorum(const char *text, uint8_t n)
{
    if (strcmp(text, "one") == 0)
        return 1;
    if (strcmp(text, "quorum") == 0)
        return (uint8_t)(n / 2 + 1);
    if (strcmp(text, "all") == 0)
        return n;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || !*text || *end || v < 1 || v > DYN_N_MAX)
        return 0;
    return (uint8_t)v;
}

typedef struct loader {
    lua_State *L;
    const char *path;
    char *err;
    size_t errlen;
} loader_t;

/* An integer key in [lo, hi]; the value is at the top of the stack. */
static int get_int(loader_t *ld, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    lua_State *L = ld->L;
    int isnum = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    if (!isnum || lua_type(L, -1) != LUA_TNUMBER) {
        snprintf(ld->err, ld->errlen, "%s: '%s' must be an integer, got %s", ld->path, key,
                 lua_type(L, -1) == LUA_TNUMBER ? "a fraction" : luaL_typename(L, -1));
        return DYN_EINVAL;
    }
    if (v < lo || v > hi) {
        snprintf(ld->err, ld->errlen, "%s: '%s' must be between %lld and %lld, got %lld",
                 ld->path, key, (long long)lo, (long long)hi, (long long)v);
        return DYN_EINVAL;
    }
    *out = v;
    return DYN_OK;
}

static int get_bool(loader_t *ld, const char *key, uint8_t *out)
{
    if (lua_type(ld->L, -1) != LUA_TBOOLEAN) {
        snprintf(ld->err, ld->errlen, "%s: '%s' must be true or false, got %s", ld->path, key,
                 luaL_typename(ld->L, -1));
        return DYN_EINVAL;
    }
    *out = (uint8_t)lua_toboolean(ld->L, -1);
    return DYN_OK;
}

static int get_string(loader_t *ld, const char *key, char *out, size_t size)
{
    if (lua_type(ld->L, -1) != LUA_TSTRING) {
        snprintf(ld->err, ld->errlen, "%s: '%s' must be a string, got %s", ld->path, key,
                 luaL_typename(ld->L, -1));
        return DYN_EINVAL;
    }
    size_t len;
    const char *s = lua_tolstring(ld->L, -1, &len);
    if (len == 0 || len >= size || strlen(s) != len) {
        snprintf(ld->err, ld->errlen, "%s: '%s' must be a non-empty string of at most %zu bytes",
                 ld->path, key, size - 1);
        return DYN_EINVAL;
    }
    memcpy(out, s, len + 1);
    return DYN_OK;
}

/* One of `names` (NULL-terminated); *out is its index. */
static int get_choice(loader_t *ld, const char *key, const char *const *names, int *out)
{
    char text[64];
    int rc = get_string(ld, key, text, sizeof(text));
    if (rc != DYN_OK)
        return rc;
    for (int i = 0; names[i]; i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = i;
            return DYN_OK;
        }
    }
    size_t used = (size_t)snprintf(ld->err, ld->errlen, "%s: '%s' must be one of", ld->path, key);
    for (int i = 0; names[i] && used < ld->errlen; i++)
        used += (size_t)snprintf(ld->err + used, ld->errlen - used, "%s \"%s\"", i ? "," : "",
                                 names[i]);
    if (used < ld->errlen)
        snprintf(ld->err + used, ld->errlen - used, "; got \"%s\"", text);
    return DYN_EINVAL;
}

static int get_members(loader_t *ld, net_config_t *c)
{
    lua_State *L = ld->L;
    if (lua_type(L, -1) != LUA_TTABLE) {
        snprintf(ld->err, ld->errlen, "%s: 'nodes' must be a list like { {id = 1, addr = "
                 "\"127.0.0.1:7001\"}, ... }", ld->path);
        return DYN_EINVAL;
    }
    lua_Integer count = luaL_len(L, -1);
    if (count < 1 || count > (lua_Integer)NET_CONFIG_MEMBERS_MAX) {
        snprintf(ld->err, ld->errlen, "%s: 'nodes' must list 1 to %u members, got %lld",
                 ld->path, NET_CONFIG_MEMBERS_MAX, (long long)count);
        return DYN_EINVAL;
    }
    c->members = calloc((size_t)count, sizeof(*c->members));
    if (!c->members) {
        snprintf(ld->err, ld->errlen, "out of memory");
        return DYN_ENOMEM;
    }
    for (lua_Integer i = 1; i <= count; i++) {
        net_config_member_t *m = &c->members[c->member_count];
        char what[64];
        lua_geti(L, -1, i);
        if (lua_type(L, -1) != LUA_TTABLE) {
            snprintf(ld->err, ld->errlen, "%s: nodes[%lld] must be a table {id = N, addr = "
                     "\"HOST:PORT\"}", ld->path, (long long)i);
            return DYN_EINVAL;
        }
        /* Only id, addr, zone and spare: a misspelt field is an error here too. */
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            if (!k || (strcmp(k, "id") != 0 && strcmp(k, "addr") != 0 &&
                       strcmp(k, "zone") != 0 && strcmp(k, "spare") != 0)) {
                snprintf(ld->err, ld->errlen, "%s: nodes[%lld] has an unknown field '%s' "
                         "(only id, addr, zone and spare)", ld->path, (long long)i,
                         k ? k : "?");
                lua_pop(L, 2);
                return DYN_EINVAL;
            }
            lua_pop(L, 1);
        }
        snprintf(what, sizeof(what), "nodes[%lld].zone", (long long)i);
        lua_getfield(L, -1, "zone");
        if (!lua_isnil(L, -1)) {
            int64_t zone;
            int zrc = get_int(ld, what, 0, UINT16_MAX, &zone);
            if (zrc != DYN_OK) {
                lua_pop(L, 2);
                return zrc;
            }
            m->zone = (uint16_t)zone;
        }
        lua_pop(L, 1);
        snprintf(what, sizeof(what), "nodes[%lld].spare", (long long)i);
        lua_getfield(L, -1, "spare");
        if (!lua_isnil(L, -1)) {
            int src = get_bool(ld, what, &m->spare);
            if (src != DYN_OK) {
                lua_pop(L, 2);
                return src;
            }
        }
        lua_pop(L, 1);
        int64_t id;
        snprintf(what, sizeof(what), "nodes[%lld].id", (long long)i);
        lua_getfield(L, -1, "id");
        int rc = get_int(ld, what, 1, NET_UV_CLIENT_BASE - 1, &id);
        lua_pop(L, 1);
        if (rc != DYN_OK)
            return rc;
        m->id = (uint32_t)id;
        snprintf(what, sizeof(what), "nodes[%lld].addr", (long long)i);
        lua_getfield(L, -1, "addr");
        rc = get_string(ld, what, m->addr_text, sizeof(m->addr_text));
        lua_pop(L, 1);
        if (rc != DYN_OK)
            return rc;
        char perr[160];
        if (net_uv_parse_addr(m->addr_text, &m->addr, perr, sizeof(perr)) != DYN_OK) {
            snprintf(ld->err, ld->errlen, "%s: %s: %s", ld->path, what, perr);
            return DYN_EINVAL;
        }
        lua_pop(L, 1);
        for (size_t j = 0; j < c->member_count; j++) {
            if (c->members[j].id == m->id) {
                snprintf(ld->err, ld->errlen, "%s: node id %u appears twice in 'nodes'",
                         ld->path, m->id);
                return DYN_EINVAL;
            }
            if (strcmp(c->members[j].addr_text, m->addr_text) == 0) {
                snprintf(ld->err, ld->errlen, "%s: address %s appears twice in 'nodes'",
                         ld->path, m->addr_text);
                return DYN_EINVAL;
            }
        }
        c->member_count++;
    }
    return DYN_OK;
}

static const char *const sync_names[] = {"every_write", "interval", "none", NULL};
static const char *const sync_writes_names[] = {"none", "one", "all", NULL};
static const char *const resolution_names[] = {"vclock", "lww", NULL};
static const char *const strategy_names[] = {"S1", "S2", "S3", NULL};
static const char *const level_names[] = {"info", "warn", "error", NULL};

/* Apply the key at stack -2 with its value at -1. */
static int apply(loader_t *ld, net_config_t *c, const char *key)
{
    int64_t v = 0;
    int choice = 0;
    int rc;
    const int64_t ms_max = INT64_C(86400000) * 365;
#define INT_KEY(name, lo, hi, target)                                                             \
    if (strcmp(key, name) == 0) {                                                                 \
        rc = get_int(ld, key, lo, hi, &v);                                                        \
        if (rc == DYN_OK)                                                                         \
            target;                                                                               \
        return rc;                                                                                \
    }
    if (strcmp(key, "cluster") == 0)
        return get_string(ld, key, c->cluster, sizeof(c->cluster));
    if (strcmp(key, "listen") == 0)
        return get_string(ld, key, c->listen, sizeof(c->listen));
    if (strcmp(key, "data_dir") == 0)
        return get_string(ld, key, c->data_dir, sizeof(c->data_dir));
    if (strcmp(key, "key_file") == 0)
        return get_string(ld, key, c->key_file, sizeof(c->key_file));
    if (strcmp(key, "client_key_file") == 0)
        return get_string(ld, key, c->client_key_file, sizeof(c->client_key_file));
    if (strcmp(key, "nodes") == 0)
        return get_members(ld, c);
    INT_KEY("node_id", 1, NET_UV_CLIENT_BASE - 1, c->node_id = (uint32_t)v)
    INT_KEY("n", 1, DYN_N_MAX, c->node.n = (uint8_t)v)
    INT_KEY("r", 1, DYN_N_MAX, c->node.r = (uint8_t)v)
    INT_KEY("w", 1, DYN_N_MAX, c->node.w = (uint8_t)v)
    INT_KEY("request_timeout_ms", 1, ms_max, c->node.request_timeout_us = (uint64_t)v * 1000)
    INT_KEY("partitions", 1, DYN_RING_TOKENS_MAX, c->ring.partitions = (uint32_t)v)
    INT_KEY("tokens_per_node", 1, DYN_RING_TOKENS_MAX, c->ring.tokens_per_node = (uint32_t)v)
    INT_KEY("ring_seed", 0, INT64_MAX, c->ring.seed = (uint64_t)v)
    INT_KEY("sync_interval_ms", 1, ms_max, c->sync_interval_ms = (uint32_t)v)
    INT_KEY("map_size_mb", 1, INT64_C(1) << 24, c->map_size_mb = (uint64_t)v)
    INT_KEY("vclock_threshold", 1, DYN_VCLOCK_MAX, c->node.vclock_threshold = (uint32_t)v)
    INT_KEY("siblings_max", 1, DYN_SIBLINGS_MAX, c->node.siblings_max = (uint32_t)v)
    INT_KEY("requests_pending_max", 1, 1 << 24, c->node.requests_pending_max = (uint32_t)v)
    INT_KEY("hints_max", 1, UINT32_MAX, c->node.hints_max = (uint32_t)v)
    INT_KEY("handoff_batch", 1, 1 << 20, c->node.handoff_batch = (uint32_t)v)
    INT_KEY("tick_ms", 1, ms_max, c->node.tick_us = (uint64_t)v * 1000)
    INT_KEY("merkle_depth", 1, 16, c->node.merkle_depth = (uint8_t)v)
    INT_KEY("ae_interval_ms", 1, ms_max, c->node.ae_interval_us = (uint64_t)v * 1000)
    INT_KEY("senders_max", 1, NET_SEAL_SENDERS_LIMIT, c->senders_max = (uint32_t)v)
    INT_KEY("clients_max", 1, NET_UV_CLIENTS_LIMIT, c->clients_max = (uint32_t)v)
    INT_KEY("socket_buffer_kb", 0, 1 << 20, c->socket_buffer_kb = (uint32_t)v)
    INT_KEY("stats_interval_ms", 0, ms_max, c->stats_interval_ms = (uint32_t)v)
#undef INT_KEY
    if (strcmp(key, "tombstone_grace_ms") == 0) {
        if (lua_type(ld->L, -1) == LUA_TBOOLEAN && !lua_toboolean(ld->L, -1)) {
            c->node.tombstone_grace_us = 0;
            return DYN_OK;
        }
        rc = get_int(ld, key, 1, ms_max, &v);
        if (rc == DYN_OK)
            c->node.tombstone_grace_us = (uint64_t)v * 1000;
        return rc;
    }
    if (strcmp(key, "hinted_handoff") == 0)
        return get_bool(ld, key, &c->node.hinted_handoff);
    if (strcmp(key, "anti_entropy") == 0)
        return get_bool(ld, key, &c->node.anti_entropy);
#define CHOICE_KEY(name, names, target)                                                           \
    if (strcmp(key, name) == 0) {                                                                 \
        rc = get_choice(ld, key, names, &choice);                                                 \
        if (rc == DYN_OK)                                                                         \
            target;                                                                               \
        return rc;                                                                                \
    }
    CHOICE_KEY("sync", sync_names, c->sync = (net_sync_policy_t)choice)
    CHOICE_KEY("sync_writes", sync_writes_names, c->node.sync_writes = (dyn_sync_writes_t)choice)
    CHOICE_KEY("resolution", resolution_names, c->node.resolution = (dyn_resolution_t)choice)
    CHOICE_KEY("strategy", strategy_names, c->ring.strategy = (dyn_strategy_t)(choice + 1))
    CHOICE_KEY("log_level", level_names, c->log_level = (net_log_level_t)choice)
#undef CHOICE_KEY
    snprintf(ld->err, ld->errlen, "%s: unknown key '%s' (see dynamod --help for the keys)",
             ld->path, key);
    return DYN_EINVAL;
}

static void open_sandbox(lua_State *L)
{
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    lua_pop(L, 4);
    static const char *const removed[] = {"dofile", "loadfile", "load", "require", "collectgarbage",
                                          NULL};
    for (int i = 0; removed[i]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, removed[i]);
    }
}

int net_config_load(const char *path, net_config_t *c, char *err, size_t errlen)
{
    net_config_defaults(c);
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "cannot read config %s: %s", path, strerror(e));
        return e == ENOENT ? DYN_ENOTFOUND : DYN_EIO;
    }
    fclose(f);
    lua_State *L = luaL_newstate();
    if (!L) {
        snprintf(err, errlen, "out of memory");
        return DYN_ENOMEM;
    }
    open_sandbox(L);
    loader_t ld = {.L = L, .path = path, .err = err, .errlen = errlen};
    int rc = DYN_OK;
    if (luaL_loadfilex(L, path, "t") != LUA_OK) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        rc = DYN_EINVAL;
        goto out;
    }
    /* The chunk's _ENV: an empty table reading through to the standard globals. */
    lua_newtable(L);
    lua_newtable(L);
    lua_pushglobaltable(L);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_insert(L, -3); /* env, chunk, env */
    if (!lua_setupvalue(L, -2, 1)) {
        lua_pop(L, 1);
    }
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        rc = DYN_EINVAL;
        goto out;
    }
    /* env is at the top: apply each key, in no particular order (none depends on another). */
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            snprintf(err, errlen, "%s: a global with a non-string name", path);
            rc = DYN_EINVAL;
            goto out;
        }
        const char *key = lua_tostring(L, -2);
        rc = apply(&ld, c, key);
        if (rc != DYN_OK)
            goto out;
        lua_pop(L, 1);
    }
    if (c->member_count == 0) {
        snprintf(err, errlen, "%s: 'nodes' is missing: list the cluster's members, "
                 "nodes = { {id = 1, addr = \"127.0.0.1:7001\"}, ... }", path);
        rc = DYN_EINVAL;
        goto out;
    }
    if (c->node.r > c->node.n || c->node.w > c->node.n) {
        snprintf(err, errlen, "%s: r (%u) and w (%u) must not exceed n (%u)", path, c->node.r,
                 c->node.w, c->node.n);
        rc = DYN_EINVAL;
        goto out;
    }
    size_t first_members = net_config_first_members(c, NULL);
    if (first_members == 0) {
        snprintf(err, errlen, "%s: every node in 'nodes' is a spare: the cluster needs members "
                 "to start with (spares join later, with `dynctl commit --join ID`)", path);
        rc = DYN_EINVAL;
        goto out;
    }
    if (c->node.n > first_members) {
        snprintf(err, errlen, "%s: n = %u but 'nodes' lists only %zu members%s", path, c->node.n,
                 first_members, first_members < c->member_count ? " (spares not counted)" : "");
        rc = DYN_EINVAL;
        goto out;
    }
out:
    lua_close(L);
    if (rc != DYN_OK)
        net_config_free(c);
    return rc;
}

int net_config_key(const char *key_file, uint8_t key[NET_SEAL_KEY_BYTES], int *insecure,
                   char *err, size_t errlen)
{
    if (key_file && *key_file) {
        *insecure = 0;
        return net_seal_load_key_file(key_file, key, err, errlen);
    }
    /* Public by design: it only keeps a cluster without a key file speaking the same framing,
     * replay windows included, as one with a key. */
    static const char phrase[] = "dynamo-c: no key file, no secret";
    DYN_STATIC_ASSERT(sizeof(phrase) - 1 == NET_SEAL_KEY_BYTES, "the public key is 32 bytes");
    memcpy(key, phrase, NET_SEAL_KEY_BYTES);
    *insecure = 1;
    return DYN_OK;
}
