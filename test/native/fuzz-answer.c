/*
 * A seeded mutation loop over the native client's parsers (src/native/authd-client.c): the daemon's
 * answer (a token, git's answer, or an error handed to Node), KUBERNETES_EXEC_INFO, and what git
 * sends a credential helper on stdin. Built with AddressSanitizer and UndefinedBehaviorSanitizer by
 * scripts/native-sanitizer.mjs and run for a bounded time; a sanitizer report, or an answer accepted
 * whose printed token is not one bearer token on one line, git's answer printed with a line that
 * is not key=value or a control character in its message, or git's input sent as anything but an
 * array of [key, value] pairs, fails it.
 *
 *   fuzz-answer SECONDS SEED
 */
#define AUTHD_NO_MAIN
#define AUTHD_TEST_FALLBACK
#include "../../src/native/authd-client.c"

static long long now_ms_fuzz(double plus_seconds) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (long long)(plus_seconds * 1000);
}

static uint64_t rng;
static uint64_t next(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return rng;
}

static const char *const SEEDS[] = {
  "{\"id\":1,\"result\":{\"access_token\":\"abc.DEF-_~+/==\",\"token_type\":\"Bearer\",\"expires_at\":1900000000,\"profile\":\"p\"}}",
  "{\"v\":1,\"id\":1,\"result\":{\"profile\":\"x\\ty\",\"token_type\":\"dP\\u00f6\\ud83d\\ude00\\\"\",\"access_token\":\"t\",\"expires_at\":null}}",
  " {\"result\" : {\"extra\":[1,-2.5e+3,{\"a\":[true,false,null]}],\"token_type\":\"DPoP\",\"access_token\":\"t\",\"profile\":\"p\"}, \"id\":1}\r",
  "{\"id\":1,\"error\":{\"code\":\"login_required\",\"message\":\"log in\",\"data\":{\"env\":\"X\"}}}",
  "{\"id\":1,\"result\":{\"access_token\":\"t\",\"token_type\":\"Bearer\",\"profile\":\"p\",\"scopes\":[\"a:b\",\"c\"]}}",
  "{\"v\":1,\"error\":{\"code\":\"secret_required\",\"message\":\"m\",\"hint\":\"h\\n\",\"code\":\"x\"},\"id\":1}",
  "{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"spec\":{\"interactive\":false}}",
  "{\"apiVersion\":\"\\u0063lient.authentication.k8s.io/v1\",\"apiVersion\":7}",
  "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
  "{\"id\":1,\"result\":{\"attrs\":[[\"username\",\"oauth2\"],[\"password\",\"tok\"]],\"message\":\"x\\u001b[31m y\\u2028z\\u0085\"}}",
  "{\"v\":1,\"id\":1,\"result\":{\"attrs\":[ ],\"message\":null}}",
  "{\"id\":1,\"result\":{\"message\":\"\\ufeff\\u200b\",\"attrs\":[[\"capability[]\",\"authtype\"],[\"password_expiry_utc\",\"1900000000\"]]}}",
  "{\"id\":1,\"result\":{\"attrs\":[[\"pass\\nword\",\"x\"],[\"quit\",\"1\\r\\n\"],[\"a[]\",\"\\u0000\"]]}}",
  "{\"id\":1,\"result\":{\"access_token\":\"t\",\"token_type\":\"Bearer\",\"profile\":\"p\",\"warning\":\"old\\u001b]52;c;eA==\\u0007\\n\\u2028key\"}}",
  "{\"id\":1,\"result\":{\"warning\":{\"x\":[null]},\"access_token\":\"t\",\"token_type\":\"Bearer\",\"profile\":\"p\"}}",
};
static const char *const GIT_INPUTS[] = {
  "protocol=https\nhost=github.com\npath=a/b.git\nusername=x\n\n",
  "capability[]=authtype\r\nprotocol=https\r\nhost=h\r\nwwwauth[]=Bearer realm=\"x\", error=\"invalid_token\"\r\n\r\nafter=1\n",
  "host=\xc3\xa9=\xe2\x80\xa8\n=bad\nnoequals\n\r\r\n",
  "\r\nprotocol=https\n",
  "a=b\"\\\x01\x7f\n",
};
static const char *const TOKENS[] = {"{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud800", "\\udc00", "null", "1", "-0",
  "1e999", "9007199254740993", "\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x00", "\n", " ", "\"access_token\"", "\"id\"", "\"v\"",
  "\"attrs\"", "\"message\"", "\"warning\"", "[\"k\",\"v\"]", "\\u0085", "\\u2029", "=", "\r\n", "\n\n", "[]"};

