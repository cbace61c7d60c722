/*
 * The native fast path of `authd get-token` and of git's `get` (issue 13): the same request over the
 * same socket as the Node client (src/client/commands/get-token.ts, git-credential.ts), printed the
 * same way, in about a millisecond. C11 and libc only; built by scripts/build-native.mjs into
 * dist/authd-native, which bin/authd and bin/git-credential-authd run when it is there.
 *
 * It handles only what it fully understands. Everything else -- any other command or argument, no
 * daemon (autostart is the Node client's), an error answer of any kind, an answer it cannot parse,
 * over 64 KiB or late, a socket it does not trust -- goes to the Node client, `node dist/authd.cjs`
 * (get-token.cjs or git-credential.cjs for those two commands, as the launchers pick),
 * by execv with the same argv, environment and stdin (what it read of git's input is handed on whole,
 * in a memfd), so what the user sees is the Node client's, byte for byte.
 *
 * A get-token is not idempotent on errors: the request that was refused may have ended the session
 * (a provider refusing the refresh), so asking again would get other words ("not logged in"). An
 * error answer is therefore handed to Node in AUTHD_NATIVE_ANSWER (the error object's JSON text, as
 * received; error answers carry no secrets), and Node prints it without asking the daemon again.
 * Only secret_required is handed over bare: nothing happened yet, and Node must ask again with the
 * secret from the caller's environment. Nor is a token's warning a reason to hand over (a stored
 * secret past max_age, given once a day): it is printed here, as Node prints it, since Node would
 * ask again and the daemon would not repeat it.
 *
 * Like the Node client it sends no environment value (client_secret_env is answered by Node after a
 * secret_required answer), and it refuses a socket whose directory someone else owns or can enter,
 * or whose daemon runs as another user (SO_PEERCRED), before it sends anything.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef AUTHD_VERSION
#define AUTHD_VERSION "0"
#endif

#define MAX_FRAME (64 * 1024)     /* src/protocol/framing.ts MAX_FRAME_BYTES */
#define MAX_SOCKET_PATH 100       /* src/protocol/paths.ts MAX_SOCKET_PATH */
#define NOT_ANSWERING_MS 10000    /* src/client/answer-watchdog.ts NOT_ANSWERING_MS */
#define PATH_CAP 4096
#define MAX_DEPTH 64

/* ---------------------------------------------------------------------------------------------- */
/* Fallback: the Node client, as bin/authd starts it.                                              */

static char **g_argv;
static int g_argc;
static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return 0;
    p += w, n -= (size_t)w;
  }
  return 1;
}
/* The daemon's error answer (the error object's JSON text) for the Node client, or NULL. */
static const char *g_answer;
/* The daemon was connected to, checked and asked: a git helper handed over after this (silence, an
   answer it cannot use) goes straight to the full connection, not one more ask of its own (one-request.ts). */
static int g_asked;
/* What was read of stdin (git's input) before handing over, or NULL: the Node client reads it again. */
static const char *g_input;
static size_t g_input_len;

#ifdef AUTHD_TEST_FALLBACK
/* Sanitizer and fuzz builds: say that the Node client would run, and stop there. */
_Noreturn static void fallback(const char *why) {
  fprintf(stderr, "authd-native: fallback: %s\n", why);
  if (g_answer) fprintf(stderr, "authd-native: answer: %s\n", g_answer);
  if (g_input) fprintf(stderr, "authd-native: input: %zu bytes\n", g_input_len);
  if (g_asked) fputs("authd-native: asked\n", stderr);
  exit(99);
}
#else
_Noreturn static void fallback(const char *why) {
  (void)why;
  char self[PATH_CAP];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0 || (size_t)n >= sizeof self - 1) {
    size_t len = strlen(g_argv[0]);
    if (len >= sizeof self - 1 || !strchr(g_argv[0], '/')) {
      fputs("authd: cannot find the Node client (dist/authd.cjs) beside authd-native\n", stderr);
      exit(1);
    }
    memcpy(self, g_argv[0], len + 1);
    n = (ssize_t)len;
  }
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  /* As the launchers pick: the Node client with only that command in it (less to load), else all of them. */
  const char *client = g_argc >= 2 && !strcmp(g_argv[1], "get-token") ? "get-token.cjs"
                       : g_argc >= 2 && !strcmp(g_argv[1], "git-credential") ? "git-credential.cjs" : "authd.cjs";
  char script[PATH_CAP + 32];
  snprintf(script, sizeof script, "%.*s/%s", (int)(slash ? slash - self : 1), slash ? self : ".", client);
  /* The client does no TLS: it starts Node without parsing NODE_EXTRA_CA_CERTS's bundle (~80 ms);
     the daemon and `authd exec` children get it back from AUTHD_NODE_EXTRA_CA_CERTS (io.ts userEnv). */
  const char *ca = getenv("NODE_EXTRA_CA_CERTS");
  if (ca) {
    if (setenv("AUTHD_NODE_EXTRA_CA_CERTS", ca, 1) != 0 || unsetenv("NODE_EXTRA_CA_CERTS") != 0) {
      fputs("authd: cannot set up the environment for the Node client\n", stderr);
      exit(1);
    }
  }
  /* What was read of stdin becomes the Node client's stdin, whole: a memfd, so no pipe capacity can
     block this process on it. */
  if (g_input) {
    int fd = memfd_create("authd-git-input", 0);
    int ok = fd >= 0 && write_all(fd, g_input, g_input_len) && lseek(fd, 0, SEEK_SET) == 0;
    if (!ok) {
      /* No memfd (a seccomp policy, an old kernel): a pipe, which holds what was read (< 64 KiB) unless
         its capacity was cut; then the write would block, and this says so instead. */
      int p[2];
      if (fd >= 0) close(fd);
      fd = -1;
      if (pipe(p) == 0) {
        fcntl(p[1], F_SETFL, O_NONBLOCK);
        ok = write_all(p[1], g_input, g_input_len);
        close(p[1]);
        fd = p[0];
      }
    }
    if (!ok || (fd != 0 && dup2(fd, 0) != 0)) {
      fprintf(stderr, "authd: cannot hand git's input to the Node client: %s\n", strerror(errno));
      exit(1);
    }
    if (fd != 0) close(fd);
  }
  /* The Node client reads it (and removes it) instead of asking the daemon again (native-answer.ts). */
  if ((g_answer && setenv("AUTHD_NATIVE_ANSWER", g_answer, 1) != 0)
      || (g_asked && !strcmp(client, "git-credential.cjs") && setenv("AUTHD_NATIVE_ASKED", "1", 1) != 0)) {
    fputs("authd: cannot set up the environment for the Node client\n", stderr);
    exit(1);
  }
  char **args = calloc((size_t)g_argc + 2, sizeof *args);
  if (!args) exit(1);
  args[0] = "node";
  args[1] = script;
  for (int i = 1; i < g_argc; i++) args[i + 1] = g_argv[i];
  args[g_argc + 1] = NULL;
  execvp("node", args);
  fprintf(stderr, "authd: cannot run node: %s\n", strerror(errno));
  exit(127);
}
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Bytes and text.                                                                                  */

struct buf {
  char *p;
  size_t len, cap;
  int overflow;
};

static void put(struct buf *b, const char *s, size_t n) {
  if (b->overflow || n > b->cap - b->len) {
    b->overflow = 1;
    return;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid; *cp gets its code point. */
static size_t utf8_one(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t v, min;
  if (c >= 0xc2 && c <= 0xdf) len = 2, v = c & 0x1f, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef) len = 3, v = c & 0x0f, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4) len = 4, v = c & 0x07, min = 0x10000;
  else return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}

