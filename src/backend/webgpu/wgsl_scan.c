/* wgsl_scan.c — entry points, override constants and bindings of a WGSL module (wgsl_scan.h). */
#include "backend/webgpu/wgsl_scan.h"

#include <stdio.h>
#include <string.h>

typedef enum tok_kind { T_END, T_IDENT, T_NUM, T_AT, T_PUNCT } tok_kind;

typedef struct scanner {
    const char *s;
    size_t n, i;
    int line;
    dp_error *e;
    dp_status st;
} scanner;

typedef struct tok {
    tok_kind kind;
    const char *p;
    size_t len;
    int line;
} tok;

static bool is_id0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_id(char c) { return is_id0(c) || (c >= '0' && c <= '9'); }

static bool fail(scanner *sc, int line, const char *what) {
    if (sc->st == DP_OK) sc->st = dp_err_set(sc->e, DP_ERR_FORMAT, "wgsl line %d: %s", line, what);
    return false;
}

/* skips blanks and comments (block comments nest, as in WGSL) */
static bool skip(scanner *sc) {
    while (sc->i < sc->n) {
        char c = sc->s[sc->i];
        if (c == '\n') {
            sc->line++;
            sc->i++;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
            sc->i++;
        } else if (c == '/' && sc->i + 1 < sc->n && sc->s[sc->i + 1] == '/') {
            while (sc->i < sc->n && sc->s[sc->i] != '\n') sc->i++;
        } else if (c == '/' && sc->i + 1 < sc->n && sc->s[sc->i + 1] == '*') {
            int depth = 0, start = sc->line;
            do {
                if (sc->i + 1 >= sc->n) return fail(sc, start, "unterminated block comment");
                if (sc->s[sc->i] == '/' && sc->s[sc->i + 1] == '*') {
                    depth++;
                    sc->i += 2;
                } else if (sc->s[sc->i] == '*' && sc->s[sc->i + 1] == '/') {
                    depth--;
                    sc->i += 2;
                } else {
                    if (sc->s[sc->i] == '\n') sc->line++;
                    sc->i++;
                }
            } while (depth > 0);
        } else if (c == '\0') {
            return fail(sc, sc->line, "NUL byte in the text");
        } else {
            return true;
        }
    }
    return true;
}

static tok next(scanner *sc) {
    tok t = {T_END, NULL, 0, sc->line};
    if (!skip(sc) || sc->i >= sc->n) return t;
    t.p = sc->s + sc->i;
    t.line = sc->line;
    char c = sc->s[sc->i];
    if (is_id0(c)) {
        t.kind = T_IDENT;
        while (sc->i < sc->n && is_id(sc->s[sc->i])) sc->i++;
    } else if (c >= '0' && c <= '9') {
        t.kind = T_NUM;
        while (sc->i < sc->n && (is_id(sc->s[sc->i]) || sc->s[sc->i] == '.')) sc->i++;
    } else {
        t.kind = c == '@' ? T_AT : T_PUNCT;
        sc->i++;
    }
    t.len = (size_t)(sc->s + sc->i - t.p);
    return t;
}

static bool tok_is(tok t, const char *s) { return t.len == strlen(s) && !memcmp(t.p, s, t.len); }

static bool copy_name(scanner *sc, tok t, char dst[DP_WGSL_NAME], const char *what) {
    if (t.kind != T_IDENT) return fail(sc, t.line, what);
    if (t.len >= DP_WGSL_NAME) {
        if (sc->st == DP_OK)
            sc->st = dp_err_set(sc->e, DP_ERR_LIMIT, "wgsl line %d: identifier of %zu bytes (at most %d)",
                                t.line, t.len, DP_WGSL_NAME - 1);
        return false;
    }
    memcpy(dst, t.p, t.len);
    dst[t.len] = '\0';
    return true;
}