static char in[MAX_FRAME + 64];
static char text[MAX_FRAME + 64];
static struct token tok;
static char out[4 * MAX_FRAME + 512];
static char msg[MAX_FRAME + 2];
static char wline[MAX_FRAME + 64];

/* git's answer as printed: key=value lines with keys answerGit writes, no NUL or CR; a message
   without control characters. Only for an answer not marked broken. */
static int check_git_answer(const struct git_answer *g) {
  const char *p = g->lines.p, *end = g->lines.p + g->lines.len;
  if (!g->broken) {
    while (p < end) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      const char *eq = nl ? memchr(p, '=', (size_t)(nl - p)) : NULL;
      if (!nl || !eq || !git_key(p, (size_t)(eq - p)) || memchr(p, '\0', (size_t)(nl - p)) || memchr(p, '\r', (size_t)(nl - p))) {
        fprintf(stderr, "git's answer printed a line that is not key=value\n");
        return 0;
      }
      p = nl + 1;
    }
  }
  for (size_t i = 0; i < g->message.len; i++) {
    unsigned char c = (unsigned char)g->message.p[i];
    if (c < 0x20 || c == 0x7f) {
      fprintf(stderr, "git's message kept a control character\n");
      return 0;
    }
  }
  if (!valid_utf8(g->message.p, g->message.len)) {
    fprintf(stderr, "git's message is not UTF-8\n");
    return 0;
  }
  return 1;
}

/* git's input, as the helper sends it on: one JSON array of [string, string] pairs. */
static int check_git_input(size_t n) {
  long end = git_input_end(in, n);
  size_t content = end >= 0 ? (size_t)end : n;
  if (content > n) {
    fprintf(stderr, "git's input ends past what was read\n");
    return 0;
  }
  char *copy = malloc(content ? content : 1);
  memcpy(copy, in, content);
  struct buf b = {out, 0, sizeof out, 0};
  int ok = git_attrs_json(copy, content, &b);
  free(copy);
  if (!ok) return 1;
  struct json j = {b.p, b.p + b.len};
  if (b.len < 2 || b.p[0] != '[' || !json_skip(&j, 0) || j.p != j.end || memchr(b.p, '\n', b.len) || memchr(b.p, '\0', b.len)) {
    fprintf(stderr, "git's input was sent as something other than one JSON array\n");
    return 0;
  }
  return 1;
}