static int valid_utf8(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  uint32_t cp;
  for (size_t i = 0; i < n;) {
    size_t k = utf8_one(u + i, n - i, &cp);
    if (!k) return 0;
    i += k;
  }
  return 1;
}

static void put_utf8(struct buf *b, uint32_t cp) {
  char t[4];
  size_t n;
  if (cp < 0x80) t[0] = (char)cp, n = 1;
  else if (cp < 0x800) t[0] = (char)(0xc0 | (cp >> 6)), t[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
  else if (cp < 0x10000)
    t[0] = (char)(0xe0 | (cp >> 12)), t[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), t[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
  else
    t[0] = (char)(0xf0 | (cp >> 18)), t[1] = (char)(0x80 | ((cp >> 12) & 0x3f)), t[2] = (char)(0x80 | ((cp >> 6) & 0x3f)),
    t[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
  put(b, t, n);
}

/* A string as JSON.stringify writes it (valid UTF-8 in, no lone surrogates possible). */
static void put_json_string(struct buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  put(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
      case '"': put(b, "\\\"", 2); break;
      case '\\': put(b, "\\\\", 2); break;
      case '\b': put(b, "\\b", 2); break;
      case '\f': put(b, "\\f", 2); break;
      case '\n': put(b, "\\n", 2); break;
      case '\r': put(b, "\\r", 2); break;
      case '\t': put(b, "\\t", 2); break;
      default:
        if (c < 0x20) {
          char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
          put(b, e, 6);
        } else {
          put(b, (const char *)&s[i], 1);
        }
    }
  }
  put(b, "\"", 1);
}

/* ---------------------------------------------------------------------------------------------- */
/* A strict JSON reader for exactly what is needed; anything it doubts is a failure (-> fallback).  */

struct json {
  const char *p, *end;
};

static void ws(struct json *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int hex4(const char *p, uint32_t *v) {
  uint32_t r = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    r <<= 4;
    if (c >= '0' && c <= '9') r |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f') r |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') r |= (uint32_t)(c - 'A' + 10);
    else return 0;
  }
  *v = r;
  return 1;
}

/* A string, decoded to UTF-8 into out (NULL: only checked). A lone surrogate fails: JSON.stringify
   would write it back escaped, which this reader does not reproduce. */
static int json_string(struct json *j, struct buf *out) {
  if (j->p >= j->end || *j->p != '"') return 0;
  j->p++;
  for (;;) {
    if (j->p >= j->end) return 0;
    unsigned char c = (unsigned char)*j->p;
    if (c == '"') {
      j->p++;
      return !(out && out->overflow);
    }
    if (c < 0x20) return 0;
    if (c == '\\') {
      if (j->end - j->p < 2) return 0;
      char e = j->p[1];
      j->p += 2;
      char lit = 0;
      switch (e) {
        case '"': lit = '"'; break;
        case '\\': lit = '\\'; break;
        case '/': lit = '/'; break;
        case 'b': lit = '\b'; break;
        case 'f': lit = '\f'; break;
        case 'n': lit = '\n'; break;
        case 'r': lit = '\r'; break;
        case 't': lit = '\t'; break;
        case 'u': {
          uint32_t cp, lo;
          if (j->end - j->p < 4 || !hex4(j->p, &cp)) return 0;
          j->p += 4;
          if (cp >= 0xdc00 && cp <= 0xdfff) return 0;
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || !hex4(j->p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff) return 0;
            j->p += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          if (out) put_utf8(out, cp);
          continue;
        }
        default: return 0;
      }
      if (out) put(out, &lit, 1);
      continue;
    }
    uint32_t cp;
    size_t k = utf8_one((const unsigned char *)j->p, (size_t)(j->end - j->p), &cp);
    if (!k) return 0;
    if (out) put(out, j->p, k);
    j->p += k;
  }
}

/* A number as JSON's grammar has it. *integer: an integer in [0, 2^53) written plainly, with its value. */
static int json_number(struct json *j, int *integer, uint64_t *value) {
  const char *s = j->p;
  int plain = 1;
  uint64_t v = 0;
  if (j->p < j->end && *j->p == '-') j->p++, plain = 0;
  if (j->p >= j->end) return 0;
  if (*j->p == '0') {
    j->p++;
  } else if (*j->p >= '1' && *j->p <= '9') {
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
      if (v > (UINT64_C(1) << 53) / 10) plain = 0;
      else v = v * 10 + (uint64_t)(*j->p - '0');
      j->p++;
    }
  } else {
    return 0;
  }
  if (j->p < j->end && *j->p == '.') {
    plain = 0;
    j->p++;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9') return 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
  }
  if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
    plain = 0;
    j->p++;
    if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9') return 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
  }
  if (v >= (UINT64_C(1) << 53)) plain = 0;
  if (integer) *integer = plain && j->p > s;
  if (value) *value = v;
  return 1;
}

static int json_literal(struct json *j, const char *lit) {
  size_t n = strlen(lit);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0) return 0;
  j->p += n;
  return 1;
}

static int json_skip(struct json *j, int depth) {
  if (depth > MAX_DEPTH) return 0;
  ws(j);
  if (j->p >= j->end) return 0;
  char c = *j->p;
  if (c == '"') return json_string(j, NULL);
  if (c == 't') return json_literal(j, "true");
  if (c == 'f') return json_literal(j, "false");
  if (c == 'n') return json_literal(j, "null");
  if (c == '-' || (c >= '0' && c <= '9')) return json_number(j, NULL, NULL);
  if (c != '{' && c != '[') return 0;
  char close = c == '{' ? '}' : ']';
  j->p++;
  ws(j);
  if (j->p < j->end && *j->p == close) {
    j->p++;
    return 1;
  }
  for (;;) {
    if (c == '{') {
      ws(j);
      if (!json_string(j, NULL)) return 0;
      ws(j);
      if (j->p >= j->end || *j->p != ':') return 0;
      j->p++;
    }
    if (!json_skip(j, depth + 1)) return 0;
    ws(j);
    if (j->p >= j->end) return 0;
    if (*j->p == ',') {
      j->p++;
      continue;
    }
    if (*j->p != close) return 0;
    j->p++;
    return 1;
  }
}

/* Iterates an object's members: call with *first = 1; returns 1 with the key in key (decoded), 0 at
   the end, -1 on a syntax error. The value is next (j->p is past the ':'). */
static int json_member(struct json *j, int *first, struct buf *key) {
  ws(j);
  if (j->p >= j->end) return -1;
  if (*first) {
    *first = 0;
    if (*j->p == '}') {
      j->p++;
      return 0;
    }
  } else {
    if (*j->p == '}') {
      j->p++;
      return 0;
    }
    if (*j->p != ',') return -1;
    j->p++;
    ws(j);
  }
  key->len = 0;
  key->overflow = 0;
  if (!json_string(j, key)) return -1;
  ws(j);
  if (j->p >= j->end || *j->p != ':') return -1;
  j->p++;
  ws(j);
  return 1;
}

static int key_is(const struct buf *k, const char *name) { return k->len == strlen(name) && memcmp(k->p, name, k->len) == 0; }

/* ---------------------------------------------------------------------------------------------- */
/* The answer: {"id":1,"result":{"access_token","token_type","expires_at","profile","warning"}}, "v":1
   allowed. "warning" (a stored secret past max_age, once a day) is printed on stderr, as the Node
   client prints it; never a reason to hand over, which would ask again and lose it. */