static bool add_name(scanner *sc, char (*list)[DP_WGSL_NAME], int *n, tok t, const char *what) {
    if (*n >= DP_WGSL_MAX_NAMES) {
        if (sc->st == DP_OK)
            sc->st = dp_err_set(sc->e, DP_ERR_LIMIT, "wgsl line %d: more than %d %ss", t.line,
                                DP_WGSL_MAX_NAMES, what);
        return false;
    }
    char msg[64];
    snprintf(msg, sizeof msg, "expected the %s's name", what);
    if (!copy_name(sc, t, list[*n], msg)) return false;
    for (int i = 0; i < *n; i++)
        if (!strcmp(list[i], list[*n])) return fail(sc, t.line, "a name declared twice");
    (*n)++;
    return true;
}

/* attribute state pending for the next declaration */
typedef struct attrs {
    bool compute, has_group, has_binding;
    uint32_t group, binding;
} attrs;

/* "(N)" after @group / @binding: a decimal literal, optionally suffixed u or i */
static bool attr_number(scanner *sc, uint32_t *out) {
    tok o = next(sc), v = next(sc), c = next(sc);
    if (!tok_is(o, "(") || v.kind != T_NUM || !tok_is(c, ")"))
        return fail(sc, o.line, "@group / @binding need a decimal literal");
    uint64_t x = 0;
    size_t k = 0;
    for (; k < v.len && v.p[k] >= '0' && v.p[k] <= '9'; k++) {
        x = x * 10 + (uint64_t)(v.p[k] - '0');
        if (x > 0xffffffffu) return fail(sc, v.line, "@group / @binding number out of range");
    }
    if (k + 1 < v.len || (k < v.len && v.p[k] != 'u' && v.p[k] != 'i'))
        return fail(sc, v.line, "@group / @binding need a decimal literal");
    *out = (uint32_t)x;
    return true;
}

/* skips a balanced "( ... )" */
static bool skip_parens(scanner *sc) {
    int depth = 0;
    tok t;
    do {
        t = next(sc);
        if (t.kind == T_END) return fail(sc, t.line, "unbalanced parentheses in an attribute");
        if (tok_is(t, "(")) depth++;
        else if (tok_is(t, ")")) depth--;
    } while (depth > 0);
    return true;
}

static bool add_binding(scanner *sc, dp_wgsl_info *o, attrs a, dp_wgsl_kind kind, int line) {
    for (int i = 0; i < o->n_bindings; i++)
        if (o->bindings[i].group == a.group && o->bindings[i].binding == a.binding &&
            o->bindings[i].kind == kind)
            return true;
    if (o->n_bindings >= DP_WGSL_MAX_BINDINGS) {
        if (sc->st == DP_OK)
            sc->st = dp_err_set(sc->e, DP_ERR_LIMIT, "wgsl line %d: more than %d bindings", line,
                                DP_WGSL_MAX_BINDINGS);
        return false;
    }
    int j = o->n_bindings++;
    dp_wgsl_binding nb = {a.group, a.binding, kind};
    while (j > 0) { /* insertion sort by (group, binding, kind) */
        dp_wgsl_binding p = o->bindings[j - 1];
        bool after = p.group > nb.group || (p.group == nb.group && (p.binding > nb.binding ||
                     (p.binding == nb.binding && p.kind > nb.kind)));
        if (!after) break;
        o->bindings[j] = p;
        j--;
    }
    o->bindings[j] = nb;
    return true;
}