static void mutate(size_t *n) {
  int k = 1 + (int)(next() % 8);
  while (k--) {
    size_t at = *n ? next() % (*n + 1) : 0;
    switch (next() % 6) {
      case 0: if (*n) in[at % *n] ^= (char)(1u << (next() % 8)); break;
      case 1: if (*n) in[at % *n] = (char)next(); break;
      case 2: { /* insert a token */
        const char *t = TOKENS[next() % (sizeof TOKENS / sizeof *TOKENS)];
        size_t len = *t ? strlen(t) : 1;
        if (*n + len >= sizeof in) break;
        memmove(in + at + len, in + at, *n - at);
        memcpy(in + at, t, len);
        *n += len;
        break;
      }
      case 3: { /* delete a range */
        size_t len = next() % 8;
        if (at + len > *n) len = *n - at;
        memmove(in + at, in + at + len, *n - at - len);
        *n -= len;
        break;
      }
      case 4: { /* duplicate a range */
        size_t from = *n ? next() % *n : 0, len = next() % 64;
        if (from + len > *n) len = *n - from;
        char piece[64];
        if (*n + len >= sizeof in) break;
        memcpy(piece, in + from, len);
        memmove(in + at + len, in + at, *n - at);
        memcpy(in + at, piece, len);
        *n += len;
        break;
      }
      case 5: *n = at; break; /* truncate */
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fputs("usage: fuzz-answer SECONDS SEED\n", stderr);
    return 2;
  }
  (void)fallback, (void)write_all, (void)g_argv, (void)g_argc, (void)g_answer, (void)g_input, (void)g_input_len;
  double seconds = atof(argv[1]);
  rng = strtoull(argv[2], NULL, 10) | 1;
  long long end = now_ms_fuzz(seconds);
  unsigned long long runs = 0, accepted = 0, git_accepted = 0, git_inputs = 0;
  const size_t nseeds = sizeof SEEDS / sizeof *SEEDS;
  while (runs % 1024 || now_ms_fuzz(0) < end) {
    runs++;
    if (runs % 3 == 0) { /* git's input */
      const char *seed = GIT_INPUTS[next() % (sizeof GIT_INPUTS / sizeof *GIT_INPUTS)];
      size_t n = strlen(seed);
      memcpy(in, seed, n);
      if (runs % 4) mutate(&n);
      git_inputs++;
      if (!check_git_input(n)) return 1;
      continue;
    }
    const char *seed = SEEDS[next() % nseeds];
    size_t n = strlen(seed);
    memcpy(in, seed, n);
    if (runs % 4) mutate(&n);
    /* An exact-size copy, so that ASan sees any read past the end. */
    char *frame_copy = malloc(n ? n : 1);
    memcpy(frame_copy, in, n);
    struct envelope e;
    if (parse_envelope(frame_copy, n, &e) && e.result && read_token(e.result, e.result_len, &tok)) {
      accepted++;
      for (int f = F_TOKEN; f <= F_EXEC; f++) {
        struct buf b = {out, 0, sizeof out, 0};
        int ok = format_token(&tok, (enum format)f, f == F_EXEC ? EXEC_V1BETA1 : EXEC_V1, &b);
        if (!ok) continue;
        char *nl = memchr(b.p, '\n', b.len);
        if (nl != b.p + b.len - 1) {
          fprintf(stderr, "format %d printed a line break inside its output\n", f);
          return 1;
        }
        if (f == F_TOKEN && !bearer_token(b.p, b.len - 1)) {
          fprintf(stderr, "a token that is not a bearer token was printed\n");
          return 1;
        }
      }
      /* The warning: one line of printable text, or nothing. */
      struct buf w = {wline, 0, sizeof wline, 0};
      if (!warning_line(&tok, &w)) {
        fprintf(stderr, "a warning did not fit its line\n");
        return 1;
      }
      for (size_t i = 0; i < w.len; i++) {
        unsigned char c = (unsigned char)w.p[i];
        if ((c < 0x20 && !(c == '\n' && i == w.len - 1)) || c == 0x7f) {
          fprintf(stderr, "the warning printed a control character\n");
          return 1;
        }
      }
      if (!valid_utf8(w.p, w.len) || (w.len && w.p[w.len - 1] != '\n')) {
        fprintf(stderr, "the warning is not one line of UTF-8\n");
        return 1;
      }
    }
    if (parse_envelope(frame_copy, n, &e) && e.error) {
      /* What goes into AUTHD_NATIVE_ANSWER: one JSON object, inside the frame, no NUL (the frame, cut at
         its first line break, holds none; here JSON whitespace may). */
      if (e.result || e.error < frame_copy || e.error + e.error_len > frame_copy + n || e.error_len < 2 || e.error[0] != '{' ||
          e.error[e.error_len - 1] != '}' || memchr(e.error, '\0', e.error_len)) {
        fprintf(stderr, "an error answer's object is not one object\n");
        return 1;
      }
    }
    if (parse_envelope(frame_copy, n, &e) && e.result) {
      struct git_answer g = {{out, 0, sizeof out, 0}, {msg, 0, sizeof msg, 0}, 0, 0, 0, 0};
      if (read_git_answer(e.result, e.result_len, &g)) {
        git_accepted++;
        if (!check_git_answer(&g)) return 1;
      }
    }
    free(frame_copy);
    memcpy(text, in, n);
    text[n] = '\0';
    if (valid_utf8(text, strlen(text))) { /* as parse_args checks the variable first */
      volatile const char *v = exec_version(text);
      (void)v;
    }
  }
  printf("fuzzed the parsers: %llu inputs (%llu of git's), %llu token and %llu git answers accepted, seed %s\n", runs, git_inputs, accepted,
         git_accepted, argv[2]);
  return 0;
}