struct token {
  char access_token[MAX_FRAME], token_type[MAX_FRAME], profile[MAX_FRAME], warning[MAX_FRAME];
  size_t access_len, type_len, profile_len, warning_len; /* warning_len 0: none (absent, null, "", not a string) */
  int has_expiry, expiry_null;
  uint64_t expires_at;
  /* "scopes" (a narrower token's, as asked): each string followed by a NUL; nscopes -1 when absent. */
  char scopes[4096];
  size_t scopes_len;
  int nscopes;
};

/* A JSON array of strings, j at its '[', each written to t->scopes with a NUL after it. */
static int parse_scopes(struct json *j, struct token *t) {
  struct buf b = {t->scopes, 0, sizeof t->scopes, 0};
  t->nscopes = 0;
  ws(j);
  if (j->p >= j->end || *j->p != '[') return 0;
  j->p++;
  ws(j);
  if (j->p < j->end && *j->p == ']') {
    j->p++;
    t->scopes_len = 0;
    return 1;
  }
  for (;;) {
    size_t start = b.len;
    ws(j);
    if (!json_string(j, &b) || memchr(b.p + start, '\0', b.len - start)) return 0;
    put(&b, "", 1);
    t->nscopes++;
    ws(j);
    if (j->p < j->end && *j->p == ',') {
      j->p++;
      continue;
    }
    if (j->p < j->end && *j->p == ']') {
      j->p++;
      break;
    }
    return 0;
  }
  t->scopes_len = b.len;
  return !b.overflow;
}

static int string_into(struct json *j, char *dst, size_t *len) {
  struct buf b = {dst, 0, MAX_FRAME, 0};
  if (!json_string(j, &b)) return 0;
  *len = b.len;
  return 1;
}

static int parse_result(struct json *j, struct token *t) {
  char keyspace[64];
  struct buf key = {keyspace, 0, sizeof keyspace, 0};
  int first = 1, r, seen = 0;
  if (j->p >= j->end || *j->p != '{') return 0;
  j->p++;
  while ((r = json_member(j, &first, &key)) == 1) {
    int bit = key_is(&key, "access_token") ? 1 : key_is(&key, "token_type") ? 2 : key_is(&key, "expires_at") ? 4
      : key_is(&key, "profile") ? 8 : key_is(&key, "scopes") ? 16 : key_is(&key, "warning") ? 32 : 0;
    if (key.overflow) bit = 0;
    if (bit & seen) return 0; /* a repeated member: JSON.parse takes the last, this reader doubts */
    seen |= bit;
    if (bit == 1 && !string_into(j, t->access_token, &t->access_len)) return 0;
    if (bit == 2 && !string_into(j, t->token_type, &t->type_len)) return 0;
    if (bit == 8 && !string_into(j, t->profile, &t->profile_len)) return 0;
    if (bit == 16 && !parse_scopes(j, t)) return 0;
    if (bit == 32) {
      /* warningLine (token-requests.ts) prints a string only: anything else is passed over, as there. */
      if (j->p < j->end && *j->p == '"') {
        if (!string_into(j, t->warning, &t->warning_len)) return 0;
      } else if (!json_skip(j, 1)) {
        return 0;
      }
    }
    if (bit == 4) {
      t->has_expiry = 1;
      if (j->p < j->end && *j->p == 'n') {
        if (!json_literal(j, "null")) return 0;
        t->expiry_null = 1;
      } else {
        int integer = 0;
        if (!json_number(j, &integer, &t->expires_at) || !integer) return 0;
      }
    }
    /* An echo of a resource or audience this client never asks for: Node refuses it (narrowedAsAsked). */
    if (bit == 0 && !key.overflow && (key_is(&key, "resource") || key_is(&key, "audience"))) return 0;
    if (bit == 0 && !json_skip(j, 1)) return 0;
  }
  return r == 0 && (seen & 11) == 11;
}

/* The members of an error object, j at its '{': 1 if well formed, with *secret set if any "code" is
   "secret_required" (JSON.parse keeps the last of repeated members: any one counts). */
static int parse_error(struct json *j, int *secret) {
  char keyspace[16], codespace[32];
  struct buf key = {keyspace, 0, sizeof keyspace, 0};
  int first = 1, r;
  if (j->p >= j->end || *j->p != '{') return 0;
  j->p++;
  while ((r = json_member(j, &first, &key)) == 1) {
    if (!key.overflow && key_is(&key, "code") && j->p < j->end && *j->p == '"') {
      struct buf code = {codespace, 0, sizeof codespace, 0};
      if (!json_string(j, &code)) return 0;
      if (!code.overflow && key_is(&code, "secret_required")) *secret = 1;
    } else if (!json_skip(j, 2)) {
      return 0;
    }
  }
  return r == 0;
}

/* An answer to request 1: {"id":1,"result":...} or {"id":1,"error":{...}}, "v":1 allowed. The
   result's JSON text (checked as JSON, read by parse_result or parse_git_result), or the error
   object's (handed to Node as it is: error answers carry no secrets); an error wins over a result,
   as in the Node client. */
struct envelope {
  const char *result, *error;
  size_t result_len, error_len;
  int secret; /* the error's code is secret_required */
};

/* 1: a well-formed answer to request 1, in e. 0: anything else (another id, doubt). */
static int parse_envelope(const char *frame, size_t n, struct envelope *e) {
  struct json j = {frame, frame + n};
  char keyspace[16];
  struct buf key = {keyspace, 0, sizeof keyspace, 0};
  int first = 1, r, seen = 0;
  memset(e, 0, sizeof *e);
  ws(&j);
  if (j.p >= j.end || *j.p != '{') return 0;
  j.p++;
  while ((r = json_member(&j, &first, &key)) == 1) {
    int bit = key.overflow ? 0 : key_is(&key, "v") ? 1 : key_is(&key, "id") ? 2 : key_is(&key, "result") ? 4 : key_is(&key, "error") ? 8 : 0;
    if (bit & seen) return 0; /* a repeated member: JSON.parse takes the last, this reader doubts */
    seen |= bit;
    const char *start = j.p;
    if (bit == 1 || bit == 2) {
      int integer = 0;
      uint64_t v = 0;
      if (!json_number(&j, &integer, &v) || !integer || v != 1) return 0;
    } else if (bit == 4) {
      if (!json_skip(&j, 1)) return 0;
      e->result = start;
      e->result_len = (size_t)(j.p - start);
    } else if (bit == 8) {
      if (!parse_error(&j, &e->secret)) return 0;
      e->error = start;
      e->error_len = (size_t)(j.p - start);
    } else if (!json_skip(&j, 1)) {
      return 0;
    }
  }
  if (r != 0 || !(seen & 2) || !(seen & 12)) return 0; /* the daemon sends {id, result|error}; a "v" must say 1 */
  ws(&j);
  if (j.p != j.end) return 0;
  if (e->error) {
    e->result = NULL;
    return !memchr(e->error, '\0', e->error_len);
  }
  return 1;
}

/* A result's JSON text (an envelope's) as a token, in t: 1, or 0 for doubt. */
static int read_token(const char *result, size_t n, struct token *t) {
  struct json j = {result, result + n};
  t->access_len = t->type_len = t->profile_len = t->warning_len = 0;
  t->has_expiry = t->expiry_null = 0;
  t->expires_at = 0;
  t->nscopes = -1;
  t->scopes_len = 0;
  return parse_result(&j, t) && j.p == j.end;
}