/* after `var`: the optional template and the name; a binding when @group/@binding preceded */
static bool var_decl(scanner *sc, dp_wgsl_info *o, attrs a, int line) {
    size_t save = sc->i;
    int save_line = sc->line;
    tok t = next(sc);
    dp_wgsl_kind kind = DP_WGSL_OTHER;
    bool is_resource = false;
    if (tok_is(t, "<")) {
        tok space = next(sc), sep = next(sc);
        if (tok_is(space, "uniform")) {
            kind = DP_WGSL_UNIFORM;
            is_resource = true;
        } else if (tok_is(space, "storage")) {
            kind = DP_WGSL_READ;
            is_resource = true;
        }
        if (tok_is(sep, ",")) {
            tok acc = next(sc);
            if (is_resource && kind == DP_WGSL_READ && tok_is(acc, "read_write")) kind = DP_WGSL_READ_WRITE;
            else if (is_resource && !tok_is(acc, "read") && !tok_is(acc, "read_write"))
                return fail(sc, acc.line, "unknown access mode");
            sep = next(sc);
        }
        if (!tok_is(sep, ">")) return fail(sc, sep.line, "malformed var<...>");
    } else {
        sc->i = save;
        sc->line = save_line;
    }
    if (a.has_group != a.has_binding) return fail(sc, line, "@group and @binding go together");
    if (!a.has_group) return true;
    if (is_resource || kind == DP_WGSL_OTHER) return add_binding(sc, o, a, kind, line);
    return fail(sc, line, "a binding in an address space other than uniform / storage");
}

dp_status dp_wgsl_scan(const char *text, size_t n, dp_wgsl_info *out, dp_error *e) {
    memset(out, 0, sizeof *out);
    scanner sc = {text, n, 0, 1, e, DP_OK};
    attrs a = {0};
    for (;;) {
        tok t = next(&sc);
        if (sc.st != DP_OK) return sc.st;
        if (t.kind == T_END) break;
        if (t.kind == T_AT) {
            tok name = next(&sc);
            if (name.kind != T_IDENT) {
                fail(&sc, t.line, "'@' without an attribute name");
                break;
            }
            if (tok_is(name, "compute")) {
                a.compute = true;
            } else if (tok_is(name, "group")) {
                if (!attr_number(&sc, &a.group)) break;
                a.has_group = true;
            } else if (tok_is(name, "binding")) {
                if (!attr_number(&sc, &a.binding)) break;
                a.has_binding = true;
            } else {
                /* other attributes may take arguments: skip them */
                size_t save = sc.i;
                int save_line = sc.line;
                tok p = next(&sc);
                sc.i = save;
                sc.line = save_line;
                if (tok_is(p, "(") && !skip_parens(&sc)) break;
            }
            continue;
        }
        if (tok_is(t, "fn")) {
            tok name = next(&sc);
            if (a.compute) {
                if (!add_name(&sc, out->entries, &out->n_entries, name, "entry point")) break;
            } else if (name.kind != T_IDENT) {
                fail(&sc, t.line, "expected a function name after fn");
                break;
            }
        } else if (tok_is(t, "override")) {
            if (!add_name(&sc, out->overrides, &out->n_overrides, next(&sc), "override constant")) break;
        } else if (tok_is(t, "var")) {
            if (!var_decl(&sc, out, a, t.line)) break;
        } else if (a.compute || a.has_group || a.has_binding) {
            fail(&sc, t.line, "@compute / @group / @binding must precede a declaration");
            break;
        }
        memset(&a, 0, sizeof a);
    }
    if (sc.st != DP_OK) return sc.st;
    if (a.compute || a.has_group || a.has_binding)
        return dp_err_set(e, DP_ERR_FORMAT, "wgsl: attributes at the end of the text");
    if (!out->n_entries) return dp_err_set(e, DP_ERR_FORMAT, "wgsl: no @compute entry point");
    return DP_OK;
}

bool dp_wgsl_has(const dp_wgsl_info *info, char kind, const char *name) {
    int n = kind == 'e' ? info->n_entries : info->n_overrides;
    for (int i = 0; i < n; i++)
        if (!strcmp(kind == 'e' ? info->entries[i] : info->overrides[i], name)) return true;
    return false;
}

const char *dp_wgsl_kind_str(dp_wgsl_kind k) {
    switch (k) {
    case DP_WGSL_UNIFORM: return "uniform";
    case DP_WGSL_READ: return "read";
    case DP_WGSL_READ_WRITE: return "read_write";
    default: return "other";
    }
}