/* RFC 6750 b64token, as src/protocol/text.ts BEARER_TOKEN: [A-Za-z0-9-._~+/]+=* */
static int bearer_token(const char *s, size_t n) {
  size_t i = 0;
  for (; i < n; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c && strchr("-._~+/", c)))) break;
  }
  if (i == 0) return 0;
  for (; i < n; i++)
    if (s[i] != '=') return 0;
  return 1;
}

enum format { F_TOKEN, F_JSON, F_HEADER, F_EXEC };
static const char *const EXEC_V1 = "client.authentication.k8s.io/v1";
static const char *const EXEC_V1BETA1 = "client.authentication.k8s.io/v1beta1";

/* What formatToken (get-token.ts) prints; 0 when this client would not print the same. */
static int format_token(const struct token *t, enum format f, const char *exec_version, struct buf *out) {
  if (!bearer_token(t->access_token, t->access_len)) return 0;
  switch (f) {
    case F_TOKEN:
      put(out, t->access_token, t->access_len);
      break;
    case F_HEADER: {
      int dpop = t->type_len == 4;
      for (size_t i = 0; dpop && i < 4; i++) dpop = (t->token_type[i] | 0x20) == "dpop"[i];
      puts_(out, dpop ? "Authorization: DPoP " : "Authorization: Bearer ");
      put(out, t->access_token, t->access_len);
      break;
    }
    case F_JSON: {
      char num[32];
      puts_(out, "{\"access_token\":");
      put_json_string(out, t->access_token, t->access_len);
      puts_(out, ",\"token_type\":");
      put_json_string(out, t->token_type, t->type_len);
      puts_(out, ",\"expires_at\":");
      if (t->has_expiry && !t->expiry_null) snprintf(num, sizeof num, "%llu", (unsigned long long)t->expires_at);
      else snprintf(num, sizeof num, "null");
      puts_(out, num);
      puts_(out, ",\"profile\":");
      put_json_string(out, t->profile, t->profile_len);
      puts_(out, "}");
      break;
    }
    case F_EXEC: {
      puts_(out, "{\"apiVersion\":");
      put_json_string(out, exec_version, strlen(exec_version));
      puts_(out, ",\"kind\":\"ExecCredential\",\"status\":{\"token\":");
      put_json_string(out, t->access_token, t->access_len);
      if (t->has_expiry) {
        /* new Date(null * 1000) is 1970: not this client's business. Years past 9999 print as +0YYYYY. */
        if (t->expiry_null || t->expires_at > UINT64_C(253402300799)) return 0;
        time_t secs = (time_t)t->expires_at;
        struct tm tm;
        char ts[40];
        if (!gmtime_r(&secs, &tm)) return 0;
        snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
        puts_(out, ",\"expirationTimestamp\":");
        put_json_string(out, ts, strlen(ts));
      }
      puts_(out, "}}");
      break;
    }
  }
  puts_(out, "\n");
  return !out->overflow;
}

/* The ExecCredential version kubectl asks for in KUBERNETES_EXEC_INFO (get-token.ts
   execCredentialVersion); NULL where the Node client should decide (refusals, doubt). */
static const char *exec_version(const char *info) {
  if (!info || !*info) return EXEC_V1;
  size_t n = strlen(info);
  struct json j = {info, info + n};
  static char valspace[256];
  char keyspace[16];
  struct buf key = {keyspace, 0, sizeof keyspace, 0};
  struct buf val = {valspace, 0, sizeof valspace, 0};
  const char *asked = NULL; /* NULL: no string apiVersion */
  size_t asked_len = 0;
  ws(&j);
  if (j.p < j.end && *j.p == '{') {
    int first = 1, r;
    j.p++;
    while ((r = json_member(&j, &first, &key)) == 1) {
      if (!key.overflow && key_is(&key, "apiVersion")) {
        asked = NULL;
        if (j.p < j.end && *j.p == '"') {
          val.len = 0;
          val.overflow = 0;
          if (!json_string(&j, &val)) return NULL; /* too long for a known version, or doubt */
          asked = valspace;
          asked_len = val.len;
        } else if (!json_skip(&j, 1)) {
          return NULL;
        }
      } else if (!json_skip(&j, 1)) {
        return NULL;
      }
    }
    if (r != 0) return NULL;
  } else if (!json_skip(&j, 0)) {
    return NULL;
  }
  ws(&j);
  if (j.p != j.end) return NULL;
  if (!asked || asked_len == 0) return EXEC_V1;
  if (asked_len == strlen(EXEC_V1) && memcmp(asked, EXEC_V1, asked_len) == 0) return EXEC_V1;
  if (asked_len == strlen(EXEC_V1BETA1) && memcmp(asked, EXEC_V1BETA1, asked_len) == 0) return EXEC_V1BETA1;
  return NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* git's credential helper protocol, as src/client/commands/git-credential.ts speaks it.          */

#define MAX_GIT_INPUT (MAX_FRAME - 1024) /* git-credential.ts MAX_INPUT */

/* Where what git sent ends, as readCredential finds it: at the first blank line ("\n" or "\r\n"
   at the start, or after a "\n"), before the "\n" that precedes it. -1: no blank line yet. */
static long git_input_end(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && s[i - 1] != '\n') continue;
    if (s[i] == '\n' || (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')) return i == 0 ? 0 : (long)(i - 1);
  }
  return -1;
}

/* git's key=value lines as parseCredential reads them, written as JSON.stringify writes the array:
   [["k","v"],...]. 0 for what the Node client refuses (a NUL, a line without key=value) or would
   rewrite (invalid UTF-8 becomes U+FFFD there): it says so itself. */
static int git_attrs_json(const char *s, size_t n, struct buf *out) {
  if (memchr(s, '\0', n) || !valid_utf8(s, n)) return 0;
  puts_(out, "[");
  const char *line = s, *end = s + n;
  int first = 1;
  for (;;) {
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    size_t len = (size_t)((nl ? nl : end) - line);
    if (len && line[len - 1] == '\r') len--;
    if (len) {
      const char *eq = memchr(line, '=', len);
      if (!eq || eq == line) return 0;
      if (!first) puts_(out, ",");
      first = 0;
      puts_(out, "[");
      put_json_string(out, line, (size_t)(eq - line));
      puts_(out, ",");
      put_json_string(out, eq + 1, len - (size_t)(eq + 1 - line));
      puts_(out, "]");
    }
    if (!nl) break;
    line = nl + 1;
  }
  puts_(out, "]");
  return !out->overflow;
}

/* text.ts printable: each run of CONTROLS (C0, DEL and C1, U+200B-200F, U+2028-202E, U+2060-206F,
   U+FEFF) made one space. s is valid UTF-8 (a decoded JSON string). */
static void put_printable(struct buf *b, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  int in_run = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp = 0;
    size_t k = utf8_one(u + i, n - i, &cp);
    if (!k) k = 1; /* not reached: the JSON reader gives valid UTF-8 */
    int control = cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
                  (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff;
    if (control && !in_run) put(b, " ", 1);
    if (!control) put(b, s + i, k);
    in_run = control;
    i += k;
  }
}

/* warningLine (token-requests.ts): "authd: warning: " and the warning made printable, one line; no
   bytes when there is none. 0: it does not fit (not reached: printable text is never longer). */
static int warning_line(const struct token *t, struct buf *out) {
  if (t->warning_len == 0) return 1;
  puts_(out, "authd: warning: ");
  put_printable(out, t->warning, t->warning_len);
  puts_(out, "\n");
  return !out->overflow;
}

/* answerGit's check of a key: /^[a-z_]+(\[\])?$/ */
static int git_key(const char *k, size_t n) {
  if (n >= 2 && k[n - 2] == '[' && k[n - 1] == ']') n -= 2;
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((k[i] >= 'a' && k[i] <= 'z') || k[i] == '_')) return 0;
  return 1;
}

/* What answerGit prints for a result {"attrs":[["k","v"],...],"message":"..."}: the message made
   printable (stderr; none when absent, null or empty), and git's key=value lines (stdout). A key or
   value answerGit refuses (a key it would not write, a line break or NUL in a value) sets *broken
   and, when the key itself is fine, points broken_key at it in `lines`. 0: doubt (the Node client decides). */
struct git_answer {
  struct buf lines, message;
  int has_message, broken;
  size_t broken_key, broken_key_len; /* offset and length in lines; length 0: "a key" */
};

static int parse_git_result(struct json *j, struct git_answer *g) {
  char keyspace[16];
  struct buf key = {keyspace, 0, sizeof keyspace, 0};
  int first = 1, r, seen = 0;
  g->has_message = g->broken = 0;
  g->broken_key = g->broken_key_len = 0;
  if (j->p >= j->end || *j->p != '{') return 0;
  j->p++;
  while ((r = json_member(j, &first, &key)) == 1) {
    int bit = key.overflow ? 0 : key_is(&key, "attrs") ? 1 : key_is(&key, "message") ? 2 : 0;
    if (bit & seen) return 0;
    seen |= bit;
    if (bit == 2) {
      if (j->p < j->end && *j->p == 'n') {
        if (!json_literal(j, "null")) return 0;
        continue;
      }
      static char raw[MAX_FRAME];
      struct buf decoded = {raw, 0, sizeof raw, 0};
      if (!json_string(j, &decoded)) return 0;
      g->message.len = 0;
      put_printable(&g->message, raw, decoded.len);
      g->has_message = decoded.len > 0;
    } else if (bit == 1) {
      ws(j);
      if (j->p >= j->end || *j->p != '[') return 0;
      j->p++;
      ws(j);
      int more = j->p < j->end && *j->p != ']';
      if (!more) j->p++;
      while (more) {
        ws(j);
        if (j->p >= j->end || *j->p != '[') return 0;
        j->p++;
        ws(j);
        size_t k0 = g->lines.len;
        if (!json_string(j, &g->lines)) return 0;
        size_t klen = g->lines.len - k0;
        ws(j);
        if (j->p >= j->end || *j->p != ',') return 0;
        j->p++;
        ws(j);
        put(&g->lines, "=", 1);
        size_t v0 = g->lines.len;
        if (!json_string(j, &g->lines)) return 0;
        ws(j);
        if (j->p >= j->end || *j->p != ']') return 0; /* exactly a pair */
        j->p++;
        if (g->lines.overflow) return 0;
        const char *k = g->lines.p + k0, *v = g->lines.p + v0;
        size_t vlen = g->lines.len - v0;
        if (!g->broken && (!git_key(k, klen) || memchr(v, '\0', vlen) || memchr(v, '\n', vlen) || memchr(v, '\r', vlen))) {
          g->broken = 1;
          if (git_key(k, klen)) {
            g->broken_key = k0;
            g->broken_key_len = klen;
          }
        }
        put(&g->lines, "\n", 1);
        ws(j);
        if (j->p < j->end && *j->p == ',') {
          j->p++;
        } else if (j->p < j->end && *j->p == ']') {
          j->p++;
          more = 0;
        } else {
          return 0;
        }
      }
    } else if (!json_skip(j, 1)) {
      return 0;
    }
  }
  return r == 0 && (seen & 1) && !g->lines.overflow && !g->message.overflow;
}

/* A result's JSON text (an envelope's) as git's answer, in g: 1, or 0 for doubt. */
static int read_git_answer(const char *result, size_t n, struct git_answer *g) {
  struct json j = {result, result + n};
  g->lines.len = g->message.len = 0;
  g->lines.overflow = g->message.overflow = 0;
  return parse_git_result(&j, g) && j.p == j.end;
}

#ifndef AUTHD_NO_MAIN
/* ---------------------------------------------------------------------------------------------- */
/* Arguments, as main.ts globalOptions + args.ts parseArgs + get-token.ts parse accept them.       */

#define MAX_SCOPES 32 /* src/protocol/narrowing.ts */

struct request {
  const char *profile; /* NULL: the daemon's default */
  enum format format;
  const char *exec_version;
  char min_ttl[32]; /* canonical number, "" when not given */
  /* A narrower token (--scope): scopes sorted, without repeats. */
  char scope_text[4096];
  const char *scopes[MAX_SCOPES];
  int nscopes;
};

static int by_bytes(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* --scope as get-token.ts and narrowing.ts read it: split on spaces, each an RFC 6749 scope-token
   (1*( %x21 / %x23-5B / %x5D-7E ), at most 256), 1 to 32 of them, sorted (ASCII: JavaScript's sort
   is the bytes' order), repeats dropped. 0: leave it to Node (it says what is wrong). */
static int scopes_of(const char *text, struct request *rq) {
  size_t n = strlen(text);
  if (n >= sizeof rq->scope_text) return 0;
  memcpy(rq->scope_text, text, n + 1);
  rq->nscopes = 0;
  for (char *tok = rq->scope_text, *end = rq->scope_text + n; tok < end;) {
    char *sp = strchr(tok, ' ');
    if (!sp) sp = end;
    *sp = '\0';
    size_t len = (size_t)(sp - tok);
    if (len > 0) {
      if (len > 256 || rq->nscopes == MAX_SCOPES) return 0;
      for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)tok[i];
        if (c < 0x21 || c > 0x7e || c == 0x22 || c == 0x5c) return 0;
      }
      rq->scopes[rq->nscopes++] = tok;
    }
    tok = sp + 1;
  }
  if (rq->nscopes == 0) return 0;
  qsort(rq->scopes, (size_t)rq->nscopes, sizeof *rq->scopes, by_bytes);
  int kept = 1;
  for (int i = 1; i < rq->nscopes; i++)
    if (strcmp(rq->scopes[i], rq->scopes[kept - 1]) != 0) rq->scopes[kept++] = rq->scopes[i];
  rq->nscopes = kept;
  return 1;
}

/* PROFILE_NAME: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/ */
static int profile_name(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 64) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || !strchr("._-", c))) return 0;
  }
  return 1;
}

/* --min-ttl: /^\d+(\.\d+)?$/ and at most 86400, written as JSON.stringify(Number(s)) would. */
static int min_ttl(const char *s, char *out, size_t cap) {
  const char *dot = strchr(s, '.');
  size_t ilen = dot ? (size_t)(dot - s) : strlen(s);
  if (ilen == 0) return 0;
  for (size_t i = 0; i < ilen; i++)
    if (s[i] < '0' || s[i] > '9') return 0;
  size_t flen = 0;
  if (dot) {
    flen = strlen(dot + 1);
    if (flen == 0) return 0;
    for (size_t i = 0; i < flen; i++)
      if (dot[1 + i] < '0' || dot[1 + i] > '9') return 0;
    while (flen > 0 && dot[flen] == '0') flen--; /* trailing zeros of the fraction */
  }
  while (ilen > 1 && *s == '0') s++, ilen--;
  if (ilen > 5) return 0;
  long whole = strtol(s, NULL, 10);
  if (whole > 86400 || (whole == 86400 && flen > 0)) return 0;
  /* Under 1e-6 JavaScript writes an exponent: leave such numbers to the Node client. */
  if (flen > 6) return 0;
  if (flen) snprintf(out, cap, "%ld.%.*s", whole, (int)flen, dot + 1);
  else snprintf(out, cap, "%ld", whole);
  return 1;
}

static int parse_args(int argc, char **argv, struct request *rq) {
  const char *profile = NULL, *format = NULL, *ttl = NULL, *scope = NULL;
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-p") || !strcmp(a, "--profile")) {
      if (++i >= argc) return 0;
      profile = argv[i];
    } else if (!strncmp(a, "--profile=", 10)) {
      profile = a + 10;
    } else if (a[0] == '-') {
      return 0; /* --help, --version, unknown options */
    } else {
      break;
    }
  }
  if (i >= argc || strcmp(argv[i], "get-token") != 0) return 0;
  for (i++; i < argc; i++) {
    const char *a = argv[i], *value = NULL, **slot = NULL;
    if (a[0] == '-' && a[1] == '-' && a[2]) {
      const char *name = a + 2, *eq = strchr(name, '=');
      size_t len = eq ? (size_t)(eq - name) : strlen(name);
      if (len == 7 && !strncmp(name, "profile", 7)) slot = &profile;
      else if (len == 7 && !strncmp(name, "min-ttl", 7)) slot = &ttl;
      else if (len == 6 && !strncmp(name, "format", 6)) slot = &format;
      else if (len == 5 && !strncmp(name, "scope", 5)) slot = &scope;
      else return 0; /* --help, --, unknown */
      if (eq) value = eq + 1;
    } else if (a[0] == '-' && a[1] && !a[2]) {
      if (a[1] == 'p') slot = &profile;
      else if (a[1] == 'f') slot = &format;
      else return 0;
    } else {
      return 0; /* a positional, "-", "--" */
    }
    if (!value) {
      if (++i >= argc) return 0;
      value = argv[i];
    }
    *slot = value;
  }
  if (!profile) {
    const char *env = getenv("AUTHD_PROFILE");
    if (env && *env) profile = env;
  }
  if (profile && !profile_name(profile)) return 0;
  rq->profile = profile;
  if (!format || !strcmp(format, "token")) rq->format = F_TOKEN;
  else if (!strcmp(format, "json")) rq->format = F_JSON;
  else if (!strcmp(format, "header")) rq->format = F_HEADER;
  else if (!strcmp(format, "exec-credential")) rq->format = F_EXEC;
  else return 0;
  rq->exec_version = EXEC_V1;
  if (rq->format == F_EXEC) {
    const char *info = getenv("KUBERNETES_EXEC_INFO");
    if (info && !valid_utf8(info, strlen(info))) return 0;
    rq->exec_version = exec_version(info);
    if (!rq->exec_version) return 0;
  }
  rq->min_ttl[0] = '\0';
  if (ttl && !min_ttl(ttl, rq->min_ttl, sizeof rq->min_ttl)) return 0;
  rq->nscopes = 0;
  if (scope && !scopes_of(scope, rq)) return 0;
  return 1;
}

/* ---------------------------------------------------------------------------------------------- */
/* The socket path, as src/protocol/paths.ts resolvePaths (tested against it: test/native-client). */

/* path.posix.normalize(a + "/" + b), empty parts left out as path.join does. */
static int join(const char *a, const char *b, char *out, size_t cap) {
  char raw[PATH_CAP * 2 + 2];
  size_t la = strlen(a), lb = strlen(b);
  if (la + lb + 2 > sizeof raw) return 0;
  size_t n = 0;
  if (la) memcpy(raw, a, la), n = la;
  if (la && lb) raw[n++] = '/';
  if (lb) memcpy(raw + n, b, lb), n += lb;
  raw[n] = '\0';
  if (n == 0) {
    if (cap < 2) return 0;
    strcpy(out, ".");
    return 1;
  }
  int absolute = raw[0] == '/', trailing = raw[n - 1] == '/';
  /* segments kept: start offsets into raw, and lengths */
  static size_t seg_at[PATH_CAP], seg_len[PATH_CAP];
  size_t segs = 0;
  for (size_t i = 0; i < n;) {
    while (i < n && raw[i] == '/') i++;
    size_t s = i;
    while (i < n && raw[i] != '/') i++;
    size_t len = i - s;
    if (len == 0 || (len == 1 && raw[s] == '.')) continue;
    if (len == 2 && raw[s] == '.' && raw[s + 1] == '.') {
      if (segs > 0 && !(seg_len[segs - 1] == 2 && raw[seg_at[segs - 1]] == '.' && raw[seg_at[segs - 1] + 1] == '.')) {
        segs--;
        continue;
      }
      if (absolute) continue;
    }
    if (segs >= PATH_CAP) return 0;
    seg_at[segs] = s, seg_len[segs] = len, segs++;
  }
  struct buf o = {out, 0, cap - 1, 0};
  if (absolute) put(&o, "/", 1);
  for (size_t k = 0; k < segs; k++) {
    if (k) put(&o, "/", 1);
    put(&o, raw + seg_at[k], seg_len[k]);
  }
  if (segs == 0 && !absolute) puts_(&o, trailing ? "./" : ".");
  else if (segs > 0 && trailing) put(&o, "/", 1);
  if (o.overflow) return 0;
  out[o.len] = '\0';
  return 1;
}

static const char *nonempty(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* shortHash: two FNV-1a variants over UTF-16 code units; the first 10 hex digits. */
static int short_hash(const char *s, char out[11]) {
  uint32_t a = 0x811c9dc5u, b = 0x01000193u ^ 0x5bd1e995u;
  const unsigned char *u = (const unsigned char *)s;
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    uint32_t cp, units[2];
    size_t k = utf8_one(u + i, n - i, &cp), nu = 1;
    if (!k) return 0;
    i += k;
    if (cp >= 0x10000) {
      units[0] = 0xd800 + ((cp - 0x10000) >> 10), units[1] = 0xdc00 + ((cp - 0x10000) & 0x3ff), nu = 2;
    } else {
      units[0] = cp;
    }
    for (size_t q = 0; q < nu; q++) {
      a = (a ^ units[q]) * 0x01000193u;
      b = (b ^ units[q]) * (0x01000193u ^ 0x2c9277b5u);
    }
  }
  char full[17];
  snprintf(full, sizeof full, "%08x%08x", a, b);
  memcpy(out, full, 10);
  out[10] = '\0';
  return 1;
}

/* The socket and, for the trust check, its directory as path.dirname gives it. 0: leave it to Node. */
static int socket_path(char *sock, char *dir, size_t cap) {
  const char *explicit_ = nonempty("AUTHD_SOCKET");
  char state[PATH_CAP], tmp[PATH_CAP], sockdir[PATH_CAP];
  if (explicit_) {
    if (strlen(explicit_) >= cap) return 0;
    strcpy(sock, explicit_);
  } else {
    const char *home = nonempty("AUTHD_HOME");
    if (home) {
      if (!join(home, "run", sockdir, sizeof sockdir) || !join(sockdir, "authd.sock", sock, cap)) return 0;
    } else {
      /* The account's home from the password database (passwdHome), not $HOME: what may differ. */
      struct passwd pw, *found = NULL;
      char pwbuf[4096];
      if (getpwuid_r(getuid(), &pw, pwbuf, sizeof pwbuf, &found) != 0 || !found || !pw.pw_dir || !*pw.pw_dir) return 0;
      /* os.homedir(): $HOME when set, even empty (libuv), else the password database. */
      const char *user_home = getenv("HOME");
      if (!user_home) user_home = pw.pw_dir;
      const char *xdg_state = nonempty("XDG_STATE_HOME");
      if (xdg_state) {
        if (!join(xdg_state, "authd", state, sizeof state)) return 0;
      } else if (!join(user_home, ".local/state", tmp, sizeof tmp) || !join(tmp, "authd", state, sizeof state)) {
        return 0;
      }
      const char *runtime = nonempty("XDG_RUNTIME_DIR");
      if (runtime) {
        if (!join(runtime, "authd", sockdir, sizeof sockdir)) return 0;
      } else {
        const char *t = nonempty("TMPDIR");
        if (!t) t = getenv("TMP") && *getenv("TMP") ? getenv("TMP") : getenv("TEMP") && *getenv("TEMP") ? getenv("TEMP") : "/tmp";
        char name[32];
        snprintf(name, sizeof name, "authd-%lu", (unsigned long)getuid());
        if (!join(t, name, sockdir, sizeof sockdir)) return 0;
      }
      char def[PATH_CAP];
      if (!join(pw.pw_dir, ".local/state", tmp, sizeof tmp) || !join(tmp, "authd", def, sizeof def)) return 0;
      char name[40] = "authd.sock", hash[11];
      if (strcmp(state, def) != 0) {
        if (!short_hash(state, hash)) return 0;
        snprintf(name, sizeof name, "authd.%s.sock", hash);
      }
      if (!join(sockdir, name, sock, cap)) return 0;
    }
  }
  size_t n = strlen(sock);
  if (n == 0 || n > MAX_SOCKET_PATH || !valid_utf8(sock, n)) return 0; /* Node reports the limit */
  /* path.posix.dirname */
  int root = sock[0] == '/';
  ssize_t end = -1;
  int matched = 1;
  for (ssize_t i = (ssize_t)n - 1; i >= 1; i--) {
    if (sock[i] == '/') {
      if (!matched) {
        end = i;
        break;
      }
    } else {
      matched = 0;
    }
  }
  if (end == -1) strcpy(dir, root ? "/" : ".");
  else if (root && end == 1) strcpy(dir, "//");
  else memcpy(dir, sock, (size_t)end), dir[end] = '\0';
  return 1;
}

/* ---------------------------------------------------------------------------------------------- */

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* callerInfo (io.ts): the parent's pid and /proc/PPID/comm, trimmed, else the command's own name. */
static int caller_cmd(pid_t ppid, const char *unnamed, char *out, size_t cap) {
  char path[64], raw[256];
  snprintf(path, sizeof path, "/proc/%ld/comm", (long)ppid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n = -1;
  if (fd >= 0) {
    n = read(fd, raw, sizeof raw - 1);
    close(fd);
  }
  if (n < 0) n = 0;
  size_t s = 0, e = (size_t)n;
  while (s < e && strchr(" \t\n\v\f\r", raw[s]) && raw[s]) s++;
  while (e > s && strchr(" \t\n\v\f\r", raw[e - 1]) && raw[e - 1]) e--;
  /* String.prototype.trim also strips Unicode spaces: leave a name that might end in one to Node. */
  if (e > s && (((unsigned char)raw[s]) >= 0x80 || ((unsigned char)raw[e - 1]) >= 0x80)) return 0;
  if (!valid_utf8(raw + s, e - s) || memchr(raw + s, '\0', e - s)) return 0;
  if (e == s) {
    snprintf(out, cap, "%s", unnamed);
    return 1;
  }
  if (e - s >= cap) return 0;
  memcpy(out, raw + s, e - s);
  out[e - s] = '\0';
  return 1;
}

/* params.caller, as callerInfo gives it and JSON.stringify writes it. */
static void put_caller(struct buf *req, const char *unnamed) {
  pid_t ppid = getppid();
  char cmd[256], num[32];
  if (!caller_cmd(ppid, unnamed, cmd, sizeof cmd)) fallback("caller");
  puts_(req, "\"caller\":{\"pid\":");
  snprintf(num, sizeof num, "%ld", (long)ppid);
  puts_(req, num);
  puts_(req, ",\"cmd\":");
  put_json_string(req, cmd, strlen(cmd));
  puts_(req, "}");
}

/* answer-watchdog.ts NOT_ANSWERING_MS, or AUTHD_NOT_ANSWERING_MS as the Node client reads it. */
static long long patience_ms(void) {
  long long patience = NOT_ANSWERING_MS;
  const char *p = getenv("AUTHD_NOT_ANSWERING_MS");
  if (p && *p) {
    if (strlen(p) > 9 || strspn(p, "0123456789") != strlen(p) || (patience = atoll(p)) <= 0) fallback("AUTHD_NOT_ANSWERING_MS");
  }
  return patience;
}

/* The socket, if its directory passes trust.ts checkSocketDir: a private directory of ours (a
   missing one means nothing listens: Node starts the daemon). */
static void trusted_socket(char *sock, size_t cap) {
  char dir[PATH_CAP];
  if (!socket_path(sock, dir, cap)) fallback("socket path");
  struct stat st;
  if (lstat(dir, &st) != 0) fallback("socket directory");
  if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077) != 0) fallback("socket directory not private");
}

static char frame[MAX_FRAME + 1];

/* Sends the request (one line) and reads one answer line into frame: its length. Wherever the Node
   client would do something else (no daemon, a daemon of another user, a lost connection, silence
   at half the patience: the Node client pings then, here Node takes over), it is left to Node. */
static size_t exchange(const char *sock, const struct buf *req, long long patience) {
  if (req->overflow || req->len > MAX_FRAME) fallback("request");
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fallback("socket");
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, sock, strlen(sock) + 1);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) fallback("connect"); /* not running: Node starts it */

  /* trust.ts checkDaemonPeer: the daemon runs as us, or as root. */
  struct ucred uc;
  socklen_t uclen = sizeof uc;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &uclen) != 0 || uclen != sizeof uc) fallback("peer credentials");
  if (uc.uid != getuid() && uc.uid != 0) {
    /* Refused here, as trust.ts checkDaemonPeer words it, rather than letting Node connect to it again. */
    for (const char *c = sock; *c; c++)
      if (*c < 0x20 || *c > 0x7e) fallback("peer uid"); /* printable() would rewrite it: Node says it */
    fprintf(stderr,
            "authd: the process at %s runs as uid %lu, not as you (uid %lu): refusing to talk to it\n"
            "  another user may be posing as your authd daemon; have root remove that socket, or set AUTHD_SOCKET to a path "
            "in a directory only you can use\n",
            sock, (unsigned long)uc.uid, (unsigned long)getuid());
    exit(5); /* daemon_unreachable */
  }

  const char *w = req->p;
  size_t left = req->len;
  g_asked = 1;
  while (left > 0) {
    ssize_t k = send(fd, w, left, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) fallback("send");
    w += k, left -= (size_t)k;
  }

  size_t got = 0;
  char *nl = NULL;
  long long deadline = now_ms() + patience / 2;
  while (!nl) {
    long long wait = deadline - now_ms();
    if (wait <= 0) fallback("no answer");
    struct pollfd pfd = {fd, POLLIN, 0};
    int r = poll(&pfd, 1, (int)(wait > 1000000 ? 1000000 : wait));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    if (got >= MAX_FRAME + 1) fallback("answer too large");
    ssize_t k = read(fd, frame + got, MAX_FRAME + 1 - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) fallback("connection closed");
    nl = memchr(frame + got, '\n', (size_t)k);
    got += (size_t)k;
    if (!nl && got > MAX_FRAME) fallback("answer too large");
  }
  close(fd);
  size_t flen = (size_t)(nl - frame);
  if (flen > MAX_FRAME) fallback("answer too large");
  return flen;
}

/* The daemon's answer, read as an envelope; an error answer goes to Node (never returns), a result's
   JSON text is returned for the command to read. */
static struct envelope result_of(size_t flen) {
  struct envelope e;
  if (!parse_envelope(frame, flen, &e)) fallback("answer");
  if (e.error) {
    if (e.secret) fallback("secret_required"); /* Node asks again, with the secret: nothing happened yet */
    memmove(frame, e.error, e.error_len); /* within the frame, so under the 64 KiB bound */
    frame[e.error_len] = '\0';
    g_answer = frame;
    fallback("error answer");
  }
  return e;
}

static struct token answer;
static char output[4 * MAX_FRAME + 512];
static char warning_text[MAX_FRAME + 64];

static int same_scopes(const struct token *t, const struct request *rq) {
  if (rq->nscopes == 0) return t->nscopes == -1;
  if (t->nscopes != rq->nscopes) return 0;
  const char *p = t->scopes;
  for (int i = 0; i < rq->nscopes; i++) {
    if (strcmp(p, rq->scopes[i]) != 0) return 0;
    p += strlen(p) + 1;
  }
  return 1;
}

static int get_token(int argc, char **argv) {
  struct request rq;
  if (!parse_args(argc, argv, &rq)) fallback("arguments");
  long long patience = patience_ms();
  char sock[PATH_CAP];
  trusted_socket(sock, sizeof sock);

  struct buf req = {output, 0, sizeof output, 0};
  puts_(&req, "{\"v\":1,\"id\":1,\"method\":\"getToken\",\"params\":{");
  put_caller(&req, "authd get-token");
  if (rq.profile) {
    puts_(&req, ",\"profile\":");
    put_json_string(&req, rq.profile, strlen(rq.profile));
  }
  if (rq.min_ttl[0]) {
    puts_(&req, ",\"minTtl\":");
    puts_(&req, rq.min_ttl);
  }
  if (rq.nscopes) {
    puts_(&req, ",\"scopes\":[");
    for (int i = 0; i < rq.nscopes; i++) {
      if (i) puts_(&req, ",");
      put_json_string(&req, rq.scopes[i], strlen(rq.scopes[i]));
    }
    puts_(&req, "]");
  }
  puts_(&req, "}}\n");

  struct envelope e = result_of(exchange(sock, &req, patience));
  if (!read_token(e.result, e.result_len, &answer)) fallback("answer");
  /* narrowedAsAsked (token-requests.ts): a narrower token says it is one, of those scopes; else Node
     says so (an older daemon ignored --scope). None asked, none expected. */
  if (!same_scopes(&answer, &rq)) fallback("scopes");

  struct buf out = {output, 0, sizeof output, 0};
  struct buf warning = {warning_text, 0, sizeof warning_text, 0};
  if (!warning_line(&answer, &warning)) fallback("warning");
  if (!format_token(&answer, rq.format, rq.exec_version, &out)) {
    /* Node prints this token (its format is Node's to write), and the warning before it, as here; asked
       again, the daemon would not repeat a once-a-day warning. */
    if (warning.len) (void)write_all(2, warning.p, warning.len);
    fallback("token");
  }
  /* As get-token.ts: the warning on stderr first, then the token on stdout. */
  if (warning.len) (void)write_all(2, warning.p, warning.len);
  if (!write_all(1, out.p, out.len)) return 1;
  return 0;
}

/* What git sent on stdin (handed to Node, if it takes over, as its stdin). */
/* Room for a blank line ("\n\r\n") right after MAX_GIT_INPUT bytes of content, which Node accepts. */
static char git_in[MAX_GIT_INPUT + 4];
static char git_message[MAX_FRAME + 2];

/* `git-credential get` (bin/git-credential-authd get): git asks for a credential. store and erase,
   rarer, are the Node client's. */
static int git_get(void) {
  long long patience = patience_ms();
  char sock[PATH_CAP];
  trusted_socket(sock, sizeof sock);

  /* As readCredential: up to the first blank line, or EOF; more than MAX_GIT_INPUT bytes before it is
     refused (by Node, given what was read). Read before connecting: no connection waits on git. */
  size_t got = 0;
  long end = -1;
  g_input = git_in;
  while (end < 0 && got < MAX_GIT_INPUT + 3) {
    ssize_t k = read(0, git_in + got, MAX_GIT_INPUT + 3 - got);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && errno == EAGAIN) {
      struct pollfd pfd = {0, POLLIN, 0};
      poll(&pfd, 1, -1);
      continue;
    }
    if (k <= 0) break; /* EOF, or an error: the Node client ends there too */
    got += (size_t)k;
    g_input_len = got;
    end = git_input_end(git_in, got);
  }
  size_t content = end >= 0 ? (size_t)end : got;
  if (content > MAX_GIT_INPUT) fallback("input too large");

  struct buf req = {output, 0, sizeof output, 0};
  puts_(&req, "{\"v\":1,\"id\":1,\"method\":\"gitCredential\",\"params\":{\"action\":\"get\",\"attrs\":");
  if (!git_attrs_json(git_in, content, &req)) fallback("input");
  puts_(&req, ",");
  put_caller(&req, "git");
  puts_(&req, "}}\n");

  struct envelope e = result_of(exchange(sock, &req, patience));
  struct git_answer g = {{output, 0, sizeof output, 0}, {git_message, 0, sizeof git_message, 0}, 0, 0, 0, 0};
  if (!read_git_answer(e.result, e.result_len, &g)) fallback("answer");
  if (g.has_message) {
    put(&g.message, "\n", 1);
    if (g.message.overflow) fallback("answer");
    (void)write_all(2, g.message.p, g.message.len);
  }
  if (g.broken) {
    /* answerGit refuses it after printing the message: the same error, printed by Node. */
    static char refusal[MAX_FRAME + 256];
    struct buf e = {refusal, 0, sizeof refusal - 1, 0};
    puts_(&e, "{\"code\":\"bad_request\",\"message\":\"the answer for git holds a line break or NUL in ");
    if (g.broken_key_len) put(&e, g.lines.p + g.broken_key, g.broken_key_len); /* [a-z_]+, maybe [] */
    else puts_(&e, "a key");
    puts_(&e, "; not passing it to git\"}");
    refusal[e.len] = '\0';
    g_answer = refusal;
    fallback("refused answer");
  }
  if (!write_all(1, g.lines.p, g.lines.len)) return 1;
  return 0;
}

int main(int argc, char **argv) {
  g_argc = argc;
  g_argv = argv;
  const char *native = getenv("AUTHD_NATIVE");
  if (native && !strcmp(native, "probe")) {
    printf("authd-native %s\n", AUTHD_VERSION);
    return 0;
  }
  if (native && !strcmp(native, "paths")) { /* for the shared path vectors (test/native-client.test.ts) */
    char s[PATH_CAP], d[PATH_CAP];
    if (!socket_path(s, d, sizeof s)) return 3;
    printf("%s\n%s\n", s, d);
    return 0;
  }
  if (native && !strcmp(native, "0")) fallback("AUTHD_NATIVE=0");
  if (argc == 3 && !strcmp(argv[1], "git-credential") && !strcmp(argv[2], "get")) return git_get();
  return get_token(argc, argv);
}
#endif
